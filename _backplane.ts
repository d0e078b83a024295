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

// A batch: the sender's id (8 bytes), the sequence number of its first
// publication on the channel (4), then each publication as its length (4)
// and its bytes. Backplanes post one per channel per turn of the event loop:
// a burst of broadcasts costs one post, and a receiver can tell how many
// publications it missed from the numbers.
/** Bytes of a batch before its first publication. */
export const BATCH_HEADER = 12;
/** A batch is posted at once past this many bytes, instead of at the end of the turn. */
export const MAX_BATCH = 1024 * 1024;

interface Batch {
  parts: Uint8Array[];
  bytes: number;
}

/**
 * Gathers a turn's publications per channel and hands each channel's batch
 * to `post` at the end of the turn (a microtask), numbered per channel.
 */
export class BatchWriter {
  readonly #id = crypto.getRandomValues(new Uint8Array(8));
  readonly #post: (channel: string, batch: Uint8Array, count: number) => void;
  readonly #batches = new Map<string, Batch>();
  readonly #sequence = new Map<string, number>();
  #scheduled = false;

  /** @param post Where each channel's batch goes, with the number of publications in it. */
  constructor(post: (channel: string, batch: Uint8Array, count: number) => void) {
    this.#post = post;
  }

  /**
   * Adds a publication (copied).
   *
   * @param channel The channel.
   * @param payload The bytes.
   */
  add(channel: string, payload: Uint8Array): void {
    let batch = this.#batches.get(channel);
    if (batch === undefined) this.#batches.set(channel, batch = { parts: [], bytes: 0 });
    batch.parts.push(payload.slice());
    batch.bytes += 4 + payload.length;
    if (batch.bytes >= MAX_BATCH) {
      this.#write(channel, batch);
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Posts every waiting batch now. */
  flush(): void {
    this.#scheduled = false;
    for (const [channel, batch] of this.#batches) this.#write(channel, batch);
  }

  #write(channel: string, batch: Batch): void {
    this.#batches.delete(channel);
    // Numbered by publication, so that a receiver counts exactly how many it missed.
    const first = ((this.#sequence.get(channel) ?? 0) + 1) >>> 0;
    this.#sequence.set(channel, (first + batch.parts.length - 1) >>> 0);
    const bytes = new Uint8Array(BATCH_HEADER + batch.bytes);
    const view = new DataView(bytes.buffer);
    bytes.set(this.#id, 0);
    view.setUint32(8, first);
    let offset = BATCH_HEADER;
    for (const part of batch.parts) {
      view.setUint32(offset, part.length);
      bytes.set(part, offset + 4);
      offset += 4 + part.length;
    }
    this.#post(channel, bytes, batch.parts.length);
  }
}

/** Takes batches apart, and counts the publications missing between them. */
export class BatchReader {
  /** Publications of other senders that never arrived (gaps in their numbers). */
  lost = 0;
  // The next number expected from each sender, per channel.
  readonly #expected = new Map<string, Map<string, number>>();

  /**
   * Hands each publication of a batch to `deliver`.
   *
   * @param channel The channel it came on.
   * @param bytes The batch.
   * @param deliver Called with each publication (a view into `bytes`).
   * @returns `false` if the bytes are not a batch.
   */
  read(channel: string, bytes: Uint8Array, deliver: (payload: Uint8Array) => void): boolean {
    if (bytes.length < BATCH_HEADER) return false;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let expected = this.#expected.get(channel);
    if (expected === undefined) this.#expected.set(channel, expected = new Map());
    const sender = String.fromCharCode(...bytes.subarray(0, 8));
    const first = view.getUint32(8);
    const next = expected.get(sender);
    if (next !== undefined) this.lost += (first - next) >>> 0;
    let count = 0;
    let offset = BATCH_HEADER;
    while (offset + 4 <= bytes.length) {
      const end = offset + 4 + view.getUint32(offset);
      if (end > bytes.length) break;
      deliver(bytes.subarray(offset + 4, end));
      offset = end;
      count++;
    }
    expected.set(sender, (first + count) >>> 0);
    return offset === bytes.length;
  }

  /**
   * Forgets a channel's senders: after unsubscribing, the next batch starts
   * anew rather than counting what was published meanwhile as lost.
   *
   * @param channel The channel.
   */
  forget(channel: string): void {
    this.#expected.delete(channel);
  }
}

/**
 * A backplane's namespace option, checked.
 *
 * @param options The options.
 * @returns The namespace.
 */
export function checkNamespace(options: { namespace?: string }): string {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot create backplane: options must be an object");
  }
  const namespace = options.namespace ?? "duplex";
  if (typeof namespace !== "string" || namespace === "") {
    throw new TypeError(
      `Cannot create backplane: namespace must be a non-empty string, got ${
        JSON.stringify(namespace)
      }`,
    );
  }
  return namespace;
}
