// Copyright 2026 the Duplex authors. MIT license.
// Byte helpers shared by the codec and the root files: one name, one home.
// Internal: not exported from codec/mod.ts.
//
// This module is browser-compatible.

/** Joins byte arrays into a new one (always a copy, even of one part). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
