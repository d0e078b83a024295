// Copyright 2026 the Duplex authors. MIT license.
// Helpers shared by the byte-level tests.
import assert from "node:assert/strict";
import { type Frame, FrameDecoder, HandshakeError, type Protocol } from "../codec/mod.ts";

/** A small seeded PRNG (mulberry32), so that random tests can be replayed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for random tests: `DUPLEX_SEED` if set, else a fresh one (printed on failure). */
export function seed(): number {
  const fixed = Deno.env.get("DUPLEX_SEED");
  return fixed !== undefined ? Number(fixed) : Math.floor(Math.random() * 2 ** 32);
}

/** An integer in [min, max]. */
export function randomInt(next: () => number, min: number, max: number): number {
  return min + Math.floor(next() * (max - min + 1));
}

/** Random bytes from the seeded generator. */
export function randomBytes(next: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (next() * 256) | 0;
  return bytes;
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** Cuts bytes into random-sized pieces, each a fresh copy. */
export function chop(next: () => number, bytes: Uint8Array, maxPiece: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const size = randomInt(next, 1, maxPiece);
    pieces.push(bytes.slice(offset, offset + size));
    offset += size;
  }
  return pieces;
}

/** Runs `test` with a seed, naming the seed if it fails so the case can be replayed. */
export function withSeed(test: (next: () => number) => void): void {
  const value = seed();
  try {
    test(random(value));
  } catch (error) {
    throw new Error(`failed with DUPLEX_SEED=${value}`, { cause: error });
  }
}

/** Hex string to bytes: "81 05 48" → Uint8Array. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Asserts that `fn` throws a HandshakeError with this status and code, and returns it. */
export function assertHandshakeError(
  fn: () => unknown,
  status: number,
  code: string,
): HandshakeError {
  let caught: HandshakeError | undefined;
  assert.throws(fn, (error) => {
    assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    caught = error;
    return true;
  });
  return caught!;
}

/** Decodes what a protocol wants to send, as its peer would; RSV1 allowed when negotiated. */
export function framesSent(protocol: Protocol, allowRsv1 = false): Frame[] {
  const decoder = new FrameDecoder({
    role: protocol.role === "server" ? "client" : "server",
    allowRsv1,
  });
  const frames: Frame[] = [];
  for (const chunk of protocol.dataToSend()) {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame; frame = decoder.next()) {
      frames.push({ ...frame, payload: frame.payload.slice() });
    }
  }
  return frames;
}
