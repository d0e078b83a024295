// Copyright 2026 the Duplex authors. MIT license.
/**
 * A message framed once and sent to many connections: what a broadcast
 * needs. Its frame is built on first use and shared; its compressed frame
 * (permessage-deflate) is built once for each distinct compression setting
 * among the connections it goes to, so a broadcast to a thousand peers that
 * negotiated the same window compresses once.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { DEFAULT_COMPRESSION_THRESHOLD, type MessageCompressor } from "./deflate.ts";
import { encodeFrame, Opcode } from "./frame.ts";
import type { Message, ProtocolCompression } from "./protocol.ts";
import { encodeUtf8 } from "./utf8.ts";

/**
 * A message prepared for many connections; send it with
 * {@linkcode Protocol.sendPrepared}. Only unmasked (server) frames can be
 * shared: a client masks every frame with a key of its own, so a client
 * `Protocol` sends the message as usual.
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
  /** The message. */
  readonly data: Message;
  /** Its payload as bytes (a string's UTF-8). */
  readonly payload: Uint8Array;
  #frame: Uint8Array | null = null;
  // Compressed frames by compressor: connections that share a compressor
  // (the same window and level) share the bytes.
  #compressed: Map<MessageCompressor, Uint8Array> | null = null;

  /**
   * Prepares a message.
   *
   * @param data Text, or binary data (not copied: leave it alone until sent).
   */
  constructor(data: Message) {
    this.data = data;
    this.payload = typeof data === "string" ? encodeUtf8(data) : data;
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
      compression === null ||
      this.payload.length < (compression.threshold ?? DEFAULT_COMPRESSION_THRESHOLD)
    ) {
      return this.#frame ??= encodeFrame(this.opcode, this.payload);
    }
    const compressor = compression.compressor;
    const compressed = this.#compressed ??= new Map();
    let frame = compressed.get(compressor);
    if (frame === undefined) {
      // RFC 7692 §6.1: the compressed payload, RSV1 on the (only) frame;
      // the plain frame if compressing does not shrink it.
      const deflated = compressor.compress(this.payload);
      frame = deflated.length < this.payload.length
        ? encodeFrame(this.opcode, deflated, { rsv1: true })
        : this.#frame ??= encodeFrame(this.opcode, this.payload);
      compressed.set(compressor, frame);
    }
    return frame;
  }
}
