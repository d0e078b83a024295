// Copyright 2026 the Duplex authors. MIT license.
import assert from "node:assert/strict";
import { generateMaskKey, mask } from "../codec/mod.ts";
import { maskRange, writeMaskKey } from "../codec/mask.ts";

// RFC 6455 §5.7: "A single-frame masked text message" uses this key.
const RFC_KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
// Four distinct bytes: any mix-up of key positions changes the output.
const KEY = new Uint8Array([0x01, 0x23, 0xc4, 0xf8]);

/** RFC 6455 §5.3, byte by byte: octet i is XORed with key[(position of i) mod 4]. */
function referenceMask(
  data: Uint8Array,
  start: number,
  end: number,
  key: Uint8Array,
  offset: number,
): void {
  for (let i = start; i < end; i++) data[i]! ^= key[(offset + i - start) % 4]!;
}

/** Deterministic, non-repeating-looking bytes (no randomness in tests). */
function pattern(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** The index of the first differing byte, or -1 if `a` and `b` are equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

Deno.test('mask unmasks the RFC 6455 §5.7 masked "Hello" with key 37 fa 21 3d', () => {
  const payload = new Uint8Array([0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  mask(payload, RFC_KEY);
  assert.deepEqual(payload, new Uint8Array([0x48, 0x65, 0x6c, 0x6c, 0x6f]));
  assert.equal(new TextDecoder().decode(payload), "Hello");
});

Deno.test('mask masks "Hello" into the RFC 6455 §5.7 frame payload', () => {
  const payload = new TextEncoder().encode("Hello");
  mask(payload, RFC_KEY);
  assert.deepEqual(payload, new Uint8Array([0x7f, 0x9f, 0x4d, 0x51, 0x58]));
});

Deno.test("mask applied twice with the same key and offset restores the input", () => {
  for (const length of [0, 1, 3, 4, 5, 31, 32, 33, 64, 1000, 4099]) {
    for (let offset = 0; offset < 8; offset++) {
      const original = pattern(length, length + 7);
      const data = original.slice();
      mask(data, KEY, offset);
      if (length >= 4) assert.notEqual(firstDifference(data, original), -1);
      mask(data, KEY, offset);
      assert.equal(firstDifference(data, original), -1, `length ${length}, offset ${offset}`);
    }
  }
});

Deno.test("mask agrees with a byte-wise reference for every length, offset and alignment, and touches only its view", () => {
  const lengths: number[] = [];
  for (let length = 0; length <= 100; length++) lengths.push(length);
  lengths.push(1023, 1024, 1025, 65536 + 3);
  const guard = 8; // bytes after the view that must stay untouched
  for (const length of lengths) {
    const source = pattern(8 + length + guard, length + 1);
    for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
      for (let offset = 0; offset < 8; offset++) {
        const buffer = source.slice();
        const expected = source.slice();
        referenceMask(expected, byteOffset, byteOffset + length, KEY, offset);
        const view = buffer.subarray(byteOffset, byteOffset + length);
        assert.equal(view.byteOffset, byteOffset);
        mask(view, KEY, offset);
        assert.equal(
          firstDifference(buffer, expected),
          -1,
          `length ${length}, byteOffset ${byteOffset}, offset ${offset}`,
        );
      }
    }
  }
});

Deno.test("mask agrees with the reference for views whose buffer starts at a non-zero byteOffset", () => {
  // A view of a view: the alignment that matters is the absolute address in
  // the ArrayBuffer, not the index within the outer view.
  const outer = new Uint8Array(new ArrayBuffer(300), 3, 290);
  outer.set(pattern(290, 99));
  const before = new Uint8Array(outer.buffer).slice();
  const expected = before.slice();
  referenceMask(expected, 3 + 2, 3 + 2 + 257, KEY, 1);
  mask(outer.subarray(2, 2 + 257), KEY, 1);
  assert.equal(firstDifference(new Uint8Array(outer.buffer), expected), -1);
});

Deno.test("mask continues a payload piece by piece when given each piece's offset", () => {
  const payload = pattern(1000, 5);
  const whole = payload.slice();
  mask(whole, KEY);
  for (const cut of [1, 2, 3, 4, 5, 33, 100, 513, 999]) {
    const pieces = payload.slice();
    mask(pieces.subarray(0, cut), KEY, 0);
    mask(pieces.subarray(cut), KEY, cut);
    assert.equal(firstDifference(pieces, whole), -1, `cut at ${cut}`);
  }
});

Deno.test("maskRange masks only data[start..end) and agrees with the reference", () => {
  const size = 200;
  for (const length of [0, 1, 2, 3, 4, 5, 31, 32, 33, 36, 100, 150]) {
    for (let start = 0; start < 8; start++) {
      for (let byteOffset = 0; byteOffset < 4; byteOffset++) {
        for (let offset = 0; offset < 8; offset++) {
          const source = pattern(size, length * 31 + start);
          const data = new Uint8Array(size + 8).subarray(byteOffset, byteOffset + size);
          data.set(source);
          const expected = source.slice();
          referenceMask(expected, start, start + length, KEY, offset);
          maskRange(data, start, start + length, KEY[0]!, KEY[1]!, KEY[2]!, KEY[3]!, offset);
          assert.equal(
            firstDifference(data, expected),
            -1,
            `length ${length}, start ${start}, byteOffset ${byteOffset}, offset ${offset}`,
          );
        }
      }
    }
  }
});

Deno.test("maskRange with start and end equal changes nothing", () => {
  const data = pattern(64, 3);
  const before = data.slice();
  maskRange(data, 10, 10, 0xff, 0xff, 0xff, 0xff, 0);
  assert.deepEqual(data, before);
});

Deno.test("mask throws a RangeError for a key that is not 4 bytes long and leaves the data alone", () => {
  for (const keyLength of [0, 1, 3, 5, 8]) {
    const data = pattern(40, 11);
    const before = data.slice();
    assert.throws(
      () => mask(data, new Uint8Array(keyLength).fill(0xaa)),
      (e) => e instanceof RangeError && e.message.includes(`got ${keyLength}`),
    );
    assert.deepEqual(data, before);
  }
});

Deno.test("mask with an all-zero key leaves the data unchanged", () => {
  const data = pattern(77, 13);
  const before = data.slice();
  mask(data, new Uint8Array(4), 3);
  assert.deepEqual(data, before);
});

Deno.test("generateMaskKey returns a new 4-byte Uint8Array each call", () => {
  const a = generateMaskKey();
  const b = generateMaskKey();
  assert.ok(a instanceof Uint8Array);
  assert.equal(a.length, 4);
  assert.equal(a.byteLength, 4);
  assert.equal(a.buffer.byteLength, 4); // owned, not a view of the pool
  assert.notEqual(a, b);
  assert.notEqual(a.buffer, b.buffer);
});

Deno.test("generateMaskKey gives varied keys across a pool refill (2,000 keys)", () => {
  // The pool holds 1,024 keys, so 2,000 calls cross at least one refill. A
  // refill that reused the old bytes would repeat keys; a missing refill
  // would give zeros. 2,000 random 32-bit keys collide with probability
  // well under 0.1%, so allow a few duplicates only.
  const seen = new Set<number>();
  let zeros = 0;
  for (let i = 0; i < 2000; i++) {
    const key = generateMaskKey();
    assert.equal(key.length, 4);
    const word = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
    if (word === 0) zeros++;
    seen.add(word);
  }
  assert.ok(seen.size >= 1990, `only ${seen.size} distinct keys out of 2000`);
  assert.ok(zeros <= 1, `${zeros} all-zero keys`);
});

Deno.test("writeMaskKey writes 4 bytes at the given offset and nothing else", () => {
  const sentinel = 0x5a;
  let changedInside = 0;
  for (let round = 0; round < 64; round++) {
    for (const offset of [0, 1, 5, 8]) {
      const target = new Uint8Array(12).fill(sentinel);
      writeMaskKey(target, offset);
      for (let i = 0; i < target.length; i++) {
        if (i >= offset && i < offset + 4) {
          if (target[i] !== sentinel) changedInside++;
        } else {
          assert.equal(target[i], sentinel, `byte ${i} changed for offset ${offset}`);
        }
      }
    }
  }
  // 64 × 4 × 4 random bytes: each equals the sentinel with probability 1/256.
  assert.ok(changedInside > 900, `only ${changedInside} of 1024 key bytes were written`);
});

Deno.test("writeMaskKey keys are usable by mask: masking with the written key twice restores data", () => {
  const header = new Uint8Array(6);
  writeMaskKey(header, 2);
  const key = header.subarray(2, 6);
  const original = pattern(100, 21);
  const data = original.slice();
  mask(data, key);
  const expected = original.slice();
  referenceMask(expected, 0, expected.length, key, 0);
  assert.deepEqual(data, expected);
  mask(data, key);
  assert.deepEqual(data, original);
});
