// Copyright 2026 the Duplex authors. MIT license.
/**
 * The WebSocket protocol as a Sans-I/O state machine: bytes in, events out;
 * calls in, bytes out. It never reads, writes, sleeps or sets a timer, so
 * the same core serves the Deno client and server, tests that speak in byte
 * literals, and a browser bundle.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { checkRole, nonNegative, positiveLimit } from "./_validate.ts";
import { encodeClosePayload, parseClosePayload, truncateReason } from "./close.ts";
import { CloseCode } from "./close_code.ts";
import { ClosedError, ProtocolError } from "./errors.ts";
import {
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_MESSAGE_SIZE,
  type Frame,
  FrameEncoder,
  type FrameFlags,
  Opcode,
  type Role,
} from "./frame.ts";
import { FrameDecoder, frameFrom, type RawFrame, takeFrame } from "./frame_decoder.ts";
import type { PreparedMessage } from "./prepared.ts";
import { decodeUtf8, decodeUtf8Range, encodeUtf8, utf8Length, Utf8StreamDecoder } from "./utf8.ts";
import { DEFAULT_COMPRESSION_THRESHOLD, type MessageCompressor } from "./deflate.ts";

/**
 * Connection states, numbered as the WHATWG `WebSocket.readyState`.
 *
 * @example
 * ```ts
 * import { ReadyState } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ReadyState.OPEN, 1);
 * ```
 */
export const ReadyState = {
  /** The opening handshake is under way. */
  CONNECTING: 0,
  /** Messages flow both ways. */
  OPEN: 1,
  /** A close frame has been sent; waiting for the peer's. */
  CLOSING: 2,
  /** The closing handshake is over, or the connection failed. */
  CLOSED: 3,
} as const;

/** One of the {@linkcode ReadyState} values. */
export type ReadyState = typeof ReadyState[keyof typeof ReadyState];

/** How a connection ended. */
export interface CloseInfo {
  /**
   * The close code: the one in the peer's close frame (1005 if it had
   * none); the one we sent if we failed the connection; 1006 if the
   * connection ended without a close frame.
   */
  code: number;
  /** The close reason that goes with the code. */
  reason: string;
  /** Whether close frames were exchanged both ways. */
  wasClean: boolean;
  /** Whether the peer started the closing (or dropped the connection). */
  closedByPeer: boolean;
}

/** A message received: text as a string, binary as bytes the caller owns. */
export type Message = string | Uint8Array;

/** Something {@linkcode Protocol.receive} found in the bytes. */
export type ProtocolEvent =
  | {
    /** A complete message. */
    type: "message";
    /** Text, or binary data the caller owns. */
    data: Message;
  }
  | {
    /** A ping; the pong is already queued unless `autoPong` is off. */
    type: "ping";
    /** The ping's payload. */
    data: Uint8Array;
  }
  | {
    /** A pong. */
    type: "pong";
    /** The pong's payload. */
    data: Uint8Array;
  }
  | {
    /**
     * The peer broke the protocol or a limit; a close frame with
     * `error.closeCode` is queued. A `close` event follows.
     */
    type: "error";
    /** What the peer did. */
    error: ProtocolError;
  }
  | ({
    /** The connection is closed; always the last event, emitted once. */
    type: "close";
  } & CloseInfo);

/** Options for {@linkcode Protocol}. */
export interface ProtocolOptions {
  /** The side this end plays. It decides masking in both directions. */
  role: Role;
  /**
   * The largest message accepted, in bytes; larger ones fail the connection
   * with 1009 as soon as a header announces them. Default 64 MiB.
   */
  maxMessageSize?: number | undefined;
  /** The most frames a message may have; more fails with 1008. Default 100,000. */
  maxFragments?: number | undefined;
  /**
   * Policy: answer pings with pongs automatically (RFC 6455 §5.5.2).
   * Default `true`.
   */
  autoPong?: boolean | undefined;
  /**
   * Policy: keep the close frame this end owes — the answer to the peer's
   * close, or the close frame of a failure — out of
   * {@linkcode Protocol.dataToSend} until {@linkcode Protocol.releaseClose},
   * so that a driver can let the application answer the messages that
   * arrived before it first (RFC 6455 §5.5.1 allows the delay). Messages
   * may be sent while it is held. Default `false`: the next `dataToSend()`
   * queues it, after whatever was sent since it became owed.
   */
  holdCloseReply?: boolean | undefined;
  /**
   * Split outgoing messages into frames of at most this many payload bytes.
   * Default: no splitting.
   */
  fragmentSize?: number | undefined;
  /**
   * Compress messages with permessage-deflate (RFC 7692), once the
   * handshake has negotiated it (see `negotiateDeflate()`). Without it,
   * RSV1 on a frame fails the connection with 1002.
   */
  compression?: ProtocolCompression | undefined;
}

/** permessage-deflate for a {@linkcode Protocol}. */
export interface ProtocolCompression {
  /** Compresses and decompresses whole messages (in this connection's window, with context takeover). */
  compressor: MessageCompressor;
  /**
   * Messages smaller than this many bytes are sent uncompressed: for a
   * short message, compression costs more time than the bytes it saves.
   * Default {@linkcode DEFAULT_COMPRESSION_THRESHOLD}.
   */
  threshold?: number;
}

/** Options for {@linkcode Protocol.sendText} and {@linkcode Protocol.sendBinary}. */
export interface SendOptions {
  /**
   * `false` to send a fragment of a message that the next calls continue;
   * the last one leaves it `true`. Default `true`.
   */
  fin?: boolean;
  /**
   * With permessage-deflate negotiated: `true` to compress this message
   * whatever the threshold, `false` to send it as it is. Default: by the
   * threshold. A fragmented message is sent as it is. (Sent uncompressed,
   * a message never enters the compression window, so with context
   * takeover the peer's window stays the same as this side's.)
   */
  compress?: boolean;
}

// Where receive() takes each frame: one object for every Protocol, as
// receive() handles a frame completely before it decodes the next.
const RAW: RawFrame = { b0: 0, source: new Uint8Array(0), start: 0, end: 0 };

/** The payload of a raw frame: a gathered buffer whole, or a view. */
function payloadOf(raw: RawFrame): Uint8Array {
  const source = raw.source;
  return raw.start === 0 && raw.end === source.length
    ? source
    : source.subarray(raw.start, raw.end);
}

const EMPTY = new Uint8Array(0);
// Pongs owed between two dataToSend() calls, one per ping; past this many
// the latest ping's replaces the last (RFC 6455 §5.5.3).
const MAX_OWED_PONGS = 16;
// Frame flags, shared: no object per frame.
const WHOLE: FrameFlags = Object.freeze({ fin: true });
const FRAGMENT: FrameFlags = Object.freeze({ fin: false });
const COMPRESSED: FrameFlags = Object.freeze({ fin: true, rsv1: true });
const COMPRESSED_FRAGMENT: FrameFlags = Object.freeze({ fin: false, rsv1: true });

/**
 * One end of a WebSocket connection, after the opening handshake, as a
 * Sans-I/O state machine (RFC 6455 §5–§7).
 *
 * Feed it what arrives with {@linkcode Protocol.receive} and
 * {@linkcode Protocol.receiveEof}; each returns the events found. Call
 * {@linkcode Protocol.send}, {@linkcode Protocol.ping},
 * {@linkcode Protocol.close} and the like to produce frames, then write what
 * {@linkcode Protocol.dataToSend} returns. Replies the peer is owed (a pong,
 * the close echo, the close frame that fails a connection) are queued there
 * too: the caller only moves bytes.
 *
 * Every protocol violation becomes a close code here, in one place: the
 * `error` event carries a {@linkcode ProtocolError}, nothing more is read,
 * and the close frame with its code is queued by the next
 * {@linkcode Protocol.dataToSend} — after any replies the application sends
 * before then to messages that arrived ahead of the violation — and nothing
 * is sent after it.
 *
 * @example A server answering a masked "Hello" (RFC 6455 §5.7)
 * ```ts
 * import { Protocol } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const server = new Protocol({ role: "server" });
 * const events = server.receive(
 *   new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]),
 * );
 * assert.deepEqual(events, [{ type: "message", data: "Hello" }]);
 *
 * server.send("Hello");
 * assert.deepEqual(server.dataToSend(), [new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])]);
 * ```
 */
export class Protocol {
  /** The side this end plays. */
  readonly role: Role;

  // Made on first use: an idle connection never needs them.
  #decoder: FrameDecoder | null = null;
  #encoder: FrameEncoder | null = null;
  readonly #maxFragments: number;
  readonly #autoPong: boolean;
  readonly #holdCloseReply: boolean;
  readonly #fragmentSize: number;
  readonly #compression: ProtocolCompression | null;
  readonly #compressor: MessageCompressor | null;
  readonly #threshold: number;
  readonly #maxMessageSize: number;

  #state: ReadyState = ReadyState.OPEN;
  #closeInfo: CloseInfo | undefined;
  #sentClose: { code: number; reason: string } | undefined;
  #error: ProtocolError | undefined;
  // The payload of the close frame this end owes (the answer to the peer's
  // close, or a failure's), until dataToSend() queues it.
  #owedClose: Uint8Array | null = null;
  // The payloads of the pongs owed for pings received since the last
  // dataToSend(), oldest first, at most MAX_OWED_PONGS; and their size on
  // the wire.
  // Their payloads live in one buffer of MAX_OWED_PONGS slots of 125
  // bytes, made on the first ping: owing a pong allocates nothing.
  #pongSlots: Uint8Array | null = null;
  // Made with #pongSlots, on the first ping: most connections never owe a pong.
  #pongLengths: number[] | null = null;
  #owedPongBytes = 0;
  #closeReleased = false;
  // Closing the transport (RFC 6455 §7.1.1): whether our close frame has been
  // taken by dataToSend(), whether the peer's arrived, and whether the
  // half-close that follows has been handed to the driver.
  #closeTaken = false;
  #closeReceived = false;
  #eofTaken = false;

  // The data message being received: its type (0: none), text so far or
  // binary fragments so far.
  #messageType = 0;
  #utf8: Utf8StreamDecoder | null = null;
  #streaming = false;
  #text = "";
  // Bytes of the current frame already fed to #utf8 while it was arriving.
  #fed = 0;
  #binary: Uint8Array | null = null;
  #binarySize = 0;
  // Whether the message being received is compressed (RSV1 on its first frame).
  #compressed = false;

  // The data message being sent in fragments: its opcode (0: none).
  #sendingType = 0;

  /**
   * Creates the protocol state for one end of an open connection.
   *
   * @param options The role and limits.
   * @throws {TypeError} For a role other than `"client"` or `"server"`, or a
   * limit that is not a number.
   * @throws {RangeError} If a limit is not positive and whole.
   */
  constructor(options: ProtocolOptions) {
    this.role = checkRole(options.role, "protocol");
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#compression = options.compression ?? null;
    this.#compressor = options.compression?.compressor ?? null;
    this.#threshold = nonNegative(
      "compression.threshold",
      options.compression?.threshold ?? DEFAULT_COMPRESSION_THRESHOLD,
      "create protocol",
    );
    this.#maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    // The decoder is made on first use; its limits are checked now.
    positiveLimit("maxMessageSize", this.#maxMessageSize, "protocol");
    positiveLimit("maxFragments", this.#maxFragments, "protocol");
    this.#autoPong = options.autoPong ?? true;
    this.#holdCloseReply = options.holdCloseReply ?? false;
    this.#fragmentSize = positiveLimit(
      "fragmentSize",
      options.fragmentSize ?? Infinity,
      "protocol",
    );
  }

  get #frames(): FrameEncoder {
    return this.#encoder ??= new FrameEncoder({ role: this.role });
  }

  get #textDecoder(): Utf8StreamDecoder {
    return this.#utf8 ??= new Utf8StreamDecoder();
  }

  /** The connection state: `OPEN`, `CLOSING` or `CLOSED`. */
  get state(): ReadyState {
    return this.#state;
  }

  /** How the connection ended, once it is `CLOSED`. */
  get closeInfo(): CloseInfo | undefined {
    return this.#closeInfo;
  }

  /** The violation that failed the connection, if any. */
  get error(): ProtocolError | undefined {
    return this.#error;
  }

  /** Bytes queued by sends and not yet taken by {@linkcode Protocol.dataToSend}. */
  get bufferedAmount(): number {
    return (this.#encoder === null ? 0 : this.#encoder.pendingBytes) + this.#owedPongBytes;
  }

  /**
   * Where to read the rest of a large incoming payload, so that it lands in
   * the buffer the message is handed out in rather than being copied there
   * from a read buffer (see {@linkcode FrameDecoder.payloadTarget}). Offered
   * only while every byte received so far has been processed and at least
   * `min` bytes of the current frame's payload are still to come.
   *
   * @param min The fewest payload bytes still to come that make it worth it.
   * @returns The space to read into, or `undefined`: read as usual then.
   *
   * @example
   * ```ts
   * import { encodeFrame, Opcode, Protocol } from "@duplex/websocket/codec";
   * import assert from "node:assert/strict";
   *
   * const server = new Protocol({ role: "server" });
   * const mask = new Uint8Array([1, 2, 3, 4]);
   * const frame = encodeFrame(Opcode.Binary, new Uint8Array(200_000).fill(9), { mask });
   * assert.deepEqual(server.receive(frame.subarray(0, 14)), []); // header and key
   * const target = server.receiveTarget(64 * 1024)!;
   * target.set(frame.subarray(14)); // as a read into it would
   * const [event] = server.receiveWritten(200_000);
   * assert.ok(event?.type === "message" && event.data instanceof Uint8Array);
   * assert.equal(event.data[199_999], 9);
   * ```
   */
  receiveTarget(min: number): Uint8Array | undefined {
    if (this.#state === ReadyState.CLOSED || this.#decoder === null) return undefined;
    return this.#decoder.payloadTarget(min);
  }

  /**
   * Processes `n` bytes read into the space {@linkcode Protocol.receiveTarget}
   * returned.
   *
   * @param n How many bytes were read there.
   * @returns The events found, in order, as for {@linkcode Protocol.receive}.
   * @throws {RangeError} If no target was handed out, or `n` overruns it.
   */
  receiveWritten(n: number): ProtocolEvent[] {
    if (this.#state === ReadyState.CLOSED) return [];
    if (this.#decoder === null) {
      throw new RangeError(`Cannot take ${n} bytes: no receive target was handed out`);
    }
    this.#decoder.wrote(n);
    return this.receive(EMPTY);
  }

  /**
   * Processes bytes received from the peer.
   *
   * @param data The bytes. They are lent: masked payloads are unmasked in
   * place, and nothing returned refers to them (binary messages are copied
   * unless they were gathered across calls), so the caller may reuse the
   * buffer as soon as this returns.
   * @returns The events found, in order.
   */
  receive(data: Uint8Array): ProtocolEvent[] {
    const events: ProtocolEvent[] = [];
    // RFC 6455 §7.1.7: once failed, "MUST NOT continue to attempt to process
    // data (including a responding Close frame)"; once closed, there is none.
    if (this.#state === ReadyState.CLOSED) return events;
    const decoder = this.#decoder ??= new FrameDecoder({
      role: this.role,
      maxMessageSize: this.#maxMessageSize,
      maxFragments: this.#maxFragments,
      allowRsv1: this.#compressor !== null,
    });
    try {
      decoder.push(data);
      const raw = RAW;
      while (takeFrame(decoder, raw)) {
        const b0 = raw.b0;
        const opcode = b0 & 0x0f;
        // The common case, without a Frame object or a view: a whole
        // uncompressed message in one frame (FIN set, RSV1 clear; the
        // decoder has ruled out a new message inside a fragmented one).
        if ((b0 & 0xc0) === 0x80 && (opcode === Opcode.Text || opcode === Opcode.Binary)) {
          if (opcode === Opcode.Text && !this.#streaming) {
            this.#compressed = false;
            events.push({
              type: "message",
              data: decodeUtf8Range(raw.source, raw.start, raw.end),
            });
            continue;
          }
          if (opcode === Opcode.Binary) {
            this.#compressed = false;
            const source = raw.source;
            // A view of the caller's buffer is copied; a gathered payload is already ours.
            events.push({
              type: "message",
              data: source.buffer === data.buffer
                ? source.slice(raw.start, raw.end)
                : payloadOf(raw),
            });
            continue;
          }
        }
        this.#handle(frameFrom(b0, raw.source.subarray(raw.start, raw.end)), data, events);
        // #handle may close the connection (TypeScript cannot see that).
        if ((this.#state as ReadyState) === ReadyState.CLOSED) return events;
      }
      // Validate a text frame's bytes as they arrive, not when it completes.
      // (A compressed message's bytes are not text until inflated.)
      const partial = decoder.partial;
      if (
        partial !== undefined &&
        ((partial.opcode === Opcode.Text && !partial.rsv1) ||
          (partial.opcode === Opcode.Continuation && this.#messageType === Opcode.Text &&
            !this.#compressed))
      ) {
        this.#streaming = true;
        this.#text += this.#textDecoder.push(partial.payload.subarray(this.#fed));
        this.#fed = partial.payload.length;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#fail(error, events);
    }
    return events;
  }

  /**
   * Records that the peer closed the transport, or that the caller gave up
   * on it (a timeout). Unless the closing handshake was over, the connection
   * ends abnormally with 1006.
   *
   * @returns A `close` event, or nothing if the connection was closed already.
   */
  receiveEof(): ProtocolEvent[] {
    if (this.#state === ReadyState.CLOSED) return [];
    this.#reset();
    return [this.#closed(CloseCode.AbnormalClosure, "", false, true)];
  }

  /**
   * Records that this end gave up on the transport without a closing
   * handshake: the application terminated it, or a deadline passed. Unless
   * the closing handshake was over, the connection ends abnormally with
   * 1006, not closed by the peer.
   *
   * @returns A `close` event, or nothing if the connection was closed already.
   */
  abort(): ProtocolEvent[] {
    if (this.#state === ReadyState.CLOSED) return [];
    this.#reset();
    return [this.#closed(CloseCode.AbnormalClosure, "", false, false)];
  }

  /**
   * Queues a message: a string as text, bytes as binary.
   *
   * @param data The message. Bytes are not copied when large: leave them
   * alone until written.
   * @throws {ClosedError} If the connection is closing or closed.
   */
  send(data: Message, options: SendOptions = WHOLE): void {
    if (typeof data === "string") this.sendText(data, options);
    else this.sendBinary(data, options);
  }

  /**
   * Queues a text message, or one fragment of it.
   *
   * @param text The text.
   * @param options `fin: false` to send a fragment of a message that the
   * next calls continue; the last one leaves it `true` (the default).
   * @throws {ClosedError} If the connection is closing or closed.
   * @throws {TypeError} If a binary message is in progress.
   */
  sendText(text: string, options: SendOptions = WHOLE): void {
    const fin = options.fin ?? true;
    const compress = options.compress;
    if (
      this.#compressor !== null && fin && this.#sendingType === 0 && compress !== false &&
      (compress === true ||
        (text.length * 3 >= this.#threshold && utf8Length(text) >= this.#threshold))
    ) {
      this.#sendCompressed(Opcode.Text, encodeUtf8(text));
      return;
    }
    const opcode = this.#beginSend(Opcode.Text, fin);
    if (text.length * 3 <= this.#fragmentSize) {
      this.#frames.encodeText(opcode, text, fin ? WHOLE : FRAGMENT);
    } else {
      this.#sendFragmented(opcode, encodeUtf8(text), fin);
    }
  }

  /**
   * Queues a binary message, or one fragment of it.
   *
   * @param data The bytes. Not copied when large: leave them alone until written.
   * @param options `fin: false` to send a fragment of a message that the
   * next calls continue; the last one leaves it `true` (the default).
   * @throws {ClosedError} If the connection is closing or closed.
   * @throws {TypeError} If a text message is in progress.
   */
  sendBinary(data: Uint8Array, options: SendOptions = WHOLE): void {
    const fin = options.fin ?? true;
    const compress = options.compress;
    if (
      this.#compressor !== null && fin && this.#sendingType === 0 && compress !== false &&
      (compress === true || data.length >= this.#threshold)
    ) {
      this.#sendCompressed(Opcode.Binary, data);
      return;
    }
    const opcode = this.#beginSend(Opcode.Binary, fin);
    if (data.length <= this.#fragmentSize) {
      this.#frames.encode(opcode, data, fin ? WHOLE : FRAGMENT);
    } else this.#sendFragmented(opcode, data, fin);
  }

  /**
   * Queues a ping.
   *
   * @param data The payload, at most 125 bytes. Default: empty.
   * @throws {ClosedError} If the connection is closing or closed.
   * @throws {RangeError} If the payload is longer than 125 bytes.
   */
  ping(data: Uint8Array | string = EMPTY): void {
    this.#sendControl(Opcode.Ping, data);
  }

  /**
   * Queues a pong, such as an unsolicited heartbeat (RFC 6455 §5.5.3).
   *
   * @param data The payload, at most 125 bytes. Default: empty.
   * @throws {ClosedError} If the connection is closing or closed.
   * @throws {RangeError} If the payload is longer than 125 bytes.
   */
  pong(data: Uint8Array | string = EMPTY): void {
    this.#sendControl(Opcode.Pong, data);
  }

  /**
   * Starts the closing handshake: queues a close frame and moves to
   * `CLOSING`. Does nothing if the connection is already closing or closed.
   *
   * @param code The close code; omit it for an empty close frame.
   * @param reason The reason, at most 123 bytes of UTF-8.
   * @throws {RangeError} If the code is not valid on the wire or the reason
   * is too long.
   */
  close(code?: number, reason = ""): void {
    const payload = encodeClosePayload(code, reason);
    if (this.#state !== ReadyState.OPEN) return;
    // A pong owed for a ping received before this close goes ahead of it.
    this.#takePong();
    this.#frames.encode(Opcode.Close, payload);
    this.#closeTaken = false;
    this.#sentClose = { code: code ?? CloseCode.NoStatusReceived, reason };
    this.#state = ReadyState.CLOSING;
  }

  /**
   * Queues bytes that are already complete frames, such as a broadcast
   * framed once for many connections with {@linkcode encodeFrame}.
   *
   * @param frames The encoded frames; not copied when large.
   * @throws {ClosedError} If the connection is closing or closed.
   * @throws {TypeError} If a fragmented message is being sent.
   */
  sendEncoded(frames: Uint8Array): void {
    this.#assertOpen();
    if (this.#sendingType !== 0) {
      throw new TypeError("Cannot send encoded frames: a fragmented message is in progress");
    }
    this.#takePong();
    this.#frames.encodeRaw(frames);
  }

  /**
   * Queues a message framed once for many connections (a broadcast). A
   * server writes the shared frame — compressed if this connection
   * negotiated permessage-deflate and the message reaches its threshold; a
   * client, which must mask, or a connection that splits messages into
   * fragments, sends the message as usual.
   *
   * @param message The prepared message.
   * @throws {ClosedError} If the connection is closing or closed.
   * @throws {TypeError} If a fragmented message is being sent.
   */
  sendPrepared(message: PreparedMessage): void {
    if (this.#sendingType !== 0) {
      throw new TypeError("Cannot send a prepared message: a fragmented message is in progress");
    }
    if (this.role === "client" || message.payload.length > this.#fragmentSize) {
      this.send(
        message.data,
        message.compress === undefined ? WHOLE : { compress: message.compress },
      );
      return;
    }
    this.sendEncoded(message.frame(this.#compression));
  }

  /**
   * Closes, dropping what was queued and not yet taken by
   * {@linkcode Protocol.dataToSend}: the close frame goes right after the
   * bytes already taken. For a peer that does not read (a slow consumer):
   * RFC 6455 §7.4.1's 1008 then reaches it as soon as it reads at all.
   * Messages being sent are cut off; the peer sees their close instead.
   *
   * @param code The close code.
   * @param reason The reason.
   * @throws {RangeError} If the code or reason cannot go on the wire.
   */
  closeDiscarding(code: number, reason = ""): void {
    encodeClosePayload(code, reason); // throws for a bad code or reason
    if (this.#state !== ReadyState.OPEN) return;
    this.#encoder?.discard();
    if (this.#pongLengths !== null) this.#pongLengths.length = 0;
    this.#owedPongBytes = 0;
    this.#sendingType = 0;
    this.close(code, reason);
  }

  /**
   * Takes the bytes to write to the peer, in order.
   *
   * @returns Chunks to write; they stay valid until the next call, so write
   * them before calling again. Empty when there is nothing to send.
   */
  dataToSend(): Uint8Array[] {
    this.#takePong();
    const owed = this.#owedClose;
    if (owed !== null && (this.#closeReleased || !this.#holdCloseReply)) {
      // The close frame goes last, and nothing is sent after it.
      this.#owedClose = null;
      this.#frames.encode(Opcode.Close, owed);
    }
    if (this.#encoder === null) return [];
    if (this.#sentClose !== undefined && this.#owedClose === null) this.#closeTaken = true;
    return this.#encoder.take();
  }

  /**
   * Whether messages may be sent: the connection is open, or it owes the
   * peer a close frame that has not been taken by
   * {@linkcode Protocol.dataToSend} yet (replies to the messages that came
   * before a close or a failure go out ahead of it).
   */
  get canSend(): boolean {
    return this.#state === ReadyState.OPEN || this.#owedClose !== null;
  }

  /**
   * Whether a close frame is owed and held back by the `holdCloseReply`
   * policy until {@linkcode Protocol.releaseClose}.
   */
  get closeHeld(): boolean {
    return this.#owedClose !== null && this.#holdCloseReply && !this.#closeReleased;
  }

  /**
   * Lets the held close frame go: the next {@linkcode Protocol.dataToSend}
   * queues it after what was sent before. Does nothing if none is held.
   */
  releaseClose(): void {
    if (this.#owedClose !== null) this.#closeReleased = true;
  }

  /**
   * Whether the transport is expected to close soon, as Python
   * `websockets`' `close_expected()`: a close frame was sent or received,
   * or the connection failed. A driver then starts its close deadline and
   * closes the transport when it passes (RFC 6455 §7.1.1).
   *
   * @returns `true` from the start of the closing handshake on.
   */
  closeExpected(): boolean {
    return this.#state !== ReadyState.OPEN;
  }

  /**
   * Whether to half-close the transport (send EOF, as Python `websockets`'
   * `SEND_EOF`) once the bytes {@linkcode Protocol.dataToSend} returned are
   * written. RFC 6455 §7.1.1: the server closes the TCP connection first,
   * once close frames have gone both ways; the client waits for it to. A
   * failed connection is closed by either side after its close frame
   * (§7.1.7). A half-close lets the peer read the close frame before the
   * connection goes away. Returns `true` once, then `false`.
   *
   * @returns Whether to half-close now.
   */
  takeEof(): boolean {
    if (this.#eofTaken || !this.#closeTaken || this.#state !== ReadyState.CLOSED) return false;
    if (this.#error === undefined && !(this.role === "server" && this.#closeReceived)) return false;
    this.#eofTaken = true;
    return true;
  }

  /** Queues the pongs owed for the pings received since the last call. */
  #takePong(): void {
    const lengths = this.#pongLengths;
    if (lengths === null || lengths.length === 0) return;
    const slots = this.#pongSlots!;
    for (let i = 0; i < lengths.length; i++) {
      // The encoder copies payloads this small.
      this.#frames.encode(Opcode.Pong, slots.subarray(i * 125, i * 125 + lengths[i]!));
    }
    lengths.length = 0;
    this.#owedPongBytes = 0;
  }

  /**
   * Owes a pong for a ping. Up to MAX_OWED_PONGS wait, one per ping, in
   * order; past that, the newest ping's payload replaces the last one's.
   */
  #owePong(payload: Uint8Array): void {
    const lengths = this.#pongLengths ??= [];
    const slots = this.#pongSlots ??= new Uint8Array(MAX_OWED_PONGS * 125);
    // A control frame's head: 2 bytes, and a client's 4-byte mask.
    const head = this.role === "client" ? 6 : 2;
    if (lengths.length === MAX_OWED_PONGS) this.#owedPongBytes -= lengths.pop()! + head;
    slots.set(payload, lengths.length * 125);
    lengths.push(payload.length);
    this.#owedPongBytes += payload.length + head;
  }

  #handle(frame: Frame, data: Uint8Array, events: ProtocolEvent[]): void {
    switch (frame.opcode) {
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation:
        this.#handleData(frame, data, events);
        return;
      case Opcode.Ping:
        // RFC 6455 §5.5.2: answer with a pong carrying the same data, unless
        // we have already sent a close frame.
        // §5.5.3: one that "has not yet sent Pong frame(s) in response to
        // previous Ping frame(s) ... MAY elect to send a Pong frame for only
        // the most recently processed Ping frame". Pongs wait for the next
        // dataToSend(), one per ping up to MAX_OWED_PONGS, then the newest
        // replaces the last: a peer that floods pings and reads nothing is
        // owed a few pongs, not one per ping.
        if (this.#autoPong && this.#state === ReadyState.OPEN) {
          this.#owePong(frame.payload);
        }
        events.push({ type: "ping", data: frame.payload.slice() });
        return;
      case Opcode.Pong:
        events.push({ type: "pong", data: frame.payload.slice() });
        return;
      case Opcode.Close:
        this.#handleClose(frame, events);
        return;
    }
  }

  #handleData(frame: Frame, data: Uint8Array, events: ProtocolEvent[]): void {
    const payload = frame.payload;
    if (frame.opcode !== Opcode.Continuation) {
      this.#messageType = frame.opcode;
      // The decoder allows RSV1 only on a first frame, and only when negotiated.
      this.#compressed = frame.rsv1;
    }
    if (this.#compressed) {
      this.#handleCompressed(frame, events);
      return;
    }
    if (this.#messageType === Opcode.Text) {
      if (frame.fin && !this.#streaming) {
        // The common case: a whole text message in one frame.
        this.#messageType = 0;
        events.push({ type: "message", data: decodeUtf8(payload) });
        return;
      }
      this.#streaming = true;
      this.#text += this.#textDecoder.push(this.#fed === 0 ? payload : payload.subarray(this.#fed));
      this.#fed = 0;
      if (!frame.fin) return;
      const text = this.#text + this.#textDecoder.end();
      this.#resetMessage();
      events.push({ type: "message", data: text });
      return;
    }
    if (frame.fin && this.#binary === null) {
      this.#messageType = 0;
      // A view of the caller's buffer is copied; a payload gathered across
      // calls is already ours.
      events.push({
        type: "message",
        data: payload.buffer === data.buffer ? payload.slice() : payload,
      });
      return;
    }
    this.#appendBinary(payload);
    if (!frame.fin) return;
    const size = this.#binarySize;
    const buffer = this.#binary!;
    // Trim the gathering buffer unless it is nearly full.
    const message = size * 4 >= buffer.length * 3
      ? buffer.subarray(0, size)
      : buffer.slice(0, size);
    this.#resetMessage();
    events.push({ type: "message", data: message });
  }

  /** A frame of a compressed message: gathered, then inflated whole (RFC 7692 §6.2). */
  #handleCompressed(frame: Frame, events: ProtocolEvent[]): void {
    if (!frame.fin || this.#binary !== null) {
      this.#appendBinary(frame.payload);
      if (!frame.fin) return;
    }
    const compressed = this.#binary === null
      ? frame.payload
      : this.#binary.subarray(0, this.#binarySize);
    const type = this.#messageType;
    let inflated: Uint8Array;
    try {
      inflated = this.#compressor!.decompress(compressed, this.#maxMessageSize);
    } catch (error) {
      if (error instanceof RangeError) {
        throw new ProtocolError(
          "MESSAGE_TOO_BIG",
          CloseCode.MessageTooBig,
          `Cannot decode message: it inflates past the limit of ${this.#maxMessageSize} bytes`,
        );
      }
      throw new ProtocolError(
        "INVALID_COMPRESSED_DATA",
        CloseCode.InvalidPayload,
        `Cannot decode message: its compressed data is invalid (${(error as Error).message})`,
      );
    }
    this.#resetMessage();
    events.push({
      type: "message",
      data: type === Opcode.Text ? decodeUtf8(inflated) : inflated,
    });
  }

  #appendBinary(payload: Uint8Array): void {
    const size = this.#binarySize + payload.length;
    let buffer = this.#binary;
    if (buffer === null || size > buffer.length) {
      const grown = new Uint8Array(Math.max(size, (buffer?.length ?? 0) * 2, 1024));
      if (buffer !== null) grown.set(buffer.subarray(0, this.#binarySize));
      buffer = grown;
      this.#binary = grown;
    }
    buffer.set(payload, this.#binarySize);
    this.#binarySize = size;
  }

  #handleClose(frame: Frame, events: ProtocolEvent[]): void {
    // Throws ProtocolError (1002, or 1007 for a reason that is not UTF-8).
    const { code, reason } = parseClosePayload(frame.payload);
    const closedByPeer = this.#state === ReadyState.OPEN;
    this.#closeReceived = true;
    if (closedByPeer) {
      // RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
      // previously send a Close frame, the endpoint MUST send a Close frame
      // in response. (When sending a Close frame in response, the endpoint
      // typically echos the status code it received.)" It "MAY delay
      // sending a Close frame until its current message is sent": the
      // answer is owed, and queued by dataToSend() after what the
      // application sends in reply to the messages before it.
      // The reason is echoed too, as Deno's WebSocket and ws do.
      if (code === CloseCode.NoStatusReceived) {
        this.#owedClose = encodeClosePayload();
        this.#sentClose = { code, reason: "" };
      } else {
        this.#owedClose = encodeClosePayload(code, reason);
        this.#sentClose = { code, reason };
      }
    }
    this.#reset();
    events.push(this.#closed(code, reason, true, closedByPeer));
  }

  /** RFC 6455 §7.1.7, "Fail the WebSocket Connection". */
  #fail(error: ProtocolError, events: ProtocolEvent[]): void {
    this.#error = error;
    events.push({ type: "error", error });
    // "SHOULD send a Close frame with an appropriate status code", unless one
    // was sent already. Nothing more is read; but the close frame is queued
    // by the next dataToSend(), so that replies the application sends to
    // messages that arrived before the violation still go out ahead of it.
    if (this.#state === ReadyState.OPEN) {
      const reason = truncateReason(error.message);
      this.#owedClose = encodeClosePayload(error.closeCode, reason);
      this.#sentClose = { code: error.closeCode, reason };
    }
    this.#reset();
    events.push(this.#closed(error.closeCode, truncateReason(error.message), false, false));
  }

  #closed(code: number, reason: string, wasClean: boolean, closedByPeer: boolean): ProtocolEvent {
    this.#state = ReadyState.CLOSED;
    // Nothing is compressed or inflated from now on: zlib's state goes.
    this.#compressor?.close?.();
    const info: CloseInfo = { code, reason, wasClean, closedByPeer };
    this.#closeInfo = info;
    return { type: "close", ...info };
  }

  #reset(): void {
    this.#resetMessage();
    this.#sendingType = 0;
  }

  #resetMessage(): void {
    this.#messageType = 0;
    if (this.#streaming) this.#utf8?.reset();
    this.#streaming = false;
    this.#text = "";
    this.#fed = 0;
    this.#binary = null;
    this.#binarySize = 0;
    this.#compressed = false;
  }

  #assertOpen(): void {
    if (this.#state === ReadyState.OPEN || this.#owedClose !== null) return;
    const info = this.#closeInfo ?? this.#sentClose ??
      { code: CloseCode.AbnormalClosure, reason: "" };
    throw new ClosedError(
      info.code,
      info.reason,
      "Cannot send: the WebSocket is closing or closed",
    );
  }

  /** Checks state and fragmentation order; returns the opcode to use. */
  #beginSend(type: number, fin: boolean): Opcode {
    this.#assertOpen();
    // Pongs owed for pings received before this send go ahead of it.
    this.#takePong();
    let opcode: Opcode = type === Opcode.Text ? Opcode.Text : Opcode.Binary;
    if (this.#sendingType !== 0) {
      if (this.#sendingType !== type) {
        throw new TypeError(
          `Cannot send ${type === Opcode.Text ? "text" : "binary"}: a fragmented ${
            this.#sendingType === Opcode.Text ? "text" : "binary"
          } message is in progress`,
        );
      }
      opcode = Opcode.Continuation;
    }
    this.#sendingType = fin ? 0 : type;
    return opcode;
  }

  #sendFragmented(opcode: Opcode, data: Uint8Array, fin: boolean, rsv1 = false): void {
    const size = this.#fragmentSize;
    let offset = 0;
    while (data.length - offset > size) {
      this.#frames.encode(
        opcode,
        data.subarray(offset, offset + size),
        rsv1 ? COMPRESSED_FRAGMENT : FRAGMENT,
      );
      // RFC 7692 §6: RSV1 on the first frame of a message only.
      rsv1 = false;
      opcode = Opcode.Continuation;
      offset += size;
    }
    this.#frames.encode(
      opcode,
      data.subarray(offset),
      fin ? (rsv1 ? COMPRESSED : WHOLE) : (rsv1 ? COMPRESSED_FRAGMENT : FRAGMENT),
    );
  }

  /** A whole message, deflated, RSV1 on its first frame (RFC 7692 §6.1). */
  #sendCompressed(type: Opcode, data: Uint8Array): void {
    const opcode = this.#beginSend(type, true);
    const compressor = this.#compressor!;
    const compressed = compressor.compress(data);
    // RFC 7692 §6: compression is per message. One that does not shrink
    // (random or already compressed data grows by a few per cent) goes as
    // it is, so that it never passes a limit its own size is within; with
    // context takeover the compressor then forgets its window, which holds
    // this message and the peer's does not.
    if (compressed.length >= data.length) {
      compressor.reset?.();
      this.#sendFragmented(opcode, data, true);
    } else {
      this.#sendFragmented(opcode, compressed, true, true);
    }
  }

  #sendControl(opcode: Opcode, data: Uint8Array | string): void {
    const payload = typeof data === "string" ? encodeUtf8(data) : data;
    if (payload.length > 125) {
      throw new RangeError(
        `Cannot send ${
          opcode === Opcode.Ping ? "ping" : "pong"
        }: the payload is ${payload.length} bytes, the limit is 125`,
      );
    }
    this.#assertOpen();
    this.#takePong();
    this.#frames.encode(opcode, payload);
  }
}
