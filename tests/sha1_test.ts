// Copyright 2026 the Duplex authors. MIT license.
import assert from "node:assert/strict";
import { sha1 } from "../codec/sha1.ts";
import { acceptKey, acceptKeySync } from "../codec/mod.ts";
import { randomBytes, withSeed } from "./_util.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("sha1 gives the FIPS 180-4 test vectors", () => {
  const cases: [string, string][] = [
    ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
    ["abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
    [
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    ],
  ];
  for (const [input, digest] of cases) {
    assert.equal(hex(sha1(new TextEncoder().encode(input))), digest);
  }
});

Deno.test("sha1 agrees with Web Crypto at every length around the padding boundaries", async () => {
  for (let length = 0; length <= 200; length++) {
    const data = new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);
    const expected = new Uint8Array(await crypto.subtle.digest("SHA-1", data));
    assert.deepEqual(sha1(data), expected, `length ${length}`);
  }
});

Deno.test("sha1 agrees with Web Crypto on random inputs", async () => {
  const inputs: Uint8Array[] = [];
  withSeed((next) => {
    for (let i = 0; i < 50; i++) inputs.push(randomBytes(next, Math.floor(next() * 5000)));
  });
  for (const data of inputs) {
    const expected = await crypto.subtle.digest("SHA-1", data as Uint8Array<ArrayBuffer>);
    assert.deepEqual(sha1(data), new Uint8Array(expected));
  }
});

Deno.test("acceptKey and acceptKeySync give the RFC 6455 §1.3 value", async () => {
  assert.equal(acceptKeySync("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert.equal(await acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});
