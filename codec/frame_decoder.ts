// Copyright 2026 the Duplex authors. MIT license.
/**
 * The streaming frame decoder (RFC 6455 §5): {@linkcode FrameDecoder} turns
 * arbitrary chunks of bytes into frames, enforcing every framing rule and
 * size limit as soon as the bytes that break it arrive, before anything is
 * allocated for the payload.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { checkRole, positiveLimit } from "./_validate.ts";
import { CloseCode } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import {
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_MESSAGE_SIZE,
  type Frame,
  type Opcode,
  type Role,
} from "./frame.ts";
import { maskRange } from "./mask.ts";

const MAX_CONTROL_PAYLOAD = 125;
// The largest high word of a 64-bit length within 2^53 - 1.
const MAX_SAFE_HIGH_WORD = 0x1fffff;
const EMPTY = new Uint8Array(0);

/**
 * Internal (not exported by `codec/mod.ts`): a decoded frame as its first
 * byte and the bounds of its payload, for `Protocol`'s hot path, which then
 * needs no `Frame` object and no view for a whole text message.
 */
export interface RawFrame {
  /** The header's first byte: FIN, RSV1-3, opcode. */
  b0: number;
  /** The array the payload lies in: the pushed chunk (unmasked in place) or a gathered buffer. */
  source: Uint8Array;
  start: number;
  end: number;
}

/**
 * Internal: the `Frame` of a header's first byte and a payload.
 *
 * @param b0 The first byte: FIN, RSV1-3, opcode.
 * @param payload The payload.
 * @returns The frame.
 */
export function frameFrom(b0: number, payload: Uint8Array): Frame {
  return {
    fin: (b0 & 0x80) !== 0,
    rsv1: (b0 & 0x40) !== 0,
    rsv2: (b0 & 0x20) !== 0,
    rsv3: (b0 & 0x10) !== 0,
    opcode: (b0 & 0x0f) as Opcode,
    payload,
  };
}

// Set in FrameDecoder's static block.
let takeFrameFrom: (decoder: FrameDecoder, out: RawFrame) => boolean;

/**
 * Internal: what {@linkcode FrameDecoder.next} does, into `out` instead of a new `Frame`.
 *
 * @param decoder The decoder.
 * @param out Where the frame goes.
 * @returns `false` when more bytes are needed.
 * @throws {ProtocolError} As `next()`.
 */
export function takeFrame(decoder: FrameDecoder, out: RawFrame): boolean {
  return takeFrameFrom(decoder, out);
}

// The decoder's states.
const READ_HEADER = 0;
const READ_PAYLOAD = 1;
const FAILED = 2;
type DecoderState = typeof READ_HEADER | typeof READ_PAYLOAD | typeof FAILED;

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

  // Where the decoder is (compare ws's GET_INFO … GET_DATA): reading a
  // header (split across chunks once #headLength > 0), reading the payload
  // of the frame whose header was read, or failed for good (#error).
  #state: DecoderState = READ_HEADER;
  // The frame whose header has been read.
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
  // The frame just decoded: its payload lies in #outSource from #outStart
  // to #outEnd (the chunk, unmasked in place, or the gathered buffer).
  #outSource: Uint8Array = EMPTY;
  #outStart = 0;
  #outEnd = 0;

  // The data message in progress: its first opcode (0: none), size, frames.
  #messageOpcode = 0;
  #messageSize = 0;
  #fragments = 0;

  #error: ProtocolError | null = null;

  /**
   * Creates a decoder.
   *
   * @param options The role, limits and extension bits.
   * @throws {TypeError} For a role other than `"client"` or `"server"`, or a
   * limit that is not a number.
   * @throws {RangeError} If a limit is not positive and whole.
   */
  constructor(options: FrameDecoderOptions) {
    this.#expectMasked = checkRole(options.role, "decoder") === "server";
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
    if (this.#state === FAILED) throw this.#error;
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
    if (!this.#advance()) return undefined;
    const source = this.#outSource;
    const start = this.#outStart;
    const end = this.#outEnd;
    // A gathered payload is its own array; one in the chunk, a view of it
    // (even an empty one: a caller may detach what it is handed).
    return frameFrom(
      this.#b0,
      start === 0 && end === source.length && source !== this.#chunk
        ? source
        : source.subarray(start, end),
    );
  }

  static {
    takeFrameFrom = (decoder, out) => {
      if (!decoder.#advance()) return false;
      out.b0 = decoder.#b0;
      out.source = decoder.#outSource;
      out.start = decoder.#outStart;
      out.end = decoder.#outEnd;
      return true;
    };
  }

  /** Decodes the next frame into the out fields; `false` when more bytes are needed. */
  #advance(): boolean {
    try {
      switch (this.#state) {
        case READ_HEADER:
          return this.#readHeader();
        case READ_PAYLOAD:
          return this.#readPayload();
        case FAILED:
          throw this.#error!;
      }
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.#error = error;
        this.#state = FAILED;
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
    if (this.#state !== READ_PAYLOAD || this.#gather === null) return undefined;
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
    if (this.#state !== READ_PAYLOAD || this.#pos < this.#chunk.length) {
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
      this.#state !== READ_PAYLOAD || gather === null || !Number.isInteger(n) || n < 0 ||
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

  #readHeader(): boolean {
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
  #readSplitHeader(): boolean {
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
    return false;
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
    this.#state = READ_PAYLOAD;
  }

  #readPayload(): boolean {
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
        this.#state = READ_HEADER;
        if (this.#masked && length > 0) {
          maskRange(chunk, pos, end, this.#k0, this.#k1, this.#k2, this.#k3, 0);
        }
        this.#outSource = chunk;
        this.#outStart = pos;
        this.#outEnd = end;
        return true;
      }
      if (available === 0) return false;
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
    if (this.#received < length) return false;
    this.#gather = null;
    this.#state = READ_HEADER;
    this.#outSource = gather;
    this.#outStart = 0;
    this.#outEnd = length;
    return true;
  }
}
