// Copyright 2026 the Duplex authors. MIT license.
// A hub's broadcasts framed into one arena (codec/_arena.ts), and what
// FrameEncoder.encodeRaw does with runs of them: a long run is referenced,
// not copied, so many peers share one copy of a burst; a short one is
// copied, so it does not cost a write of its own; order always holds.
import assert from "node:assert/strict";
import { encodeFrame, FrameEncoder, Opcode } from "../codec/mod.ts";
import { FrameArena } from "../codec/_arena.ts";
import { concat } from "./_util.ts";

const ENCODER = new TextEncoder();

Deno.test("FrameArena frames each payload as encodeFrame does, back to back in one buffer", () => {
  const arena = new FrameArena();
  const sizes = [0, 1, 125, 126, 1000, 60_000];
  const frames = sizes.map((size) => arena.frame(Opcode.Binary, new Uint8Array(size).fill(7)));
  for (const [i, frame] of frames.entries()) {
    assert.deepEqual(frame, encodeFrame(Opcode.Binary, new Uint8Array(sizes[i]!).fill(7)));
    if (i > 0) {
      assert.ok(frame.buffer === frames[i - 1]!.buffer, `frame ${i} is in the same buffer`);
      assert.equal(frame.byteOffset, frames[i - 1]!.byteOffset + frames[i - 1]!.length);
    }
  }
  // Text frames too, and a frame past a quarter of a chunk gets a buffer of its own.
  assert.deepEqual(arena.frame(Opcode.Text, ENCODER.encode("hé")), encodeFrame(Opcode.Text, "hé"));
  const big = arena.frame(Opcode.Binary, new Uint8Array(100_000));
  assert.ok(big.buffer !== frames[0]!.buffer);
  assert.deepEqual(big, encodeFrame(Opcode.Binary, new Uint8Array(100_000)));
});

Deno.test("FrameArena starts a new chunk when a frame does not fit, and frames stay intact", () => {
  const arena = new FrameArena();
  const first = arena.frame(Opcode.Binary, new Uint8Array(60_000).fill(1));
  const frames = [first];
  for (let i = 0; i < 8; i++) {
    frames.push(arena.frame(Opcode.Binary, new Uint8Array(60_000).fill(i)));
  }
  const buffers = new Set(frames.map((frame) => frame.buffer));
  assert.ok(buffers.size >= 2, "more than 256 KiB of frames span chunks");
  for (let i = 1; i < frames.length; i++) {
    assert.equal(frames[i]![4], i - 1, "no frame was overwritten");
  }
  assert.equal(first[4], 1);
});

Deno.test("FrameEncoder references a long run of adjacent broadcasts, one chunk shared by every peer", () => {
  const arena = new FrameArena();
  const broadcasts = Array.from(
    { length: 2000 },
    (_, i) => arena.frame(Opcode.Text, ENCODER.encode(`message ${i}`)),
  );
  const peers = [new FrameEncoder({ role: "server" }), new FrameEncoder({ role: "server" })];
  for (const frame of broadcasts) for (const peer of peers) peer.encodeRaw(frame);
  const expected = concat(...broadcasts);
  const [a, b] = peers.map((peer) => {
    assert.equal(peer.pendingBytes, expected.length);
    return peer.take();
  });
  assert.deepEqual(concat(...a!), expected);
  assert.deepEqual(concat(...b!), expected);
  // Every chunk of both peers lies in the arena's buffer: nothing was copied per peer.
  for (const chunk of [...a!, ...b!]) assert.ok(chunk.buffer === broadcasts[0]!.buffer);
  assert.equal(a!.length, 1);
});

Deno.test("FrameEncoder copies a short run, so a lone broadcast among a peer's own frames is one write", () => {
  const arena = new FrameArena();
  const encoder = new FrameEncoder({ role: "server" });
  encoder.encodeText(Opcode.Text, "own 1");
  const shared = arena.frame(Opcode.Text, ENCODER.encode("to everyone"));
  encoder.encodeRaw(shared);
  encoder.encodeRaw(arena.frame(Opcode.Text, ENCODER.encode("and again")));
  encoder.encodeText(Opcode.Text, "own 2");
  const chunks = encoder.take();
  assert.equal(chunks.length, 1);
  assert.ok(chunks[0]!.buffer !== shared.buffer);
  assert.deepEqual(
    chunks[0],
    concat(
      encodeFrame(Opcode.Text, "own 1"),
      encodeFrame(Opcode.Text, "to everyone"),
      encodeFrame(Opcode.Text, "and again"),
      encodeFrame(Opcode.Text, "own 2"),
    ),
  );
});

Deno.test("FrameEncoder keeps order across runs, gaps, own frames and another buffer's frames", () => {
  const arena = new FrameArena();
  const other = new FrameArena();
  const encoder = new FrameEncoder({ role: "server" });
  const expected: Uint8Array[] = [];
  const raw = (frame: Uint8Array) => {
    encoder.encodeRaw(frame);
    expected.push(frame);
  };
  for (let i = 0; i < 3000; i++) {
    const frame = arena.frame(Opcode.Text, ENCODER.encode(`broadcast ${i}`));
    // Every 500th is not for this peer (a gap in the run).
    if (i % 500 !== 499) raw(frame);
    if (i % 700 === 0) {
      encoder.encodeText(Opcode.Text, `own ${i}`);
      expected.push(encodeFrame(Opcode.Text, `own ${i}`));
    }
    if (i % 900 === 0) raw(other.frame(Opcode.Binary, new Uint8Array([i & 255])));
  }
  assert.deepEqual(concat(...encoder.take()), concat(...expected));
  // discard() drops a run held back, like any other pending frame.
  encoder.encodeRaw(arena.frame(Opcode.Text, ENCODER.encode("dropped")));
  encoder.discard();
  assert.equal(encoder.pendingBytes, 0);
  assert.deepEqual(encoder.take(), []);
});
