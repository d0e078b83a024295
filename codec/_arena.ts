// Copyright 2026 the Duplex authors. MIT license.
/**
 * Internal: where a hub frames its broadcasts, one after the other, so that
 * a peer's run of broadcasts is one range of one buffer, written by
 * reference (`FrameEncoder.encodeRaw`) rather than copied once per peer.
 *
 * @module
 */

import { encodeFrame, type Opcode } from "./frame.ts";

// A chunk is allocated when the last one is full and dropped once nothing
// refers to its frames any more (the peers have written them). Frames past a
// quarter of a chunk get a buffer of their own: they are referenced anyway.
const CHUNK = 256 * 1024;
const MAX_FRAME = CHUNK / 4;

/** Frames encoded back to back into shared, append-only buffers. */
export class FrameArena {
  #chunk: Uint8Array | null = null;
  #used = 0;

  /**
   * Encodes an unmasked, final, uncompressed frame into the arena.
   *
   * @param opcode The opcode.
   * @param payload The payload.
   * @returns The frame: never modified by anyone, adjacent to the frame encoded before it when both fit one chunk.
   */
  frame(opcode: Opcode, payload: Uint8Array): Uint8Array {
    const length = payload.length;
    const size = (length < 126 ? 2 : length < 65536 ? 4 : 10) + length;
    if (size > MAX_FRAME) return encodeFrame(opcode, payload);
    let chunk = this.#chunk;
    if (chunk === null || this.#used + size > CHUNK) {
      this.#chunk = chunk = new Uint8Array(CHUNK);
      this.#used = 0;
    }
    const at = this.#used;
    chunk[at] = 0x80 | opcode;
    let payloadAt = at + 2;
    if (length < 126) {
      chunk[at + 1] = length;
    } else {
      chunk[at + 1] = 126;
      chunk[at + 2] = length >>> 8;
      chunk[at + 3] = length & 0xff;
      payloadAt = at + 4;
    }
    chunk.set(payload, payloadAt);
    this.#used = at + size;
    return chunk.subarray(at, at + size);
  }
}
