// Copyright 2026 the Duplex authors. MIT license.
/**
 * HTTP/1.1 message bodies (RFC 7230 §3.3): how a body is delimited, and a
 * bounded decoder for `Content-Length`, chunked and read-until-close bodies.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { concatBytes } from "./_bytes.ts";
import { badRequest } from "./_head_text.ts";
import { nonNegative, oneOf } from "./_validate.ts";

const LF = 0x0a;
const EMPTY = new Uint8Array(0);
// The first buffer for a body of unknown length.
const MIN_CAPACITY = 1024;

/** How a message body is delimited (RFC 7230 §3.3.3). */
export type BodyFraming =
  | {
    /** No body. */
    kind: "none";
  }
  | {
    /** Exactly `length` bytes. */
    kind: "length";
    /** The body's length. */
    length: number;
  }
  | {
    /** Chunked transfer coding. */
    kind: "chunked";
  }
  | {
    /** Everything until the connection closes (responses only). */
    kind: "close";
  };

/**
 * Works out how a message's body is delimited (RFC 7230 §3.3.3).
 *
 * @param headers The message's headers.
 * @param response For a response: its status and the request's method,
 * which decide whether it has a body at all. Omit for a request.
 * @returns The framing.
 * @throws {HandshakeError} 400 for an invalid or conflicting length, or a
 * transfer coding other than chunked on a request (501 would also do; 400
 * keeps one status for framing errors).
 *
 * @example
 * ```ts
 * import { bodyFraming } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(bodyFraming(new Headers({ "content-length": "5" })), { kind: "length", length: 5 });
 * assert.deepEqual(bodyFraming(new Headers()), { kind: "none" });
 * ```
 */
export function bodyFraming(
  headers: Pick<Headers, "get">,
  response?: { status: number; method: string },
): BodyFraming {
  if (response !== undefined) {
    const { status, method } = response;
    if (method === "HEAD" || (status >= 100 && status < 200) || status === 204 || status === 304) {
      return { kind: "none" };
    }
  }
  const transferEncoding = headers.get("transfer-encoding");
  if (transferEncoding !== null) {
    const codings = transferEncoding.split(",").map((coding) => coding.trim().toLowerCase());
    if (
      codings[codings.length - 1] === "chunked" && codings.indexOf("chunked") === codings.length - 1
    ) {
      return { kind: "chunked" };
    }
    if (response !== undefined) return { kind: "close" };
    badRequest(
      "INVALID_TRANSFER_ENCODING",
      `transfer coding ${JSON.stringify(transferEncoding)} is not supported`,
    );
  }
  const contentLength = headers.get("content-length");
  if (contentLength !== null) {
    // Repeated headers arrive joined with commas; they must all agree.
    const values = new Set(contentLength.split(",").map((value) => value.trim()));
    const [value] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(value!)) {
      badRequest(
        "INVALID_CONTENT_LENGTH",
        `Content-Length ${JSON.stringify(contentLength)} is invalid`,
      );
    }
    return { kind: "length", length: Number(value) };
  }
  return response === undefined ? { kind: "none" } : { kind: "close" };
}

/** Options for {@linkcode BodyDecoder}. */
export interface BodyDecoderOptions {
  /** The most body bytes to accept. Default: no limit. */
  maxSize?: number;
  /**
   * What to do with a body larger than `maxSize`: `"error"` (a 413
   * {@linkcode HandshakeError}) or `"truncate"` (keep the first `maxSize`
   * bytes, drop the rest). Default `"error"`.
   */
  overflow?: "error" | "truncate";
}

// Where a chunked body decoder is.
const SIZE_LINE = 0;
const DATA = 1;
const DATA_END = 2;
const TRAILERS = 3;
const DONE = 4;

/**
 * Decodes a message body from chunks of any size, for any
 * {@linkcode BodyFraming}: a fixed length, chunked transfer coding, or
 * everything until the connection closes.
 *
 * @example A chunked body
 * ```ts
 * import { BodyDecoder } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const decoder = new BodyDecoder({ kind: "chunked" });
 * decoder.push(new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\nnext"));
 * assert.equal(decoder.done, true);
 * assert.equal(new TextDecoder().decode(decoder.body), "abc");
 * assert.equal(new TextDecoder().decode(decoder.rest), "next");
 * ```
 */
export class BodyDecoder {
  readonly #framing: BodyFraming;
  readonly #maxSize: number;
  readonly #truncate: boolean;
  // The body so far, in one buffer that grows by doubling (capped at the
  // limit): memory stays within twice the body, however it was chunked.
  #buffer: Uint8Array = EMPTY;
  #size = 0;
  #done: boolean;
  #rest: Uint8Array = EMPTY;
  // Chunked state: where we are, bytes left in the current chunk, the line so far.
  #state = SIZE_LINE;
  #remaining: number;
  #line = "";

  /**
   * Creates a decoder.
   *
   * @param framing How the body is delimited.
   * @param options The size limit and what to do past it.
   * @throws {TypeError} For an unknown framing kind or overflow policy.
   * @throws {RangeError} For a length or maxSize that is not a whole number ≥ 0.
   * @throws {HandshakeError} 413 for a declared length over `maxSize`.
   */
  constructor(framing: BodyFraming, options: BodyDecoderOptions = {}) {
    const what = "create body decoder";
    oneOf("kind", framing?.kind, ["none", "length", "chunked", "close"] as const, what);
    if (framing.kind === "length") nonNegative("length", framing.length, what);
    this.#framing = framing;
    this.#maxSize = nonNegative("maxSize", options.maxSize ?? Infinity, what);
    this.#truncate =
      oneOf("overflow", options.overflow ?? "error", ["error", "truncate"] as const, what) ===
        "truncate";
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
    if (framing.kind === "length" && framing.length > this.#maxSize && !this.#truncate) {
      this.#tooLarge();
    }
  }

  /** Whether the whole body has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** The body received so far (or kept, when truncating). */
  get body(): Uint8Array {
    return this.#buffer.subarray(0, this.#size);
  }

  /** Bytes that followed the body in the last chunk, once it is done. */
  get rest(): Uint8Array {
    return this.#rest;
  }

  /**
   * Adds bytes.
   *
   * @param chunk The next bytes; copied as needed.
   * @throws {HandshakeError} 400 for malformed chunked coding; 413 for a body
   * over `maxSize` (unless truncating).
   */
  push(chunk: Uint8Array): void {
    if (this.#done) {
      this.#rest = concatBytes([this.#rest, chunk]);
      return;
    }
    switch (this.#framing.kind) {
      case "close":
        this.#keep(chunk);
        return;
      case "length": {
        const take = Math.min(this.#remaining, chunk.length);
        this.#keep(chunk.subarray(0, take));
        this.#remaining -= take;
        if (this.#remaining === 0) {
          this.#done = true;
          this.#rest = chunk.slice(take);
        }
        return;
      }
      case "chunked":
        this.#pushChunked(chunk);
        return;
    }
  }

  /**
   * Records the end of the connection; a close-delimited body is then done.
   *
   * @throws {HandshakeError} 400 if a length-delimited or chunked body was cut short.
   */
  end(): void {
    if (this.#done) return;
    if (this.#framing.kind === "close") {
      this.#done = true;
      return;
    }
    badRequest("TRUNCATED_BODY", "the connection closed before the end of the body");
  }

  #keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const room = this.#maxSize - this.#size;
    if (bytes.length > room) {
      if (!this.#truncate) this.#tooLarge();
      if (room <= 0) return;
      bytes = bytes.subarray(0, room);
    }
    const size = this.#size + bytes.length;
    if (size > this.#buffer.length) this.#grow(size);
    this.#buffer.set(bytes, this.#size);
    this.#size = size;
  }

  /** Room for `size` bytes: doubling, never past the limit or a declared length. */
  #grow(size: number): void {
    const cap = this.#framing.kind === "length"
      ? Math.min(this.#framing.length, this.#maxSize)
      : this.#maxSize;
    const capacity = Math.max(size, Math.min(Math.max(this.#buffer.length * 2, MIN_CAPACITY), cap));
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.#size));
    this.#buffer = grown;
  }

  #tooLarge(): never {
    badRequest("BODY_TOO_LARGE", `the body is larger than ${this.#maxSize} bytes`, 413);
  }

  #pushChunked(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && this.#state !== DONE) {
      switch (this.#state) {
        case DATA: {
          const take = Math.min(this.#remaining, n - i);
          this.#keep(chunk.subarray(i, i + take));
          this.#remaining -= take;
          i += take;
          if (this.#remaining === 0) this.#state = DATA_END;
          break;
        }
        default: {
          // Line-oriented states: gather one line, bounded.
          const byte = chunk[i++]!;
          if (byte !== LF) {
            this.#line += String.fromCharCode(byte);
            if (this.#line.length > 4096) badRequest("INVALID_CHUNK", "a chunk line is too long");
            break;
          }
          if (!this.#line.endsWith("\r")) {
            badRequest("BARE_LF", "a chunk line ends with LF instead of CRLF");
          }
          const line = this.#line.slice(0, -1);
          this.#line = "";
          this.#endLine(line);
        }
      }
    }
    if (this.#state === DONE) {
      this.#done = true;
      this.#rest = chunk.slice(i);
    }
  }

  #endLine(line: string): void {
    switch (this.#state) {
      case SIZE_LINE: {
        // chunk-size [ chunk-ext ]; extensions are ignored.
        const size = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(line);
        if (size === null) {
          badRequest("INVALID_CHUNK", `${JSON.stringify(line.slice(0, 40))} is not a chunk size`);
        }
        this.#remaining = parseInt(size[1]!, 16);
        this.#state = this.#remaining === 0 ? TRAILERS : DATA;
        return;
      }
      case DATA_END:
        if (line !== "") badRequest("INVALID_CHUNK", "chunk data is longer than its size");
        this.#state = SIZE_LINE;
        return;
      case TRAILERS:
        // Trailer fields are read and dropped; an empty line ends the body.
        if (line === "") this.#state = DONE;
        return;
    }
  }
}
