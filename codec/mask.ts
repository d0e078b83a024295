// Copyright 2026 the Duplex authors. MIT license.
/**
 * Masking (RFC 6455 §5.3): XOR of the payload with a 4-byte key, and the
 * random keys themselves.
 *
 * {@linkcode mask} works a 64-bit word at a time over the aligned middle of
 * the data and byte by byte at the ends, so it is correct for any offset and
 * length and fast for large payloads. Keys come from a pooled
 * `crypto.getRandomValues` buffer, so a key costs no system call.
 *
 * This module is browser-compatible.
 *
 * @module
 */

// Under this many bytes the word loop's setup costs more than it saves.
const WORD_THRESHOLD = 32;

// Scratch space for building key words: a 64-bit read of bytes written
// through a Uint8Array view gives the word in the platform's byte order, so
// the XOR below is correct on little- and big-endian machines alike.
const keyBytes = new Uint8Array(8);
const keyWord = new BigUint64Array(keyBytes.buffer);
// The current key, written once per call so indexing needs no branches.
const keyRing = new Uint8Array(4);

/**
 * Masks (or unmasks: the operation is its own inverse) `data` in place.
 *
 * @param data The bytes to mask. They are modified: pass only a buffer you own.
 * @param key The 4-byte masking key.
 * @param offset The position of `data[0]` in the masked payload, for masking a
 * payload piece by piece; only `offset % 4` matters.
 * @throws {RangeError} If `key` is not 4 bytes long.
 *
 * @example Unmasking the RFC 6455 §5.7 "Hello"
 * ```ts
 * import { mask } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const payload = new Uint8Array([0x7f, 0x9f, 0x4d, 0x51, 0x58]);
 * mask(payload, new Uint8Array([0x37, 0xfa, 0x21, 0x3d]));
 * assert.equal(new TextDecoder().decode(payload), "Hello");
 * ```
 */
export function mask(data: Uint8Array, key: Uint8Array, offset = 0): void {
  if (key.length !== 4) {
    throw new RangeError(`Cannot mask data: the key must be 4 bytes long, got ${key.length}`);
  }
  maskRange(data, 0, data.length, key[0]!, key[1]!, key[2]!, key[3]!, offset);
}

/**
 * Masks `data[start..end)` in place with the key given as four bytes, with
 * `data[start]` at position `offset` of the masked payload. The frame codec
 * uses this form: it keeps keys inside header buffers, and masks regions of
 * its own buffers without making a view per frame.
 */
export function maskRange(
  data: Uint8Array,
  start: number,
  end: number,
  k0: number,
  k1: number,
  k2: number,
  k3: number,
  offset: number,
): void {
  keyRing[0] = k0;
  keyRing[1] = k1;
  keyRing[2] = k2;
  keyRing[3] = k3;
  // Rotate so that index i uses key[(i + s) % 4].
  const s = (offset - start) & 3;
  if (end - start < WORD_THRESHOLD) {
    for (let i = start; i < end; i++) data[i]! ^= keyRing[(i + s) & 3]!;
    return;
  }
  // Byte-wise up to the first 8-aligned address, then 64-bit words: V8
  // compiles BigUint64Array XOR to plain 64-bit operations, faster than
  // 32-bit words from 1 KiB up (bench/codec_bench.ts; bench/RESULTS.md).
  const alignedStart = start + ((8 - ((data.byteOffset + start) & 7)) & 7);
  for (let i = start; i < alignedStart; i++) data[i]! ^= keyRing[(i + s) & 3]!;
  // The key as it lines up with the aligned words: byte j of each word is
  // masked with key[(alignedStart + j + s) % 4].
  const r = alignedStart + s;
  for (let j = 0; j < 8; j++) keyBytes[j] = keyRing[(r + j) & 3]!;
  const word = keyWord[0]!;
  const words = (end - alignedStart) >>> 3;
  const view = new BigUint64Array(data.buffer, data.byteOffset + alignedStart, words);
  for (let i = 0; i < words; i++) view[i]! ^= word;
  // Byte-wise tail.
  for (let i = alignedStart + (words << 3); i < end; i++) data[i]! ^= keyRing[(i + s) & 3]!;
}

// 1,024 keys per refill: one getRandomValues call serves many frames.
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

/**
 * Writes a fresh random 4-byte masking key into `target` at `offset`, taken
 * from a pooled `crypto.getRandomValues` buffer that is refilled when used
 * up. Frame encoders call this to put the key straight into a header.
 *
 * @param target Where to write the key.
 * @param offset The index of the key's first byte in `target`.
 */
export function writeMaskKey(target: Uint8Array, offset: number): void {
  if (poolOffset >= POOL_SIZE) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const p = poolOffset;
  target[offset] = pool[p]!;
  target[offset + 1] = pool[p + 1]!;
  target[offset + 2] = pool[p + 2]!;
  target[offset + 3] = pool[p + 3]!;
  poolOffset = p + 4;
}

/**
 * Returns a fresh random masking key (RFC 6455 §5.3: "derived from a strong
 * source of entropy"), taken from a pooled `crypto.getRandomValues` buffer.
 *
 * @returns A new 4-byte array the caller owns.
 *
 * @example
 * ```ts
 * import { generateMaskKey } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(generateMaskKey().length, 4);
 * ```
 */
export function generateMaskKey(): Uint8Array {
  const key = new Uint8Array(4);
  writeMaskKey(key, 0);
  return key;
}
