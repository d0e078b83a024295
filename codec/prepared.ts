// Copyright 2026 the Duplex authors. MIT license.
/**
 * A message framed once and sent to many connections: what a broadcast
 * needs. Its frame is built on first use and shared; its compressed frame
 * (permessage-deflate) is built once for each distinct compression setting
 * among the connections without context takeover, so a broadcast to a
 * thousand such peers that negotiated the same window compresses once. A
 * connection with context takeover gets the message compressed in its own
 * window: the bytes depend on what it was sent before.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { DEFAULT_COMPRESSION_THRESHOLD } from "./deflate.ts";
import { encodeFrame, Opcode } from "./frame.ts";
import type { Message, ProtocolCompression } from "./protocol.ts";
import { encodeUtf8 } from "./utf8.ts";
import type { FrameArena } from "./_arena.ts";

// Set in PreparedMessage's static block: the one way in to its plain frame.
let placeFrame: (message: PreparedMessage, arena: FrameArena) => void;

/** Options for {@linkcode prepareMessage} and {@linkcode PreparedMessage}. */
export interface PrepareOptions {
  /** Send text as a binary message (its UTF-8 bytes). Default `false`. */
  binary?: boolean;
  /**
   * `true` to compress for every connection that negotiated
   * permessage-deflate, whatever its threshold; `false` never to; by
   * default, by each connection's threshold. A message that compression
   * would grow is sent as it is.
   */
  compress?: boolean;
}

/**
 * A message prepared for many connections; send it with
 * {@linkcode Protocol.sendPrepared} (or a connection's `send()`). Only
 * unmasked (server) frames can be shared: a client masks every frame with
 * a key of its own, so on a client, preparing only encodes the payload
 * once, and a client `Protocol` frames and masks it as usual (compressing
 * it by its own threshold).
 *
 * @example One frame, two connections
 * ```ts
 * import { PreparedMessage, Protocol } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const message = new PreparedMessage("news");
 * const a = new Protocol({ role: "server" });
 * const b = new Protocol({ role: "server" });
 * a.sendPrepared(message);
 * b.sendPrepared(message);
 * assert.deepEqual(a.dataToSend(), b.dataToSend());
 * ```
 */
export class PreparedMessage {
  /** The message: a string for a text message, bytes for a binary one. */
  readonly data: Message;
  /** Its payload as bytes (a string's UTF-8). */
  readonly payload: Uint8Array;
  /** Whether to compress it: see {@linkcode PrepareOptions.compress}. */
  readonly compress: boolean | undefined;
  #frame: Uint8Array | null = null;
  // Compressed frames by what the compressor's output depends on: the
  // connections without context takeover that share a window and level
  // share the bytes.
  #compressed: Map<object, Uint8Array> | null = null;

  /**
   * Prepares a message.
   *
   * @param data Text, or binary data (not copied: leave it alone until sent).
   * @param options Text as binary, and whether to compress.
   */
  constructor(data: Message, options: PrepareOptions = {}) {
    this.payload = typeof data === "string" ? encodeUtf8(data) : data;
    this.data = options.binary === true ? this.payload : data;
    this.compress = options.compress;
  }

  static {
    placeFrame = (message, arena) => {
      message.#frame ??= arena.frame(message.opcode, message.payload);
    };
  }

  /** The opcode of its frame. */
  get opcode(): Opcode {
    return typeof this.data === "string" ? Opcode.Text : Opcode.Binary;
  }

  /**
   * Its unmasked frame, uncompressed, or compressed for `session`.
   *
   * @param compression The connection's permessage-deflate, or `null`.
   * @returns The frame's bytes, shared: never modify them.
   */
  frame(compression: ProtocolCompression | null = null): Uint8Array {
    if (
      compression === null || this.compress === false ||
      (this.compress === undefined &&
        this.payload.length < (compression.threshold ?? DEFAULT_COMPRESSION_THRESHOLD))
    ) {
      return this.#frame ??= encodeFrame(this.opcode, this.payload);
    }
    const compressor = compression.compressor;
    const key = compressor.cacheKey === undefined ? compressor : compressor.cacheKey;
    if (key === null) {
      // Context takeover: the bytes depend on this connection's window, and
      // compressing moves it on. Compressed for this connection alone.
      const deflated = compressor.compress(this.payload);
      if (deflated.length < this.payload.length) {
        return encodeFrame(this.opcode, deflated, { rsv1: true });
      }
      compressor.reset?.();
      return this.#frame ??= encodeFrame(this.opcode, this.payload);
    }
    const compressed = this.#compressed ??= new Map();
    let frame = compressed.get(key);
    if (frame === undefined) {
      // RFC 7692 §6.1: the compressed payload, RSV1 on the (only) frame;
      // the plain frame if compressing does not shrink it.
      const deflated = compressor.compress(this.payload);
      frame = deflated.length < this.payload.length
        ? encodeFrame(this.opcode, deflated, { rsv1: true })
        : this.#frame ??= encodeFrame(this.opcode, this.payload);
      compressed.set(key, frame);
    }
    return frame;
  }
}

/**
 * Frames a message once, to send it to many connections with `send()`,
 * `Hub.broadcast()` or {@linkcode Protocol.sendPrepared}: servers write the
 * same bytes, compressed once per compression setting.
 *
 * @param data Text, or binary data (not copied: leave it alone until sent).
 * @param options Text as binary, and whether to compress.
 * @returns The prepared message.
 *
 * @example
 * ```ts
 * import { Opcode, prepareMessage } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const message = prepareMessage("{\"tick\":1}", { binary: true, compress: false });
 * assert.equal(message.opcode, Opcode.Binary);
 * assert.deepEqual(message.frame().subarray(0, 2), new Uint8Array([0x82, 10]));
 * ```
 */
export function prepareMessage(data: Message, options: PrepareOptions = {}): PreparedMessage {
  return new PreparedMessage(data, options);
}

/**
 * Internal (not exported by `codec/mod.ts`): frames `message`'s plain frame
 * into `arena`, next to the frames placed there before it, so that peers
 * reference a run of broadcasts instead of copying each one.
 *
 * @param message A message whose frame is not made yet.
 * @param arena The arena.
 * @returns The message.
 */
export function placeInArena(message: PreparedMessage, arena: FrameArena): PreparedMessage {
  placeFrame(message, arena);
  return message;
}
