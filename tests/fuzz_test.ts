// Copyright 2026 the Duplex authors. MIT license.
// The codec, fuzzed on a short budget: valid traffic, traffic with a rule
// broken, mutated bytes and random bytes, each fed whole, a byte at a time
// and at random splits (see _fuzz.ts). Fixed seeds keep CI stable; one fresh
// seed per run widens the search, and is printed if it finds something.
// `deno task fuzz` runs the same cases for as long as asked.
import assert from "node:assert/strict";
import { fuzz, FuzzFailure, type FuzzOptions } from "./_fuzz.ts";
import { seed } from "./_util.ts";

/** Runs `fuzz` with each seed, naming the seed of a failure so that it can be replayed. */
function fuzzWith(seeds: number[], options: Omit<FuzzOptions, "seed">): void {
  for (const value of seeds) {
    try {
      fuzz({ ...options, seed: value });
    } catch (error) {
      const detail = error instanceof FuzzFailure ? `\n${error.reproduction}` : "";
      throw new Error(`failed with DUPLEX_SEED=${value}${detail}`, { cause: error });
    }
  }
}

Deno.test("FrameDecoder decodes valid, broken and random bytes the same at every split, failing only with ProtocolError", () => {
  fuzzWith([1, 0x5eed], { targets: ["frame"], iterations: 50 });
});

Deno.test("Protocol gives the same events and replies at every split, as client and server, with and without permessage-deflate", () => {
  fuzzWith([1, 0x5eed], { targets: ["protocol"], iterations: 35 });
});

Deno.test("HttpHeadReader, the head parsers and BodyDecoder give the same head, body or HandshakeError at every split", () => {
  fuzzWith([1, 0x5eed], { targets: ["http"], iterations: 80 });
});

Deno.test("the codec passes the fuzzer with a fresh seed (DUPLEX_SEED replays it)", () => {
  fuzzWith([seed()], { iterations: 60 });
});

Deno.test("a fuzzing seed replays the same cases", () => {
  const run = () => fuzz({ seed: 42, iterations: 12 });
  const first = run();
  const second = run();
  assert.deepEqual(second.byTarget, first.byTarget);
  assert.equal(second.feedings, first.feedings);
  assert.deepEqual(first.byTarget, { frame: 4, protocol: 4, http: 4 });
});
