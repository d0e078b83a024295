// Copyright 2026 the Duplex authors. MIT license.
/**
 * Frames (RFC 6455 §5): opcodes, encoding and streaming decoding.
 *
 * - {@linkcode encodeFrame} builds one frame in a new buffer: simple, for
 *   one-off frames and tests.
 * - {@linkcode FrameEncoder} appends frames to pooled buffers and hands them
 *   out in as few chunks as possible: small frames are coalesced, large
 *   payloads are referenced rather than copied. Connections use it.
 * - {@linkcode FrameDecoder} turns arbitrary chunks of bytes into frames,
 *   enforcing every framing rule and size limit as soon as the bytes that
 *   break it arrive, before anything is allocated for the payload.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { positiveLimit } from "./_validate.ts";
import { CloseCode } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import { maskRange, writeMaskKey } from "./mask.ts";
import { encodeUtf8, encodeUtf8Into } from "./utf8.ts";

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
const MAX_CONTROL_PAYLOAD = 125;
// 2^53 - 1 is the largest length a JavaScript number holds exactly.
const MAX_SAFE_HIGH_WORD = 0x1fffff;

const EMPTY = new Uint8Array(0);

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
// the copy (64 KiB: ~4 µs). A server sends larger payloads by reference.
const COPY_LIMIT = 256 * 1024;
// Pre-encoded frames (a broadcast shared by many connections) are copied only
// when small; larger ones are shared by reference.
const RAW_COPY_LIMIT = SMALL_BUFFER - 14;
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

  /**
   * Creates an encoder.
   *
   * @param options The role, which decides masking.
   */
  constructor(options: FrameEncoderOptions) {
    this.#masked = options.role === "client";
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
   * copied, when large.
   *
   * @param frames The encoded frames; not modified.
   */
  encodeRaw(frames: Uint8Array): void {
    const length = frames.length;
    if (length <= RAW_COPY_LIMIT) {
      const at = this.#reserve(length);
      this.#buffer!.set(frames, at);
      this.#end = at + length;
    } else {
      this.#seal();
      (this.#chunks ??= []).push(frames);
    }
    this.#pendingBytes += length;
  }

  /**
   * Hands out the chunks encoded since the last call, in order, and takes
   * back the buffers that the last call handed out: write each batch before
   * taking the next. Calling it with nothing pending releases every buffer.
   *
   * @returns The chunks to write, valid until the next call.
   */
  take(): Uint8Array[] {
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

  #encodeOwned(opcode: Opcode, payload: Uint8Array, fin: boolean, rsv: number): void {
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

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * The side the decoder runs on. A server requires masked frames, a client
   * requires unmasked ones (RFC 6455 §5.1); either violation is a 1002.
   */
  role: Role;
  /**
   * The largest message, in bytes, summed over its fragments; a frame that
   * would exceed it fails with 1009 as soon as its header is read.
   * Default {@linkcode DEFAULT_MAX_MESSAGE_SIZE} (64 MiB).
   */
  maxMessageSize?: number;
  /** The largest single frame payload, in bytes. Default: `maxMessageSize`. */
  maxFrameSize?: number;
  /**
   * The most frames one message may have; more fails with 1008.
   * Default {@linkcode DEFAULT_MAX_FRAGMENTS}.
   */
  maxFragments?: number;
  /**
   * Accept RSV1 on the first frame of a data message, as a negotiated
   * permessage-deflate extension requires (RFC 7692 §6). Default `false`.
   */
  allowRsv1?: boolean;
}

/** The part of a frame received so far; see {@linkcode FrameDecoder.partial}. */
export interface PartialFrame {
  /** The frame's opcode. */
  opcode: Opcode;
  /** RSV1: the message is compressed (permessage-deflate), so its bytes are not text yet. */
  rsv1: boolean;
  /** Whether the frame is the final fragment of its message. */
  fin: boolean;
  /** The full payload length announced by the header. */
  length: number;
  /** The unmasked payload bytes received so far. */
  payload: Uint8Array;
}

// Payloads that span chunks are gathered in a buffer that starts at this size
// (or the payload's, if smaller) and doubles as bytes arrive, so a header
// announcing a huge frame costs at most this much until the bytes follow,
// while frames up to 1 MiB are gathered without regrowing.
const GATHER_START = 1024 * 1024;

function fail(code: string, closeCode: number, message: string): never {
  throw new ProtocolError(code, closeCode, `Cannot decode frame: ${message}`);
}

/**
 * A streaming frame decoder: {@linkcode FrameDecoder.push} chunks of any
 * size, then call {@linkcode FrameDecoder.next} until it returns
 * `undefined`.
 *
 * Every rule of RFC 6455 §5 that can be checked on one frame is checked as
 * soon as the byte that breaks it arrives: masking direction, reserved bits,
 * reserved opcodes, control frames (at most 125 bytes, never fragmented),
 * the 64-bit length's top bit, continuation sequencing, and the size and
 * fragment limits, which are enforced from the header, before any memory is
 * set aside for the payload. A violation throws a {@linkcode ProtocolError}
 * carrying the close code to send; the decoder then stays failed.
 *
 * Payloads are unmasked and, when a frame lies within one chunk, returned as
 * views of that chunk without copying. So `push()` lends the chunk to the
 * decoder: its bytes are unmasked in place, and the frames returned stay
 * valid until the chunk's owner reuses it. Bytes of an incomplete frame are
 * copied into the decoder, so the chunk may be reused as soon as `next()`
 * has returned `undefined`.
 *
 * @example Decoding the RFC 6455 §5.7 fragmented "Hello", one byte at a time
 * ```ts
 * import { FrameDecoder } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
 * const decoder = new FrameDecoder({ role: "client" });
 * const text: string[] = [];
 * for (const byte of bytes) {
 *   decoder.push(new Uint8Array([byte]));
 *   for (let frame; (frame = decoder.next());) {
 *     text.push(new TextDecoder().decode(frame.payload));
 *   }
 * }
 * assert.deepEqual(text, ["Hel", "lo"]);
 * ```
 */
export class FrameDecoder {
  readonly #expectMasked: boolean;
  readonly #maxMessageSize: number;
  readonly #maxFrameSize: number;
  readonly #maxFragments: number;
  readonly #allowRsv1: boolean;

  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  // A header split across chunks is gathered here.
  #head: Uint8Array | null = null; // made when a header is first split
  #headLength = 0;

  // The frame whose header has been read.
  #inPayload = false;
  #b0 = 0;
  #length = 0;
  #masked = false;
  #k0 = 0;
  #k1 = 0;
  #k2 = 0;
  #k3 = 0;
  // Its payload, when gathered across chunks.
  #gather: Uint8Array | null = null;
  #received = 0;

  // The data message in progress: its first opcode (0: none), size, frames.
  #messageOpcode = 0;
  #messageSize = 0;
  #fragments = 0;

  #error: ProtocolError | null = null;

  /**
   * Creates a decoder.
   *
   * @param options The role, limits and extension bits.
   * @throws {RangeError} If a limit is not a positive number.
   */
  constructor(options: FrameDecoderOptions) {
    this.#expectMasked = options.role === "server";
    this.#maxMessageSize = positiveLimit(
      "maxMessageSize",
      options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    );
    this.#maxFrameSize = positiveLimit(
      "maxFrameSize",
      options.maxFrameSize ?? this.#maxMessageSize,
    );
    this.#maxFragments = positiveLimit(
      "maxFragments",
      options.maxFragments ?? DEFAULT_MAX_FRAGMENTS,
    );
    this.#allowRsv1 = options.allowRsv1 ?? false;
  }

  /**
   * Gives the decoder the next bytes from the peer. Any bytes left from the
   * previous chunk are kept in front of them.
   *
   * @param chunk The bytes; lent to the decoder (see the class notes).
   * @throws {ProtocolError} If the decoder has already failed.
   */
  push(chunk: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    const left = this.#chunk.length - this.#pos;
    if (left > 0) {
      // The caller pushed before draining: keep the rest, in order.
      const joined = new Uint8Array(left + chunk.length);
      joined.set(this.#chunk.subarray(this.#pos));
      joined.set(chunk, left);
      chunk = joined;
    }
    this.#chunk = chunk;
    this.#pos = 0;
  }

  /**
   * Decodes the next complete frame from the bytes pushed so far.
   *
   * @returns The frame, or `undefined` when more bytes are needed.
   * @throws {ProtocolError} If the bytes break RFC 6455 or a limit.
   */
  next(): Frame | undefined {
    if (this.#error !== null) throw this.#error;
    try {
      return this.#inPayload ? this.#readPayload() : this.#readHeader();
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.#error = error;
        this.#chunk = EMPTY;
        this.#pos = 0;
        this.#gather = null;
      }
      throw error;
    }
  }

  /**
   * The frame being received, when its header has been read but its payload
   * has only partly arrived; `undefined` otherwise. A text message's bytes
   * can be validated from here as they arrive, before the frame completes.
   */
  get partial(): PartialFrame | undefined {
    if (!this.#inPayload || this.#gather === null) return undefined;
    return {
      opcode: (this.#b0 & 0x0f) as Opcode,
      rsv1: (this.#b0 & 0x40) !== 0,
      fin: (this.#b0 & 0x80) !== 0,
      length: this.#length,
      payload: this.#gather.subarray(0, this.#received),
    };
  }

  /**
   * Where the caller may read the rest of a large payload straight into,
   * instead of reading it into a buffer of its own and pushing it (which
   * copies it once more): the unfilled part of the buffer the current frame's
   * payload is gathered in. Offered only between frames' bytes, that is when
   * every pushed byte has been decoded and the frame's header has been read,
   * and only if at least `min` bytes of the payload are still to come.
   * Report how many bytes were written there with
   * {@linkcode FrameDecoder.wrote}, then call {@linkcode FrameDecoder.next}
   * as after a push.
   *
   * @param min The fewest payload bytes still to come that make it worth it.
   * @returns The free space (never longer than the rest of the payload), or
   * `undefined`.
   *
   * @example Reading a 100 KiB payload into the decoder's own buffer
   * ```ts
   * import { encodeFrame, FrameDecoder, Opcode } from "@duplex/websocket/codec";
   * import assert from "node:assert/strict";
   *
   * const frame = encodeFrame(Opcode.Binary, new Uint8Array(100 * 1024).fill(7));
   * const decoder = new FrameDecoder({ role: "client" });
   * decoder.push(frame.subarray(0, 10)); // the header only (64-bit length)
   * assert.equal(decoder.next(), undefined);
   * let offset = 10;
   * for (let target; (target = decoder.payloadTarget(1));) {
   *   const n = Math.min(target.length, 30_000); // what one read returned
   *   target.set(frame.subarray(offset, offset + n));
   *   decoder.wrote(n);
   *   offset += n;
   * }
   * assert.equal(decoder.next()?.payload.length, 100 * 1024);
   * ```
   */
  payloadTarget(min: number): Uint8Array | undefined {
    if (!this.#inPayload || this.#error !== null || this.#pos < this.#chunk.length) {
      return undefined;
    }
    const length = this.#length;
    let gather = this.#gather;
    const received = gather === null ? 0 : this.#received;
    if (length - received < min || length === received) return undefined;
    if (gather === null) {
      gather = new Uint8Array(Math.min(length, GATHER_START));
      this.#gather = gather;
      this.#received = 0;
    } else if (received === gather.length) {
      const grown = new Uint8Array(Math.min(length, gather.length * 2));
      grown.set(gather);
      gather = grown;
      this.#gather = grown;
    }
    return gather.subarray(received);
  }

  /**
   * Takes `n` bytes the caller wrote at the start of the last
   * {@linkcode FrameDecoder.payloadTarget}: they are unmasked in place and
   * count as received.
   *
   * @param n How many bytes were written.
   * @throws {RangeError} If no target was handed out, or `n` overruns it.
   */
  wrote(n: number): void {
    const gather = this.#gather;
    const received = this.#received;
    if (
      !this.#inPayload || gather === null || !Number.isInteger(n) || n < 0 ||
      received + n > Math.min(gather.length, this.#length)
    ) {
      throw new RangeError(`Cannot take ${n} bytes: they do not fit the payload target`);
    }
    if (this.#masked) {
      maskRange(gather, received, received + n, this.#k0, this.#k1, this.#k2, this.#k3, received);
    }
    this.#received = received + n;
  }

  /** Whether a data message has begun and not yet ended. */
  get inMessage(): boolean {
    return this.#messageOpcode !== 0;
  }

  #readHeader(): Frame | undefined {
    const chunk = this.#chunk;
    const pos = this.#pos;
    const available = chunk.length - pos;
    if (this.#headLength === 0 && available >= 2) {
      // Fast path: the whole header is in this chunk.
      const b0 = chunk[pos]!;
      const b1 = chunk[pos + 1]!;
      const len7 = b1 & 0x7f;
      const size = (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + (b1 & 0x80 ? 4 : 0);
      if (available >= size) {
        this.#checkFirstByte(b0);
        this.#checkSecondByte(b0, b1);
        this.#parseHeader(chunk, pos);
        this.#pos = pos + size;
        return this.#readPayload();
      }
    }
    return this.#readSplitHeader();
  }

  /** Gathers a header that spans chunks, checking each byte as it arrives. */
  #readSplitHeader(): Frame | undefined {
    const chunk = this.#chunk;
    const head = this.#head ??= new Uint8Array(14);
    let pos = this.#pos;
    while (pos < chunk.length) {
      const n = this.#headLength++;
      head[n] = chunk[pos++]!;
      if (n === 0) {
        this.#checkFirstByte(head[0]!);
        continue;
      }
      if (n === 1) this.#checkSecondByte(head[0]!, head[1]!);
      const len7 = head[1]! & 0x7f;
      const size = (len7 < 126 ? 2 : len7 === 126 ? 4 : 10) + (head[1]! & 0x80 ? 4 : 0);
      if (n + 1 === size) {
        this.#pos = pos;
        this.#headLength = 0;
        this.#parseHeader(head, 0);
        return this.#readPayload();
      }
    }
    this.#pos = pos;
    return undefined;
  }

  #checkFirstByte(b0: number): void {
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) {
      // RFC 6455 §5.2: "MUST be 0 unless an extension is negotiated that
      // defines meanings for non-zero values". RFC 7692 §6: permessage-deflate
      // uses RSV1 on the first frame of a data message only.
      if ((b0 & 0x30) !== 0 || !this.#allowRsv1 || opcode === 0 || opcode >= 8) {
        fail("RESERVED_BITS", CloseCode.ProtocolError, "reserved bits are set");
      }
    }
    if ((opcode >= 3 && opcode <= 7) || opcode >= 11) {
      // RFC 6455 §5.2: reserved opcodes; §10.7: fail on unknown opcodes.
      fail("RESERVED_OPCODE", CloseCode.ProtocolError, `opcode ${opcode} is reserved`);
    }
    if (opcode >= 8) {
      // RFC 6455 §5.5: "Control frames themselves MUST NOT be fragmented."
      if ((b0 & 0x80) === 0) {
        fail("FRAGMENTED_CONTROL_FRAME", CloseCode.ProtocolError, "a control frame is fragmented");
      }
    } else if (opcode === 0) {
      if (this.#messageOpcode === 0) {
        fail(
          "UNEXPECTED_CONTINUATION",
          CloseCode.ProtocolError,
          "a continuation frame does not continue a message",
        );
      }
    } else if (this.#messageOpcode !== 0) {
      // RFC 6455 §5.4: fragments of one message are not interleaved with
      // another message's.
      fail(
        "EXPECTED_CONTINUATION",
        CloseCode.ProtocolError,
        "a new message began before the previous one ended",
      );
    }
  }

  #checkSecondByte(b0: number, b1: number): void {
    if ((b1 & 0x80) === 0) {
      // RFC 6455 §5.1: "The server MUST close the connection upon receiving a
      // frame that is not masked."
      if (this.#expectMasked) {
        fail("UNMASKED_FRAME", CloseCode.ProtocolError, "a client frame is not masked");
      }
    } else if (!this.#expectMasked) {
      // RFC 6455 §5.1: "A client MUST close a connection if it detects a
      // masked frame."
      fail("MASKED_FRAME", CloseCode.ProtocolError, "a server frame is masked");
    }
    if ((b0 & 0x08) !== 0 && (b1 & 0x7f) > MAX_CONTROL_PAYLOAD) {
      fail(
        "CONTROL_FRAME_TOO_LONG",
        CloseCode.ProtocolError,
        "a control frame payload is longer than 125 bytes",
      );
    }
  }

  /** Reads a complete header from `src` at `at`; the first two bytes are checked. */
  #parseHeader(src: Uint8Array, at: number): void {
    const b0 = src[at]!;
    const b1 = src[at + 1]!;
    let length = b1 & 0x7f;
    let p = at + 2;
    if (length === 126) {
      length = (src[p]! << 8) | src[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const high = ((src[p]! << 24) | (src[p + 1]! << 16) | (src[p + 2]! << 8) | src[p + 3]!) >>> 0;
      const low = ((src[p + 4]! << 24) | (src[p + 5]! << 16) | (src[p + 6]! << 8) | src[p + 7]!) >>>
        0;
      // RFC 6455 §5.2: "the most significant bit MUST be 0".
      if (high >= 0x80000000) {
        fail("INVALID_LENGTH", CloseCode.ProtocolError, "the 64-bit length has its top bit set");
      }
      if (high > MAX_SAFE_HIGH_WORD) {
        fail("MESSAGE_TOO_BIG", CloseCode.MessageTooBig, "the frame length exceeds 2^53 - 1 bytes");
      }
      length = high * 0x100000000 + low;
      p += 8;
    }
    const opcode = b0 & 0x0f;
    if (opcode < 8) {
      if (length > this.#maxFrameSize) {
        fail(
          "MESSAGE_TOO_BIG",
          CloseCode.MessageTooBig,
          `a ${length}-byte frame exceeds the ${this.#maxFrameSize}-byte limit`,
        );
      }
      const continuing = opcode === 0;
      const size = (continuing ? this.#messageSize : 0) + length;
      if (size > this.#maxMessageSize) {
        fail(
          "MESSAGE_TOO_BIG",
          CloseCode.MessageTooBig,
          `the message exceeds the ${this.#maxMessageSize}-byte limit`,
        );
      }
      const fragments = (continuing ? this.#fragments : 0) + 1;
      if (fragments > this.#maxFragments) {
        fail(
          "TOO_MANY_FRAGMENTS",
          CloseCode.PolicyViolation,
          `the message has more than ${this.#maxFragments} frames`,
        );
      }
      if ((b0 & 0x80) !== 0) {
        this.#messageOpcode = 0;
        this.#messageSize = 0;
        this.#fragments = 0;
      } else {
        if (!continuing) this.#messageOpcode = opcode;
        this.#messageSize = size;
        this.#fragments = fragments;
      }
    }
    this.#b0 = b0;
    this.#length = length;
    this.#masked = (b1 & 0x80) !== 0;
    if (this.#masked) {
      this.#k0 = src[p]!;
      this.#k1 = src[p + 1]!;
      this.#k2 = src[p + 2]!;
      this.#k3 = src[p + 3]!;
    }
    this.#inPayload = true;
  }

  #readPayload(): Frame | undefined {
    const length = this.#length;
    const chunk = this.#chunk;
    let pos = this.#pos;
    const available = chunk.length - pos;
    let gather = this.#gather;
    if (gather === null) {
      if (available >= length) {
        // The whole payload is here: unmask it in place, hand out a view.
        const end = pos + length;
        this.#pos = end;
        this.#inPayload = false;
        if (length === 0) return this.#frame(EMPTY);
        if (this.#masked) maskRange(chunk, pos, end, this.#k0, this.#k1, this.#k2, this.#k3, 0);
        return this.#frame(chunk.subarray(pos, end));
      }
      if (available === 0) return undefined;
      gather = new Uint8Array(Math.min(length, Math.max(GATHER_START, available)));
      this.#gather = gather;
      this.#received = 0;
    }
    const received = this.#received;
    const take = Math.min(available, length - received);
    if (received + take > gather.length) {
      const grown = new Uint8Array(Math.min(length, Math.max(gather.length * 2, received + take)));
      grown.set(gather.subarray(0, received));
      gather = grown;
      this.#gather = grown;
    }
    gather.set(chunk.subarray(pos, pos + take), received);
    if (this.#masked) {
      maskRange(
        gather,
        received,
        received + take,
        this.#k0,
        this.#k1,
        this.#k2,
        this.#k3,
        received,
      );
    }
    pos += take;
    this.#pos = pos;
    this.#received = received + take;
    if (this.#received < length) return undefined;
    this.#gather = null;
    this.#inPayload = false;
    return this.#frame(gather);
  }

  #frame(payload: Uint8Array): Frame {
    const b0 = this.#b0;
    return {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: (b0 & 0x0f) as Opcode,
      payload,
    };
  }
}
