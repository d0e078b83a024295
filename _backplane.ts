// Copyright 2026 the Duplex authors. MIT license.
/**
 * What a hub puts on a backplane: one envelope per broadcast, read by the
 * other nodes.
 *
 * ```
 * byte 0      version, 0xD1
 * byte 1      flags: bit 0 binary; bits 1–2 compress (0 by threshold, 1 yes, 2 no)
 * bytes 2–9   the publishing node's id (8 random bytes)
 * bytes 10–   the payload: a text message's UTF-8, or a binary message's bytes
 * ```
 *
 * The room is the channel's name, so it is not repeated here.
 *
 * @module
 */

import { PreparedMessage } from "./codec/mod.ts";

const VERSION = 0xd1;
const BINARY = 1;
const COMPRESS_YES = 2;
const COMPRESS_NO = 4;
const NODE_ID_LENGTH = 8;
/** Bytes before the payload. */
export const ENVELOPE_HEADER = 2 + NODE_ID_LENGTH;

/** The channel of broadcasts to every connection. */
export const ALL_CHANNEL = "all";

/**
 * The channel of a room.
 *
 * @param room The room's name.
 * @returns Its channel.
 */
export function roomChannel(room: string): string {
  return `room:${room}`;
}

/** @returns A new node's id. */
export function newNodeId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NODE_ID_LENGTH));
}

/**
 * The envelope of a broadcast.
 *
 * @param node The publishing node's id.
 * @param message The message.
 * @returns The bytes to publish.
 */
export function encodeEnvelope(node: Uint8Array, message: PreparedMessage): Uint8Array {
  const payload = message.payload;
  const envelope = new Uint8Array(ENVELOPE_HEADER + payload.length);
  envelope[0] = VERSION;
  envelope[1] = (typeof message.data === "string" ? 0 : BINARY) |
    (message.compress === true ? COMPRESS_YES : message.compress === false ? COMPRESS_NO : 0);
  envelope.set(node, 2);
  envelope.set(payload, ENVELOPE_HEADER);
  return envelope;
}

/**
 * Whether an envelope was published by `node`.
 *
 * @param envelope The bytes received.
 * @param node A node's id.
 * @returns `true` for that node's own publication.
 */
export function publishedBy(envelope: Uint8Array, node: Uint8Array): boolean {
  for (let i = 0; i < NODE_ID_LENGTH; i++) {
    if (envelope[2 + i] !== node[i]) return false;
  }
  return true;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The message inside an envelope.
 *
 * @param envelope The bytes received.
 * @returns The message, framed once for every local member; `null` for
 * bytes that are not an envelope of this version, or text that is not UTF-8.
 */
export function decodeEnvelope(envelope: Uint8Array): PreparedMessage | null {
  if (envelope.length < ENVELOPE_HEADER || envelope[0] !== VERSION) return null;
  const flags = envelope[1]!;
  if (flags > (BINARY | COMPRESS_YES | COMPRESS_NO) || (flags & 6) === 6) return null;
  const payload = envelope.subarray(ENVELOPE_HEADER);
  let data: string | Uint8Array;
  if ((flags & BINARY) !== 0) {
    data = payload;
  } else {
    try {
      data = utf8.decode(payload);
    } catch {
      return null;
    }
  }
  return new PreparedMessage(
    data,
    (flags & COMPRESS_YES) !== 0
      ? { compress: true }
      : (flags & COMPRESS_NO) !== 0
      ? { compress: false }
      : {},
  );
}
