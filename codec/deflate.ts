// Copyright 2026 the Duplex authors. MIT license.
/**
 * permessage-deflate (RFC 7692): the negotiation of its four parameters,
 * and the compressors a {@linkcode Protocol} uses for what was agreed.
 *
 * - Context takeover is negotiated both ways by default: a compressor keeps
 *   its LZ77 window from one message to the next, so a stream of similar
 *   small messages (JSON, chat) compresses to a fraction of its size. A
 *   side without takeover shares one compressor, reset after each message,
 *   with every connection of the same window, and a broadcast compressed
 *   once serves them all.
 * - Windows are small by default (4 KiB, 12 bits, each way) and zlib's
 *   contexts are made on the first compressed message and freed at close,
 *   so that memory per connection stays bounded; `maxTakeoverContexts`
 *   caps how many connections hold them.
 *
 * The DEFLATE itself is not here: this module runs in browsers, which have
 * no synchronous DEFLATE stream. A {@linkcode DeflateEngine} is what a
 * platform supplies; on Deno, the package's connections use `node:zlib`.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import type { Extension, ExtensionParam } from "./headers.ts";
import { nonNegative, optionalBoolean, wholeAtLeast, wholeBetween } from "./_validate.ts";

/** The extension's registered name. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** The settings of a {@linkcode RawDeflater}. */
export interface DeflaterOptions {
  /**
   * The LZ77 window, as bits (8–15): the compressor never refers further
   * back than `2 ** windowBits` bytes.
   */
  windowBits: number;
  /** The compression level, 1 (fastest) to 9 (smallest). */
  level: number;
  /** zlib's memLevel, 1–9: the size of its match-finding tables. */
  memLevel: number;
  /**
   * `true` for a connection's own compressor, which keeps its window from
   * message to message (context takeover) and lives as long as the
   * connection; `false` for one shared by many connections, reset after
   * each message. An engine may choose its implementation by it: memory
   * counts for the first kind, speed for the second.
   */
  contextTakeover?: boolean | undefined;
}

/**
 * A raw DEFLATE compressor stream: what a platform supplies for one
 * direction of one connection (or, reset after each message, for many).
 */
export interface RawDeflater {
  /**
   * Compresses `data` as the next message: the stream goes on from the
   * messages before it (unless reset), and ends this one with a sync flush.
   *
   * @param data The message's payload.
   * @returns The DEFLATE data, without the final `00 00 ff ff` (§7.2.1).
   */
  deflate(data: Uint8Array): Uint8Array;
  /** Forgets the window: the next message refers to nothing before it. */
  reset(): void;
  /** Frees the stream. */
  close(): void;
}

/** A raw DEFLATE decompressor stream; see {@linkcode RawDeflater}. */
export interface RawInflater {
  /**
   * Decompresses one message, as received (without its `00 00 ff ff`
   * tail, which this appends, §7.2.2).
   *
   * @param data The compressed payload.
   * @param maxSize The most bytes the result may have.
   * @returns The payload.
   * @throws {RangeError} As soon as the result would pass `maxSize`.
   * @throws {Error} If the data is not valid DEFLATE.
   */
  inflate(data: Uint8Array, maxSize: number): Uint8Array;
  /** Forgets the window. */
  reset(): void;
  /** Frees the stream. */
  close(): void;
}

/** Makes DEFLATE streams: what a platform plugs into {@linkcode PerMessageDeflate}. */
export interface DeflateEngine {
  /** A compressor with these settings. */
  deflater(options: DeflaterOptions): RawDeflater;
  /** A decompressor for data compressed with at most `windowBits` of window. */
  inflater(windowBits: number): RawInflater;
}

/**
 * What a {@linkcode Protocol} compresses and decompresses whole messages
 * with, for one connection.
 */
export interface MessageCompressor {
  /**
   * Compresses a message payload.
   *
   * @param data The payload.
   * @returns The DEFLATE data, without the final `00 00 ff ff` (§7.2.1).
   */
  compress(data: Uint8Array): Uint8Array;
  /**
   * Decompresses a message payload.
   *
   * @param data The DEFLATE data as received, without the `00 00 ff ff` tail.
   * @param maxSize The most bytes the result may have.
   * @returns The payload.
   * @throws {RangeError} If the result would be larger than `maxSize`.
   * @throws {Error} If the data is not valid DEFLATE.
   */
  decompress(data: Uint8Array, maxSize: number): Uint8Array;
  /**
   * What `compress()`'s output depends on besides the payload: the same
   * object for every compressor that would produce the same bytes (no
   * context takeover, the same settings), so that a prepared message is
   * compressed once for all of them; `null` when it depends on this
   * connection's earlier messages (context takeover). Default: the
   * compressor itself.
   */
  readonly cacheKey?: object | null;
  /**
   * The message just compressed went out uncompressed after all (it did not
   * shrink): forget the window, which now holds what the peer never saw.
   */
  reset?(): void;
  /** The connection has ended: free what the compressor holds. */
  close?(): void;
}

/** What a permessage-deflate negotiation settled, for one connection. */
export interface DeflateAgreement {
  /** The extension as the server's response states it. */
  response: Extension;
  /** The largest LZ77 window (bits, 8–15) the server may compress with. */
  serverMaxWindowBits: number;
  /** The largest window the client may compress with. */
  clientMaxWindowBits: number;
  /** The server resets its window after each message. */
  serverNoContextTakeover: boolean;
  /** The client resets its window after each message. */
  clientNoContextTakeover: boolean;
}

/** What a client offers: see {@linkcode deflateOffer}. */
export interface DeflateOfferOptions {
  /** Ask the server not to keep its window between messages. Default `false`. */
  serverNoContextTakeover?: boolean | undefined;
  /** Say that this client will not keep its window. Default `false`. */
  clientNoContextTakeover?: boolean | undefined;
  /** Ask the server to compress with at most this window (8–15). Default: not asked. */
  serverMaxWindowBits?: number | undefined;
  /**
   * `true`: let the server choose the client's window (the parameter
   * without a value, as browsers send it); a number: compress with at most
   * this window, and say so; `false`: leave the parameter out. Default `true`.
   */
  clientMaxWindowBits?: number | boolean | undefined;
}

/**
 * A client's permessage-deflate offer.
 *
 * @param options What to ask of the server and to say of the client.
 * @returns The extension to offer.
 *
 * @example
 * ```ts
 * import { deflateOffer, formatExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatExtensions([deflateOffer()]), "permessage-deflate; client_max_window_bits");
 * assert.equal(
 *   formatExtensions([deflateOffer({ serverNoContextTakeover: true, serverMaxWindowBits: 10 })]),
 *   "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
 * );
 * ```
 */
export function deflateOffer(options: DeflateOfferOptions = {}): Extension {
  const params: ExtensionParam[] = [];
  if (options.serverNoContextTakeover === true) params.push(["server_no_context_takeover", true]);
  if (options.clientNoContextTakeover === true) params.push(["client_no_context_takeover", true]);
  if (typeof options.serverMaxWindowBits === "number") {
    params.push(["server_max_window_bits", String(options.serverMaxWindowBits)]);
  }
  const client = options.clientMaxWindowBits ?? true;
  if (client !== false) {
    params.push(["client_max_window_bits", client === true ? true : String(client)]);
  }
  return { name: PERMESSAGE_DEFLATE, params };
}

/** What a server accepts: see {@linkcode negotiateDeflate}. */
export interface DeflateAcceptOptions {
  /** Never keep the server's window between messages. Default `false`. */
  serverNoContextTakeover?: boolean | undefined;
  /** Ask the client not to keep its window (the server's inflater is then shared). Default `false`. */
  clientNoContextTakeover?: boolean | undefined;
  /** The largest window the server compresses with (8–15), stated in the response. Default 15. */
  serverMaxWindowBits?: number | undefined;
  /**
   * The largest window the client may compress with (8–15), when its offer
   * lets the server choose (`client_max_window_bits`). Default 15.
   */
  clientMaxWindowBits?: number | undefined;
}

/**
 * A server's side of the negotiation (RFC 7692 §5, §7.1): takes the first
 * permessage-deflate offer it can honour, in the client's order, and states
 * in its response what it agreed. An offer with an unknown or repeated
 * parameter, a value where none belongs, a window outside 8–15, or
 * `server_max_window_bits` without a value is declined (the next one is
 * tried). `server_no_context_takeover` offered is accepted; the client's
 * window is limited only if its offer has `client_max_window_bits`.
 *
 * @param offers The extensions the client offered, in its order.
 * @param options What this server asks for on its side.
 * @returns What was agreed, or `null` to go without compression.
 *
 * @example A browser's offer
 * ```ts
 * import { formatExtensions, negotiateDeflate, parseExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const offers = parseExtensions("permessage-deflate; client_max_window_bits");
 * const agreed = negotiateDeflate(offers, { serverMaxWindowBits: 12, clientMaxWindowBits: 12 });
 * assert.equal(
 *   formatExtensions([agreed!.response]),
 *   "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
 * );
 * assert.equal(agreed!.serverNoContextTakeover, false);
 * assert.equal(negotiateDeflate(parseExtensions("x-webkit-deflate-frame")), null);
 * ```
 */
export function negotiateDeflate(
  offers: readonly Extension[],
  options: DeflateAcceptOptions = {},
): DeflateAgreement | null {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const params = readParams(offer.params);
    if (params === null) continue;
    const offeredServerBits = params.get("server_max_window_bits");
    // Offered without a value is malformed for this parameter (§7.1.2.1).
    if (offeredServerBits === true) continue;
    const serverMaxWindowBits = Math.min(
      offeredServerBits ?? 15,
      options.serverMaxWindowBits ?? 15,
    );
    const offeredClientBits = params.get("client_max_window_bits");
    // Without client_max_window_bits in the offer, the client may use any window.
    const clientMaxWindowBits = offeredClientBits === undefined ? 15 : Math.min(
      offeredClientBits === true ? 15 : offeredClientBits,
      options.clientMaxWindowBits ?? 15,
    );
    const serverNoContextTakeover = params.has("server_no_context_takeover") ||
      options.serverNoContextTakeover === true;
    // Offered, it says the client will not keep its window: stated back,
    // the client must not (§7.1.1.2).
    const clientNoContextTakeover = params.has("client_no_context_takeover") ||
      options.clientNoContextTakeover === true;
    const response: ExtensionParam[] = [];
    if (serverNoContextTakeover) response.push(["server_no_context_takeover", true]);
    if (clientNoContextTakeover) response.push(["client_no_context_takeover", true]);
    // Stated when asked for, and when smaller than the 15 the client assumes.
    if (offeredServerBits !== undefined || serverMaxWindowBits < 15) {
      response.push(["server_max_window_bits", String(serverMaxWindowBits)]);
    }
    if (offeredClientBits !== undefined && clientMaxWindowBits < 15) {
      response.push(["client_max_window_bits", String(clientMaxWindowBits)]);
    }
    return {
      response: { name: PERMESSAGE_DEFLATE, params: response },
      serverMaxWindowBits,
      clientMaxWindowBits,
      serverNoContextTakeover,
      clientNoContextTakeover,
    };
  }
  return null;
}

/**
 * A client's check of the server's answer to its offer (RFC 7692 §7.1):
 * only known parameters, each once, with valid values;
 * `server_no_context_takeover` back if it was offered; a
 * `server_max_window_bits` no larger than asked, and present if asked; a
 * `client_max_window_bits` only if offered, with a value no larger than
 * offered.
 *
 * @param response The permessage-deflate extension of the server's response.
 * @param offer The offer the client sent. Default: {@linkcode deflateOffer}'s.
 * @returns What was agreed.
 * @throws {SyntaxError} If the response is not a valid answer to the offer.
 *
 * @example
 * ```ts
 * import { acceptDeflateResponse, parseExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const [extension] = parseExtensions("permessage-deflate; client_max_window_bits=10");
 * const agreed = acceptDeflateResponse(extension!);
 * assert.equal(agreed.clientMaxWindowBits, 10);
 * assert.equal(agreed.serverNoContextTakeover, false);
 * assert.throws(
 *   () => acceptDeflateResponse(parseExtensions("permessage-deflate; client_max_window_bits")[0]!),
 *   SyntaxError,
 * );
 * ```
 */
export function acceptDeflateResponse(
  response: Extension,
  offer: Extension = deflateOffer(),
): DeflateAgreement {
  const fail = (why: string): never => {
    throw new SyntaxError(`Cannot accept ${PERMESSAGE_DEFLATE}: ${why}`);
  };
  if (response.name !== PERMESSAGE_DEFLATE) {
    throw new SyntaxError(`Cannot accept ${response.name}: it is not ${PERMESSAGE_DEFLATE}`);
  }
  const params = readParams(response.params);
  if (params === null) {
    return fail("a parameter of the response is unknown, repeated or malformed");
  }
  const offered = readParams(offer.params) ?? new Map<string, number | true>();
  if (offered.has("server_no_context_takeover") && !params.has("server_no_context_takeover")) {
    fail("the response lacks server_no_context_takeover, which was offered");
  }
  const askedServerBits = offered.get("server_max_window_bits");
  const serverBits = params.get("server_max_window_bits");
  if (serverBits === true) fail("server_max_window_bits needs a value");
  if (typeof askedServerBits === "number") {
    if (serverBits === undefined) {
      fail(`the response lacks server_max_window_bits, which was offered as ${askedServerBits}`);
    }
    if ((serverBits as number) > askedServerBits) {
      fail(`server_max_window_bits=${serverBits} is larger than the ${askedServerBits} offered`);
    }
  }
  const offeredClientBits = offered.get("client_max_window_bits");
  const clientBits = params.get("client_max_window_bits");
  if (clientBits !== undefined) {
    // §7.1.2.2: only in answer to an offer that has it, and with a value.
    if (offeredClientBits === undefined) fail("client_max_window_bits was not offered");
    if (clientBits === true) fail("client_max_window_bits needs a value in a response");
    if (typeof offeredClientBits === "number" && (clientBits as number) > offeredClientBits) {
      fail(`client_max_window_bits=${clientBits} is larger than the ${offeredClientBits} offered`);
    }
  }
  return {
    response,
    serverMaxWindowBits: (serverBits as number | undefined) ?? 15,
    clientMaxWindowBits: (clientBits as number | undefined) ??
      (typeof offeredClientBits === "number" ? offeredClientBits : 15),
    serverNoContextTakeover: params.has("server_no_context_takeover"),
    clientNoContextTakeover: params.has("client_no_context_takeover") ||
      offered.has("client_no_context_takeover"),
  };
}

const KNOWN = new Set([
  "server_no_context_takeover",
  "client_no_context_takeover",
  "server_max_window_bits",
  "client_max_window_bits",
]);

/**
 * Reads permessage-deflate parameters: `null` for an unknown or repeated
 * name, a value on a flag, or a window size outside 8–15 (§7.1). A window
 * parameter without a value reads as `true`: the caller decides whether it
 * may (only `client_max_window_bits`, in an offer).
 */
function readParams(params: readonly ExtensionParam[]): Map<string, number | true> | null {
  const seen = new Map<string, number | true>();
  for (const [name, value] of params) {
    if (!KNOWN.has(name) || seen.has(name)) return null;
    if (name.endsWith("_no_context_takeover")) {
      if (value !== true) return null;
      seen.set(name, true);
      continue;
    }
    if (value === true) {
      // Without a value: client_max_window_bits may come so in an offer;
      // every other case is refused by the caller, with its own message.
      seen.set(name, true);
      continue;
    }
    // 8–15, without leading zeros (§7.1.2).
    if (!/^(?:[89]|1[0-5])$/.test(value)) return null;
    seen.set(name, Number(value));
  }
  return seen;
}

/**
 * How messages are compressed: the `compression` connection option. The
 * window and takeover settings mean, for each side, what it asks of the
 * other and what it allows itself; see the README's table for memory per
 * connection at each setting.
 */
export interface CompressionOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed. Default:
   * {@linkcode DEFAULT_TAKEOVER_THRESHOLD} when this side keeps its window
   * (small messages then compress well), else
   * {@linkcode DEFAULT_COMPRESSION_THRESHOLD}. `send(data, { compress })`
   * overrides it for one message.
   */
  threshold?: number;
  /** The DEFLATE level, 1 (fastest) to 9 (smallest). Default {@linkcode DEFAULT_COMPRESSION_LEVEL}. */
  level?: number;
  /**
   * zlib's memLevel, 1–9: its match-finding tables take `2 ** (memLevel + 9)`
   * bytes per compressor. Default {@linkcode DEFAULT_MEM_LEVEL}.
   */
  memLevel?: number;
  /**
   * The server's LZ77 window, as bits (8–15). A server compresses with at
   * most this, and says so; a client asks for it. Default: 12 on a server
   * (4 KiB); a client does not ask.
   */
  serverMaxWindowBits?: number;
  /**
   * The client's window. A server limits the client to it when the offer
   * lets it choose (default 12); a client offers `client_max_window_bits`
   * with this value (a number), without one (`true`, the default), or not
   * at all (`false`), and never compresses with more than 12 bits unless a
   * number here says otherwise.
   */
  clientMaxWindowBits?: number | boolean;
  /** No context takeover for the server: a client asks for it, a server imposes it. Default `false`. */
  serverNoContextTakeover?: boolean;
  /** No context takeover for the client: a client declares it, a server imposes it. Default `false`. */
  clientNoContextTakeover?: boolean;
  /**
   * The most connections that may hold context-takeover state at once, for
   * everything that shares these options (a hub, a server's upgrades). Past
   * it, new connections negotiate no takeover both ways and share
   * compressors instead. Default: no limit.
   */
  maxTakeoverContexts?: number;
}

/** The size from which messages are compressed without context takeover: 1,024 bytes. */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

/** The size from which messages are compressed with context takeover: 16 bytes. */
export const DEFAULT_TAKEOVER_THRESHOLD = 16;

/** The default DEFLATE level: 6 (zlib's own default), measured in the README. */
export const DEFAULT_COMPRESSION_LEVEL = 6;

/** The default zlib memLevel: 5 (16 KiB of match tables per compressor). */
export const DEFAULT_MEM_LEVEL = 5;

/** The default window each way, as bits: 12 (4 KiB). */
export const DEFAULT_WINDOW_BITS = 12;

/**
 * What one connection agreed: the compressor a {@linkcode Protocol} uses
 * (it satisfies `ProtocolCompression`), the windows and takeover of each
 * side, and the extension as the server's response states it.
 */
export interface DeflateSession {
  /** The extension as the server's 101 response states it. */
  readonly response: Extension;
  /** The window (bits, 8–15) this side compresses with. */
  readonly windowBits: number;
  /** The window (bits) the peer may compress with: this side inflates with it. */
  readonly peerWindowBits: number;
  /** Whether this side keeps its window between the messages it sends. */
  readonly takeover: boolean;
  /** Whether the peer keeps its window between the messages it sends. */
  readonly peerTakeover: boolean;
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
 * the answer, and the compressors for what was agreed. Client, server and
 * hub all go through it; nothing else parses the extension's parameters.
 *
 * With context takeover, a connection gets its own compressor (and, if
 * the peer keeps its window, its own decompressor), made on the first
 * message that needs it and freed by `close()`. Without, connections share
 * one per window, reset after each message.
 *
 * @example A client and a server agree
 * ```ts
 * import { formatExtensions, PerMessageDeflate } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * // A stand-in engine; a real one deflates (see RawDeflater).
 * const stream = { deflate: (d: Uint8Array) => d, inflate: (d: Uint8Array) => d, reset() {}, close() {} };
 * const engine = { deflater: () => stream, inflater: () => stream };
 * const client = new PerMessageDeflate(engine);
 * const server = new PerMessageDeflate(engine, { threshold: 256 });
 *
 * const offer = client.offer();
 * const session = server.acceptOffer([offer])!;
 * assert.equal(session.threshold, 256);
 * assert.equal(
 *   formatExtensions([session.response]),
 *   "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
 * );
 * const agreed = client.acceptResponse(session.response, offer);
 * assert.equal(agreed.windowBits, 12);
 * assert.equal(agreed.takeover, true);
 * agreed.compressor.close?.();
 * session.compressor.close?.();
 * ```
 */
export class PerMessageDeflate {
  readonly #options: CompressionOptions;
  readonly #pool: Pool;
  /** Messages smaller than this many bytes go uncompressed, when set. */
  readonly threshold: number | undefined;
  /** The compression level, 1–9. */
  readonly level: number;
  /** zlib's memLevel, 1–9. */
  readonly memLevel: number;
  /** The most sessions holding takeover state at once. */
  readonly maxTakeoverContexts: number;

  /**
   * Sets up the extension for one side.
   *
   * @param engine Makes the DEFLATE streams.
   * @param options Thresholds, level, windows and takeover.
   * @throws {TypeError} For a value of the wrong type.
   * @throws {RangeError} For a number out of range.
   */
  constructor(engine: DeflateEngine, options: CompressionOptions = {}) {
    const what = "use compression";
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Cannot use compression: the option must be a boolean or an object");
    }
    if (options.threshold !== undefined) {
      if (nonNegative("threshold", options.threshold, what) === Infinity) {
        throw new RangeError(
          `Cannot use compression: threshold must be finite, got ${options.threshold}`,
        );
      }
    }
    this.level = wholeBetween("level", options.level ?? DEFAULT_COMPRESSION_LEVEL, 1, 9, what);
    this.memLevel = wholeBetween("memLevel", options.memLevel ?? DEFAULT_MEM_LEVEL, 1, 9, what);
    if (options.serverMaxWindowBits !== undefined) {
      wholeBetween("serverMaxWindowBits", options.serverMaxWindowBits, 8, 15, what);
    }
    const client = options.clientMaxWindowBits;
    if (client !== undefined && typeof client !== "boolean") {
      wholeBetween("clientMaxWindowBits", client, 8, 15, what);
    }
    optionalBoolean("serverNoContextTakeover", options.serverNoContextTakeover, what);
    optionalBoolean("clientNoContextTakeover", options.clientNoContextTakeover, what);
    this.maxTakeoverContexts = options.maxTakeoverContexts === undefined
      ? Infinity
      : wholeAtLeast("maxTakeoverContexts", options.maxTakeoverContexts, 0, what);
    this.#options = { ...options };
    this.#pool = new Pool(engine, this.level, this.memLevel);
    this.threshold = options.threshold;
  }

  /** Sessions that hold (or may make) context-takeover state now: open, not yet closed. */
  get takeoverContexts(): number {
    return this.#pool.takeoverSessions;
  }

  /**
   * The client's offer, from its options.
   *
   * @returns The extension to offer; pass it back to {@linkcode acceptResponse}.
   */
  offer(): Extension {
    const options = this.#options;
    const full = this.#pool.takeoverSessions >= this.maxTakeoverContexts;
    return deflateOffer({
      serverNoContextTakeover: full || options.serverNoContextTakeover,
      clientNoContextTakeover: full || options.clientNoContextTakeover,
      serverMaxWindowBits: options.serverMaxWindowBits,
      clientMaxWindowBits: options.clientMaxWindowBits,
    });
  }

  /**
   * The server's side: takes the first offer it can honour (see
   * {@linkcode negotiateDeflate}), asking for no takeover either way once
   * `maxTakeoverContexts` connections hold takeover state.
   *
   * @param offers The extensions the client offered, in its order.
   * @returns The agreement, or `null` to go without compression.
   */
  acceptOffer(offers: readonly Extension[]): DeflateSession | null {
    const options = this.#options;
    const full = this.#pool.takeoverSessions >= this.maxTakeoverContexts;
    const agreement = negotiateDeflate(offers, {
      serverNoContextTakeover: full || options.serverNoContextTakeover,
      clientNoContextTakeover: full || options.clientNoContextTakeover,
      serverMaxWindowBits: options.serverMaxWindowBits ?? DEFAULT_WINDOW_BITS,
      clientMaxWindowBits: typeof options.clientMaxWindowBits === "number"
        ? options.clientMaxWindowBits
        : DEFAULT_WINDOW_BITS,
    });
    if (agreement === null) return null;
    return this.#session(agreement, {
      windowBits: agreement.serverMaxWindowBits,
      peerWindowBits: agreement.clientMaxWindowBits,
      takeover: !agreement.serverNoContextTakeover,
      peerTakeover: !agreement.clientNoContextTakeover,
    });
  }

  /**
   * The client's side: checks the server's answer to the offer (see
   * {@linkcode acceptDeflateResponse}).
   *
   * @param response The permessage-deflate extension of the 101 response.
   * @param offer What {@linkcode offer} returned for this connection.
   * @returns The agreement.
   * @throws {SyntaxError} If the answer is not a valid one to the offer.
   */
  acceptResponse(response: Extension, offer: Extension = this.offer()): DeflateSession {
    const agreement = acceptDeflateResponse(response, offer);
    const own = this.#options.clientMaxWindowBits;
    return this.#session(agreement, {
      // A sender may always use less window than it is allowed.
      windowBits: Math.min(
        agreement.clientMaxWindowBits,
        typeof own === "number" ? own : DEFAULT_WINDOW_BITS,
      ),
      peerWindowBits: agreement.serverMaxWindowBits,
      takeover: !agreement.clientNoContextTakeover,
      peerTakeover: !agreement.serverNoContextTakeover,
    });
  }

  #session(
    agreement: DeflateAgreement,
    sides: { windowBits: number; peerWindowBits: number; takeover: boolean; peerTakeover: boolean },
  ): DeflateSession {
    const compressor = new SessionCompressor(
      this.#pool,
      sides.windowBits,
      sides.peerWindowBits,
      sides.takeover,
      sides.peerTakeover,
    );
    return {
      response: agreement.response,
      ...sides,
      level: this.level,
      threshold: this.threshold ??
        (sides.takeover ? DEFAULT_TAKEOVER_THRESHOLD : DEFAULT_COMPRESSION_THRESHOLD),
      compressor,
    };
  }
}

/**
 * What the sessions of one {@linkcode PerMessageDeflate} share: the engine
 * and settings, the streams of the sides without takeover (one per window,
 * reset after each message), and the count of sessions with takeover.
 */
class Pool {
  readonly #deflaters = new Map<number, RawDeflater>();
  readonly #inflaters = new Map<number, RawInflater>();
  // What a prepared message's compressed frame is cached by, per window.
  readonly #keys = new Map<number, object>();
  takeoverSessions = 0;

  constructor(readonly engine: DeflateEngine, readonly level: number, readonly memLevel: number) {}

  deflater(windowBits: number, contextTakeover: boolean): RawDeflater {
    return this.engine.deflater({
      windowBits,
      level: this.level,
      memLevel: this.memLevel,
      contextTakeover,
    });
  }

  sharedDeflater(windowBits: number): RawDeflater {
    let deflater = this.#deflaters.get(windowBits);
    if (deflater === undefined) {
      this.#deflaters.set(windowBits, deflater = this.deflater(windowBits, false));
    }
    return deflater;
  }

  sharedInflater(windowBits: number): RawInflater {
    let inflater = this.#inflaters.get(windowBits);
    if (inflater === undefined) {
      this.#inflaters.set(windowBits, inflater = this.engine.inflater(windowBits));
    }
    return inflater;
  }

  keyFor(windowBits: number): object {
    let key = this.#keys.get(windowBits);
    if (key === undefined) this.#keys.set(windowBits, key = {});
    return key;
  }
}

/**
 * One connection's {@linkcode MessageCompressor}: its own streams for the
 * sides with takeover (made on first use, freed by `close()`), the pool's
 * for the others.
 */
class SessionCompressor implements MessageCompressor {
  #deflater: RawDeflater | null = null;
  #inflater: RawInflater | null = null;
  #counted: boolean;
  #closed = false;

  constructor(
    readonly pool: Pool,
    readonly windowBits: number,
    readonly peerWindowBits: number,
    readonly takeover: boolean,
    readonly peerTakeover: boolean,
  ) {
    this.#counted = takeover || peerTakeover;
    if (this.#counted) pool.takeoverSessions++;
  }

  get cacheKey(): object | null {
    return this.takeover ? null : this.pool.keyFor(this.windowBits);
  }

  compress(data: Uint8Array): Uint8Array {
    if (this.#closed) throw new Error("Cannot compress: the connection has ended");
    if (this.takeover) {
      return (this.#deflater ??= this.pool.deflater(this.windowBits, true)).deflate(data);
    }
    const shared = this.pool.sharedDeflater(this.windowBits);
    try {
      return shared.deflate(data);
    } finally {
      shared.reset();
    }
  }

  decompress(data: Uint8Array, maxSize: number): Uint8Array {
    if (this.#closed) throw new Error("Cannot decompress: the connection has ended");
    if (this.peerTakeover) {
      const inflater = this.#inflater ??= this.pool.engine.inflater(this.peerWindowBits);
      return inflater.inflate(data, maxSize);
    }
    const shared = this.pool.sharedInflater(this.peerWindowBits);
    try {
      return shared.inflate(data, maxSize);
    } finally {
      shared.reset();
    }
  }

  reset(): void {
    this.#deflater?.reset();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deflater?.close();
    this.#inflater?.close();
    this.#deflater = null;
    this.#inflater = null;
    if (this.#counted) {
      this.#counted = false;
      this.pool.takeoverSessions--;
    }
  }
}
