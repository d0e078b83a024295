// Copyright 2026 the Duplex authors. MIT license.
/**
 * permessage-deflate (RFC 7692): negotiation, and the interface that a
 * {@linkcode Protocol} compresses and decompresses messages through.
 *
 * Duplex negotiates the extension without context takeover in both
 * directions: every message is compressed on its own. That costs some ratio
 * on streams of similar messages, but a connection keeps no compression
 * window between messages (no ~300 KiB of zlib state per connection), and a
 * broadcast compressed once is valid for every peer. A server can always
 * ask for this (§7.1.1); a client offers it.
 *
 * The compression itself is not here: this module runs in browsers, which
 * have no synchronous DEFLATE. {@linkcode MessageCompressor} is what a
 * platform supplies; on Deno, the package's connections use `node:zlib`.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import type { Extension, ExtensionParam } from "./headers.ts";
import { nonNegative, wholeAtLeast } from "./_validate.ts";

/** The extension's registered name. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/**
 * Compresses and decompresses whole message payloads as RFC 7692 §7.2
 * describes: raw DEFLATE, each message on its own (no context takeover).
 */
export interface MessageCompressor {
  /**
   * Compresses a message payload.
   *
   * @param data The payload.
   * @returns The DEFLATE data, without the final `00 00 ff ff` of an empty
   * stored block (§7.2.1).
   */
  compress(data: Uint8Array): Uint8Array;
  /**
   * Decompresses a message payload.
   *
   * @param data The DEFLATE data as received, without the `00 00 ff ff`
   * tail (§7.2.2): add it, or inflate with a sync flush, which needs it not.
   * @param maxSize The most bytes the result may have.
   * @returns The payload.
   * @throws {RangeError} If the result would be larger than `maxSize`.
   * @throws {Error} If the data is not valid DEFLATE.
   */
  decompress(data: Uint8Array, maxSize: number): Uint8Array;
}

/** What a permessage-deflate negotiation settled, for one connection. */
export interface DeflateAgreement {
  /** The extension as the server's response states it. */
  response: Extension;
  /** The largest LZ77 window (as bits, 9–15) the server may compress with. */
  serverMaxWindowBits: number;
  /** The largest window the client may compress with. */
  clientMaxWindowBits: number;
}

/**
 * The offer a client sends: permessage-deflate, without context takeover
 * either way.
 *
 * @returns The extension to offer.
 *
 * @example
 * ```ts
 * import { deflateOffer, formatExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatExtensions([deflateOffer()]),
 *   "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
 * );
 * ```
 */
export function deflateOffer(): Extension {
  return {
    name: PERMESSAGE_DEFLATE,
    params: [["server_no_context_takeover", true], ["client_no_context_takeover", true]],
  };
}

/**
 * A server's side of the negotiation (RFC 7692 §5, §7.1): takes the first
 * permessage-deflate offer it can honour, and answers without context
 * takeover in both directions. An offer with an unknown, repeated or
 * malformed parameter is declined, as is one that limits the server's
 * window to 8 bits (zlib cannot produce raw DEFLATE with a 256-byte window).
 *
 * @param offers The extensions the client offered, in its order.
 * @returns What was agreed, or `null` to go without compression.
 *
 * @example A browser's offer
 * ```ts
 * import { formatExtensions, negotiateDeflate, parseExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const agreed = negotiateDeflate(parseExtensions("permessage-deflate; client_max_window_bits"));
 * assert.equal(
 *   formatExtensions([agreed!.response]),
 *   "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
 * );
 * assert.equal(negotiateDeflate(parseExtensions("x-webkit-deflate-frame")), null);
 * ```
 */
export function negotiateDeflate(offers: readonly Extension[]): DeflateAgreement | null {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const params = readParams(offer.params, "offer");
    if (params === null) continue;
    const serverBits = params.get("server_max_window_bits");
    // Offered without a value is malformed for this parameter (§7.1.2.1).
    if (serverBits === true) continue;
    const serverMaxWindowBits = serverBits === undefined ? 15 : serverBits;
    if (serverMaxWindowBits === 8) continue;
    const response: ExtensionParam[] = [
      ["server_no_context_takeover", true],
      ["client_no_context_takeover", true],
    ];
    if (serverBits !== undefined) response.push(["server_max_window_bits", String(serverBits)]);
    return {
      response: { name: PERMESSAGE_DEFLATE, params: response },
      serverMaxWindowBits,
      // The client may use any window: without context takeover, the
      // server inflates each message on its own whatever the window.
      clientMaxWindowBits: 15,
    };
  }
  return null;
}

/**
 * A client's check of the server's answer to {@linkcode deflateOffer}
 * (RFC 7692 §7.1): only the parameters it may send, each once, with valid
 * values; `server_no_context_takeover` must be there, since it was offered.
 *
 * @param response The permessage-deflate extension of the server's response.
 * @returns What was agreed.
 * @throws {SyntaxError} If the response is not a valid answer to the offer.
 *
 * @example
 * ```ts
 * import { acceptDeflateResponse, parseExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const [extension] = parseExtensions(
 *   "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
 * );
 * assert.equal(acceptDeflateResponse(extension!).serverMaxWindowBits, 15);
 * assert.throws(() => acceptDeflateResponse(parseExtensions("permessage-deflate")[0]!), SyntaxError);
 * ```
 */
export function acceptDeflateResponse(response: Extension): DeflateAgreement {
  if (response.name !== PERMESSAGE_DEFLATE) {
    throw new SyntaxError(`Cannot accept ${response.name}: it is not ${PERMESSAGE_DEFLATE}`);
  }
  const params = readParams(response.params, "response");
  if (params === null) {
    throw new SyntaxError(
      `Cannot accept ${PERMESSAGE_DEFLATE}: a parameter of the response is unknown, repeated or malformed`,
    );
  }
  if (!params.has("server_no_context_takeover")) {
    throw new SyntaxError(
      `Cannot accept ${PERMESSAGE_DEFLATE}: the response lacks server_no_context_takeover, which was offered`,
    );
  }
  if (params.has("client_max_window_bits")) {
    // §7.1.2.2: only in answer to an offer that has it; ours does not.
    throw new SyntaxError(
      `Cannot accept ${PERMESSAGE_DEFLATE}: client_max_window_bits was not offered`,
    );
  }
  const serverBits = params.get("server_max_window_bits");
  if (serverBits === true) {
    throw new SyntaxError(
      `Cannot accept ${PERMESSAGE_DEFLATE}: server_max_window_bits needs a value`,
    );
  }
  return { response, serverMaxWindowBits: serverBits ?? 15, clientMaxWindowBits: 15 };
}

const KNOWN = new Set([
  "server_no_context_takeover",
  "client_no_context_takeover",
  "server_max_window_bits",
  "client_max_window_bits",
]);

/**
 * Reads permessage-deflate parameters: `null` for an unknown or repeated
 * name, a value on a flag, or a window size outside 8–15 (§7.1).
 */
function readParams(
  params: readonly ExtensionParam[],
  side: "offer" | "response",
): Map<string, number | true> | null {
  const seen = new Map<string, number | true>();
  for (const [name, value] of params) {
    if (!KNOWN.has(name) || seen.has(name)) return null;
    if (name.endsWith("_no_context_takeover")) {
      if (value !== true) return null;
      seen.set(name, true);
      continue;
    }
    // A window size: 8–15 without leading zeros; client_max_window_bits may
    // come without a value in an offer.
    if (value === true) {
      if (name === "client_max_window_bits" && side === "offer") {
        seen.set(name, true);
        continue;
      }
      if (name === "server_max_window_bits") {
        seen.set(name, true);
        continue;
      }
      return null;
    }
    if (!/^(?:[89]|1[0-5])$/.test(value)) return null;
    seen.set(name, Number(value));
  }
  return seen;
}

/** How messages are compressed; see the `compression` connection option. */
export interface CompressionOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed: for a
   * short message, compressing costs more time than it saves bytes. Default
   * {@linkcode DEFAULT_COMPRESSION_THRESHOLD}.
   */
  threshold?: number;
  /** The DEFLATE compression level, 1 (fastest) to 9 (smallest). Default 1. */
  level?: number;
}

/** The default size from which messages are compressed: 1,024 bytes. */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

/**
 * Makes the {@linkcode MessageCompressor} for one agreement: the platform's
 * raw DEFLATE, compressing with at most `windowBits` of window at `level`.
 */
export type DeflateEngine = (windowBits: number, level: number) => MessageCompressor;

/**
 * What one connection agreed: the compressor a {@linkcode Protocol} uses
 * (it satisfies `ProtocolCompression`), the window each side may use, and
 * the extension as the server's response states it.
 */
export interface DeflateSession {
  /** The extension as the server's 101 response states it. */
  readonly response: Extension;
  /** The largest window (bits, 9–15) this side may compress with. */
  readonly windowBits: number;
  /** The compression level. */
  readonly level: number;
  /** Messages smaller than this many bytes go uncompressed. */
  readonly threshold: number;
  /** Compresses and decompresses this connection's messages. */
  readonly compressor: MessageCompressor;
}

/**
 * permessage-deflate (RFC 7692) end to end, for one side's settings: the
 * client's offer, the server's choice among offers, the client's check of
 * the answer, and the compressor for what was agreed. Client, server and
 * hub all go through it; nothing else parses the extension's parameters.
 *
 * The DEFLATE itself comes from the platform (`engine`): browsers have no
 * synchronous DEFLATE, and Deno's connections use `node:zlib`. Compressors
 * keep no state between messages (no context takeover), so one per window
 * serves every connection, and a `PreparedMessage` compressed with it
 * serves them all.
 *
 * @example A client and a server agree
 * ```ts
 * import { formatExtensions, PerMessageDeflate } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * // A stand-in engine; a real one deflates (see MessageCompressor).
 * const engine = () => ({ compress: (data: Uint8Array) => data, decompress: (data: Uint8Array) => data });
 * const client = new PerMessageDeflate(engine);
 * const server = new PerMessageDeflate(engine, { threshold: 256 });
 *
 * const session = server.acceptOffer([client.offer()])!;
 * assert.equal(session.threshold, 256);
 * const agreed = client.acceptResponse(session.response);
 * assert.equal(agreed.windowBits, 15);
 * assert.equal(
 *   formatExtensions([session.response]),
 *   "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
 * );
 * ```
 */
export class PerMessageDeflate {
  readonly #engine: DeflateEngine;
  // One compressor per window, shared by every session with that window.
  readonly #compressors = new Map<number, MessageCompressor>();
  /** Messages smaller than this many bytes go uncompressed. */
  readonly threshold: number;
  /** The compression level, 1–9. */
  readonly level: number;

  /**
   * Sets up the extension for one side.
   *
   * @param engine Makes a compressor for an agreed window and level.
   * @param options The threshold and level.
   * @throws {TypeError} For a threshold or level that is not a number.
   * @throws {RangeError} For a threshold that is not a whole number ≥ 0, or
   * a level outside 1–9.
   */
  constructor(engine: DeflateEngine, options: CompressionOptions = {}) {
    const what = "use compression";
    const threshold = options.threshold ?? DEFAULT_COMPRESSION_THRESHOLD;
    if (nonNegative("threshold", threshold, what) === Infinity) {
      throw new RangeError(`Cannot use compression: threshold must be finite, got ${threshold}`);
    }
    const level = wholeAtLeast("level", options.level ?? 1, 1, what);
    if (level > 9) {
      throw new RangeError(`Cannot use compression: level must be 1 to 9, got ${level}`);
    }
    this.#engine = engine;
    this.threshold = threshold;
    this.level = level;
  }

  /**
   * The client's offer: without context takeover either way.
   *
   * @returns The extension to offer.
   */
  offer(): Extension {
    return deflateOffer();
  }

  /**
   * The server's side: takes the first offer it can honour (see
   * {@linkcode negotiateDeflate}).
   *
   * @param offers The extensions the client offered, in its order.
   * @returns The agreement, or `null` to go without compression.
   */
  acceptOffer(offers: readonly Extension[]): DeflateSession | null {
    const agreement = negotiateDeflate(offers);
    return agreement === null ? null : this.#session(agreement, agreement.serverMaxWindowBits);
  }

  /**
   * The client's side: checks the server's answer to {@linkcode offer}
   * (see {@linkcode acceptDeflateResponse}).
   *
   * @param response The permessage-deflate extension of the 101 response.
   * @returns The agreement.
   * @throws {SyntaxError} If the answer is not a valid one to the offer.
   */
  acceptResponse(response: Extension): DeflateSession {
    const agreement = acceptDeflateResponse(response);
    return this.#session(agreement, agreement.clientMaxWindowBits);
  }

  #compressorFor(windowBits: number): MessageCompressor {
    let compressor = this.#compressors.get(windowBits);
    if (compressor === undefined) {
      compressor = this.#engine(windowBits, this.level);
      this.#compressors.set(windowBits, compressor);
    }
    return compressor;
  }

  #session(agreement: DeflateAgreement, windowBits: number): DeflateSession {
    return {
      response: agreement.response,
      windowBits,
      level: this.level,
      threshold: this.threshold,
      compressor: this.#compressorFor(windowBits),
    };
  }
}
