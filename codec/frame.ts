// Copyright 2026 the Duplex authors. MIT license.
/**
 * Frames (RFC 6455 §5): opcodes, the frame types, and encoding.
 *
 * - {@linkcode encodeFrame} builds one frame in a new buffer: simple, for
 *   one-off frames and tests.
 * - {@linkcode FrameEncoder} appends frames to pooled buffers and hands them
 *   out in as few chunks as possible: small frames are coalesced, large
 *   payloads are referenced rather than copied. Connections use it.
 * - `FrameDecoder` (frame_decoder.ts) turns bytes back into frames.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { maskRange, writeMaskKey } from "./mask.ts";
import { encodeUtf8, encodeUtf8Into } from "./utf8.ts";
import { checkRole } from "./_validate.ts";

/**
 * Frame opcodes (RFC 6455 §5.2, §11.8). 3–7 and 11–15 are reserved.
 *
 * @example
 * ```ts
 * import { Opcode } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(Opcode.Ping, 0x9);
 * ```
 */
export const Opcode = {
  /** 0x0: a continuation of a fragmented message. */
  Continuation: 0x0,
  /** 0x1: a text frame (UTF-8). */
  Text: 0x1,
  /** 0x2: a binary frame. */
  Binary: 0x2,
  /** 0x8: a close frame. */
  Close: 0x8,
  /** 0x9: a ping. */
  Ping: 0x9,
  /** 0xA: a pong. */
  Pong: 0xa,
} as const;

/** One of the defined opcodes. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/**
 * Which end of the connection a codec object serves. It decides masking: a
 * client masks every frame it sends and requires unmasked frames from the
 * server; a server does the reverse (RFC 6455 §5.1).
 */
export type Role = "client" | "server";

/** A decoded frame. */
export interface Frame {
  /** Whether this is the final fragment of its message. */
  fin: boolean;
  /** RSV1: set by an extension such as permessage-deflate. */
  rsv1: boolean;
  /** RSV2: reserved for extensions. */
  rsv2: boolean;
  /** RSV3: reserved for extensions. */
  rsv3: boolean;
  /** The opcode. */
  opcode: Opcode;
  /** The unmasked payload. */
  payload: Uint8Array;
}

/** The default limit on a message's size: 64 MiB, as Deno's native WebSocket. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/**
 * The default limit on frames per message. Generous enough for a 4 MiB
 * message in 64-byte fragments; it exists to stop an endless stream of empty
 * continuation frames, which no byte limit would.
 */
export const DEFAULT_MAX_FRAGMENTS = 100_000;

// RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".

function headerLength(payloadLength: number, masked: boolean): number {
  return (payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a frame header into `target` at `at`, including a fresh pooled mask
 * key when `masked`; returns the header's length.
 */
function writeHeader(
  target: Uint8Array,
  at: number,
  opcode: number,
  length: number,
  fin: boolean,
  rsv: number,
  masked: boolean,
): number {
  target[at] = (fin ? 0x80 : 0) | rsv | opcode;
  const m = masked ? 0x80 : 0;
  let p = at + 2;
  if (length < 126) {
    target[at + 1] = m | length;
  } else if (length < 65536) {
    target[at + 1] = m | 126;
    target[p++] = length >>> 8;
    target[p++] = length & 0xff;
  } else {
    // RFC 6455 §5.2: the minimal number of bytes MUST be used for the length.
    target[at + 1] = m | 127;
    const high = Math.floor(length / 0x100000000);
    target[p++] = high >>> 24;
    target[p++] = (high >>> 16) & 0xff;
    target[p++] = (high >>> 8) & 0xff;
    target[p++] = high & 0xff;
    target[p++] = length >>> 24;
    target[p++] = (length >>> 16) & 0xff;
    target[p++] = (length >>> 8) & 0xff;
    target[p++] = length & 0xff;
  }
  if (masked) {
    writeMaskKey(target, p);
    p += 4;
  }
  return p - at;
}

/** Masks `target[start..end)` with the key stored just before `keyAt + 4`. */
function maskWithKeyAt(target: Uint8Array, keyAt: number, start: number, end: number): void {
  maskRange(
    target,
    start,
    end,
    target[keyAt]!,
    target[keyAt + 1]!,
    target[keyAt + 2]!,
    target[keyAt + 3]!,
    0,
  );
}

/** Options for {@linkcode encodeFrame}. */
export interface EncodeFrameOptions {
  /** Whether this is the final fragment of its message. Default `true`. */
  fin?: boolean;
  /** Set RSV1 (an extension's bit). Default `false`. */
  rsv1?: boolean;
  /** Set RSV2. Default `false`. */
  rsv2?: boolean;
  /** Set RSV3. Default `false`. */
  rsv3?: boolean;
  /**
   * Mask the frame: `true` with a fresh random key (what a client must do),
   * or with the given 4-byte key (for tests and fixtures). Default `false`.
   */
  mask?: boolean | Uint8Array;
}

/**
 * The flags of a frame a {@linkcode FrameEncoder} appends: `fin` (default
 * `true`) and `rsv1` (default `false`, the permessage-deflate bit).
 */
export type FrameFlags = Pick<EncodeFrameOptions, "fin" | "rsv1">;

// The flags of a whole, uncompressed message: the default, shared.
const FINAL: FrameFlags = Object.freeze({ fin: true });

/**
 * Encodes one frame into a new buffer. The payload is copied, never
 * modified. It writes exactly what it is asked to, including frames a peer
 * will reject (a fragmented ping, a reserved opcode): {@linkcode Protocol}
 * is the layer that keeps to the rules.
 *
 * @param opcode The opcode, 0–15.
 * @param payload The payload; a string is encoded as UTF-8.
 * @param options Fin, reserved bits and masking.
 * @returns The frame's bytes.
 * @throws {RangeError} If the opcode or the mask key is out of range.
 *
 * @example The RFC 6455 §5.7 masked "Hello"
 * ```ts
 * import { encodeFrame, Opcode } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const frame = encodeFrame(Opcode.Text, "Hello", { mask: new Uint8Array([0x37, 0xfa, 0x21, 0x3d]) });
 * assert.deepEqual(
 *   frame,
 *   new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]),
 * );
 * ```
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array | string,
  options: EncodeFrameOptions = {},
): Uint8Array {
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 15) {
    throw new RangeError(`Cannot encode frame: opcode ${opcode} is not in 0-15`);
  }
  const data = typeof payload === "string" ? encodeUtf8(payload) : payload;
  const key = options.mask;
  if (key instanceof Uint8Array && key.length !== 4) {
    throw new RangeError(
      `Cannot encode frame: the mask key must be 4 bytes long, got ${key.length}`,
    );
  }
  const masked = key !== undefined && key !== false;
  const length = data.length;
  const frame = new Uint8Array(headerLength(length, masked) + length);
  const rsv = (options.rsv1 ? 0x40 : 0) | (options.rsv2 ? 0x20 : 0) | (options.rsv3 ? 0x10 : 0);
  const size = writeHeader(frame, 0, opcode, length, options.fin ?? true, rsv, masked);
  if (key instanceof Uint8Array) frame.set(key, size - 4);
  frame.set(data, size);
  if (masked) maskWithKeyAt(frame, size - 4, size, size + length);
  return frame;
}

// FrameEncoder buffers, in three sizes: a batch starts in a tiny one (most
// flushes are a few hundred bytes), moves into a small one when it outgrows
// it (one 2 KiB copy, and the batch stays one write), and frames up to
// COPY_LIMIT go into large ones. A connection holds them only while it has
// output in flight, so an idle connection holds none; freed ones wait in
// pools, so the hot path does not allocate. With 1,000 connections writing
// at once, 16 KiB each was 16 MiB in flight and constant reallocation.
const TINY_BUFFER = 2 * 1024;
const SMALL_BUFFER = 16 * 1024;
const LARGE_BUFFER = 256 * 1024 + 16;
// Payloads up to this size are copied next to their header (and masked, for
// a client) so that each batch of frames is one write: without writev, a
// separate header write costs a system call and a TCP segment, which outweigh
// the copy (see "Design measurements" in bench/RESULTS.md). A server sends
// larger payloads by reference.
const COPY_LIMIT = 256 * 1024;
// Pre-encoded frames (a broadcast shared by many connections) are copied only
// when small; larger ones are shared by reference.
const RAW_COPY_LIMIT = SMALL_BUFFER - 14;
// Pre-encoded frames that lie one after the other in one buffer (a
// FrameArena's: a hub's broadcasts of one turn) are written from it by
// reference once they add up to more than this; fewer bytes are copied, so
// that a lone broadcast among other frames does not cost a write of its own.
const SHARED_COPY_LIMIT = SMALL_BUFFER;
const tinyPool: Uint8Array[] = [];
const smallPool: Uint8Array[] = [];
const largePool: Uint8Array[] = [];
const MAX_TINY_POOLED = 1024;
const MAX_SMALL_POOLED = 64;
const MAX_LARGE_POOLED = 16;
// What take() returns when there is nothing to send; never modified.
const NO_CHUNKS: Uint8Array[] = [];

/** Options for {@linkcode FrameEncoder}. */
export interface FrameEncoderOptions {
  /** The side the encoder runs on; a client masks every frame. */
  role: Role;
}

/**
 * Encodes frames for a connection, coalescing them into as few chunks as
 * possible so that they can be written with as few system calls as
 * possible.
 *
 * Frames up to about 16 KiB are copied (and masked, for a client) into
 * pooled 16 KiB buffers, one after the other. A larger payload is not copied
 * by a server: the chunk list refers to it, so it must not be modified until
 * written. {@linkcode FrameEncoder.take} hands out the chunks encoded so
 * far; they stay valid until the next call to `take()`, which returns their
 * buffers to the pool. A writer that writes each batch before taking the
 * next therefore needs no copies and no allocations.
 *
 * @example Two frames, one write
 * ```ts
 * import { FrameEncoder, Opcode } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const encoder = new FrameEncoder({ role: "server" });
 * encoder.encodeText(Opcode.Text, "Hel", { fin: false });
 * encoder.encodeText(Opcode.Continuation, "lo");
 * const chunks = encoder.take();
 * assert.equal(chunks.length, 1);
 * assert.deepEqual(chunks[0], new Uint8Array([0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]));
 * ```
 */
export class FrameEncoder {
  #masked: boolean;
  // The buffer being filled, and the bounds of its part not yet in #chunks.
  #buffer: Uint8Array | null = null;
  #start = 0;
  #end = 0;
  // The arrays below are made on first use and dropped when the encoder is
  // idle, so that an idle connection holds nothing here.
  #chunks: Uint8Array[] | null = null;
  #pendingBytes = 0;
  // Pool buffers that #chunks refer to, and those the last take() handed out.
  #owned: Uint8Array[] | null = null;
  #inFlight: Uint8Array[] | null = null;
  // The array returned by the previous take(), reused for the next batch.
  #spare: Uint8Array[] | null = null;
  // Pre-encoded frames not yet copied or referenced: the first, and where
  // the run of frames adjacent to it in its buffer ends (see encodeRaw).
  #run: Uint8Array | null = null;
  #runEnd = 0;

  /**
   * Creates an encoder.
   *
   * @param options The role, which decides masking.
   */
  constructor(options: FrameEncoderOptions) {
    this.#masked = checkRole(options.role, "encoder") === "client";
  }

  /** The number of encoded bytes waiting for {@linkcode FrameEncoder.take}. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Appends a frame.
   *
   * @param opcode The opcode.
   * @param payload The payload. It is never modified; a server keeps a
   * reference to a large payload until it is written.
   * @param flags `fin` (default `true`) and `rsv1` (default `false`).
   */
  encode(opcode: Opcode, payload: Uint8Array, flags: FrameFlags = FINAL): void {
    if (this.#run !== null) this.#endRun();
    const masked = this.#masked;
    const length = payload.length;
    const size = headerLength(length, masked) + length;
    const fin = flags.fin ?? true;
    const rsv = flags.rsv1 ? 0x40 : 0;
    if (length <= COPY_LIMIT) {
      const at = this.#reserve(size);
      const buffer = this.#buffer!;
      const payloadAt = at + writeHeader(buffer, at, opcode, length, fin, rsv, masked);
      buffer.set(payload, payloadAt);
      if (masked) maskWithKeyAt(buffer, payloadAt - 4, payloadAt, payloadAt + length);
      this.#end = payloadAt + length;
    } else if (!masked) {
      // A server's large payload goes out as it is: header in the buffer,
      // payload by reference.
      const at = this.#reserve(10);
      this.#end = at + writeHeader(this.#buffer!, at, opcode, length, fin, rsv, false);
      this.#seal();
      (this.#chunks ??= []).push(payload);
    } else {
      // A client must copy to mask: one buffer for header and masked payload.
      const frame = new Uint8Array(size);
      const payloadAt = writeHeader(frame, 0, opcode, length, fin, rsv, true);
      frame.set(payload, payloadAt);
      maskWithKeyAt(frame, payloadAt - 4, payloadAt, size);
      this.#seal();
      (this.#chunks ??= []).push(frame);
    }
    this.#pendingBytes += size;
  }

  /**
   * Appends a frame whose payload is `text` encoded as UTF-8, encoding it
   * straight into the output buffer when it fits.
   *
   * @param opcode `Opcode.Text` or `Opcode.Continuation` (or a control
   * opcode, for a text payload).
   * @param text The text.
   * @param flags `fin` (default `true`) and `rsv1` (default `false`).
   */
  encodeText(opcode: Opcode, text: string, flags: FrameFlags = FINAL): void {
    if (this.#run !== null) this.#endRun();
    const maxBytes = text.length * 3;
    const fin = flags.fin ?? true;
    const rsv = flags.rsv1 ? 0x40 : 0;
    if (maxBytes > COPY_LIMIT) {
      const bytes = encodeUtf8(text);
      if (this.#masked && bytes.length > COPY_LIMIT) {
        // We own these bytes: mask them in place rather than copying.
        this.#encodeOwned(opcode, bytes, fin, rsv);
      } else {
        this.encode(opcode, bytes, flags);
      }
      return;
    }
    const masked = this.#masked;
    // Leave room for the header the upper bound needs; if the text turns out
    // shorter and needs a shorter length field, move it back (RFC 6455 §5.2:
    // the length must use the minimal number of bytes).
    const guess = headerLength(maxBytes, masked);
    const at = this.#reserve(guess + maxBytes);
    const buffer = this.#buffer!;
    let payloadAt = at + guess;
    const length = encodeUtf8Into(text, buffer, payloadAt);
    const shorter = guess - headerLength(length, masked);
    if (shorter > 0) {
      buffer.copyWithin(payloadAt - shorter, payloadAt, payloadAt + length);
      payloadAt -= shorter;
    }
    writeHeader(buffer, at, opcode, length, fin, rsv, masked);
    if (masked) maskWithKeyAt(buffer, payloadAt - 4, payloadAt, payloadAt + length);
    this.#end = payloadAt + length;
    this.#pendingBytes += payloadAt + length - at;
  }

  /**
   * Appends bytes that are already one or more complete frames, such as a
   * broadcast framed once for many connections. They are referenced, not
   * copied, when large; so are small frames that lie one after the other in
   * the same buffer (a hub's broadcasts, framed into one arena), once their
   * run adds up to more than 16 KiB: a thousand peers then share one copy of
   * a burst instead of holding one each.
   *
   * @param frames The encoded frames; not modified, and referenced until
   * written.
   */
  encodeRaw(frames: Uint8Array): void {
    const length = frames.length;
    this.#pendingBytes += length;
    const run = this.#run;
    if (run !== null) {
      // byteOffset first: reading .buffer of a small array can cost an allocation.
      if (frames.byteOffset === this.#runEnd && frames.buffer === run.buffer) {
        this.#runEnd += length;
        return;
      }
      this.#endRun();
    }
    if (length <= RAW_COPY_LIMIT) {
      // Held back: the frames that follow may lie right after it.
      this.#run = frames;
      this.#runEnd = frames.byteOffset + length;
    } else {
      this.#seal();
      (this.#chunks ??= []).push(frames);
    }
  }

  /** Copies or references the run of pre-encoded frames held back by encodeRaw. */
  #endRun(): void {
    const first = this.#run!;
    this.#run = null;
    const start = first.byteOffset;
    const length = this.#runEnd - start;
    const frames = length === first.length ? first : new Uint8Array(first.buffer, start, length);
    if (length <= SHARED_COPY_LIMIT) {
      const at = this.#reserve(length);
      this.#buffer!.set(frames, at);
      this.#end = at + length;
    } else {
      this.#seal();
      (this.#chunks ??= []).push(frames);
    }
  }

  /**
   * Hands out the chunks encoded since the last call, in order, and takes
   * back the buffers that the last call handed out: write each batch before
   * taking the next. Calling it with nothing pending releases every buffer.
   *
   * @returns The chunks to write, valid until the next call.
   */
  take(): Uint8Array[] {
    if (this.#run !== null) this.#endRun();
    this.#seal();
    // The previous batch has been written: its buffers go back to the pool.
    const written = this.#inFlight;
    if (written !== null) {
      for (const buffer of written) release(buffer);
      written.length = 0;
    }
    this.#inFlight = this.#owned;
    this.#owned = written;
    this.#buffer = null;
    this.#pendingBytes = 0;
    const chunks = this.#chunks;
    if (chunks === null || chunks.length === 0) {
      // Idle: hold nothing.
      this.#chunks =
        this.#spare =
        this.#owned =
        this.#inFlight =
          null;
      return NO_CHUNKS;
    }
    const spare = this.#spare;
    if (spare !== null) spare.length = 0;
    this.#chunks = spare;
    this.#spare = chunks;
    return chunks;
  }

  /**
   * Drops every frame encoded since the last {@linkcode FrameEncoder.take};
   * the batch that call handed out stays valid. For a connection closed
   * because its peer does not read: its close frame need not wait behind
   * bytes that will never be read.
   */
  discard(): void {
    const owned = this.#owned;
    if (owned !== null) {
      for (const buffer of owned) release(buffer);
      owned.length = 0;
    }
    this.#buffer = null;
    this.#start = 0;
    this.#end = 0;
    this.#run = null;
    if (this.#chunks !== null) this.#chunks.length = 0;
    this.#pendingBytes = 0;
  }

  #encodeOwned(opcode: Opcode, payload: Uint8Array, fin: boolean, rsv: number): void {
    if (this.#run !== null) this.#endRun();
    const length = payload.length;
    const header = new Uint8Array(14);
    const size = writeHeader(header, 0, opcode, length, fin, rsv, true);
    maskRange(
      payload,
      0,
      length,
      header[size - 4]!,
      header[size - 3]!,
      header[size - 2]!,
      header[size - 1]!,
      0,
    );
    const at = this.#reserve(size);
    this.#buffer!.set(header.subarray(0, size), at);
    this.#end = at + size;
    this.#seal();
    (this.#chunks ??= []).push(payload);
    this.#pendingBytes += size + length;
  }

  /** Makes room for `size` bytes in the current buffer; returns where they go. */
  #reserve(size: number): number {
    const current = this.#buffer;
    if (current !== null && this.#end + size <= current.length) return this.#end;
    if (
      current !== null && current.length === TINY_BUFFER && this.#start === 0 &&
      this.#end + size <= SMALL_BUFFER
    ) {
      // The batch outgrew its tiny buffer: carry it over into a small one,
      // so that it stays one contiguous write.
      const bigger = smallPool.pop() ?? new Uint8Array(SMALL_BUFFER);
      bigger.set(current.subarray(0, this.#end));
      const owned = this.#owned!;
      owned[owned.length - 1] = bigger;
      release(current);
      this.#buffer = bigger;
      return this.#end;
    }
    this.#seal();
    const buffer = current === null && size <= TINY_BUFFER
      ? tinyPool.pop() ?? new Uint8Array(TINY_BUFFER)
      : size <= SMALL_BUFFER
      ? smallPool.pop() ?? new Uint8Array(SMALL_BUFFER)
      : largePool.pop() ?? new Uint8Array(LARGE_BUFFER);
    (this.#owned ??= []).push(buffer);
    this.#buffer = buffer;
    this.#start = 0;
    this.#end = 0;
    return 0;
  }

  /** Moves the filled part of the current buffer into the chunk list. */
  #seal(): void {
    if (this.#buffer !== null && this.#end > this.#start) {
      (this.#chunks ??= []).push(this.#buffer.subarray(this.#start, this.#end));
      this.#start = this.#end;
    }
  }
}

/** Returns a FrameEncoder buffer to its pool, if the pool has room. */
function release(buffer: Uint8Array): void {
  const size = buffer.length;
  if (size === TINY_BUFFER) {
    if (tinyPool.length < MAX_TINY_POOLED) tinyPool.push(buffer);
  } else if (size === SMALL_BUFFER) {
    if (smallPool.length < MAX_SMALL_POOLED) smallPool.push(buffer);
  } else if (largePool.length < MAX_LARGE_POOLED) {
    largePool.push(buffer);
  }
}
