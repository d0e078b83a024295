// Copyright 2026 the Duplex authors. MIT license.
/**
 * A bounded HTTP/1.1 message head parser and writer (RFC 7230 / RFC 9112):
 * just enough HTTP for the opening handshake and for serving a page and a
 * health check, with limits on bytes and header count checked as bytes
 * arrive. Strict where leniency has caused request smuggling: CRLF line
 * endings only, no obs-fold, no whitespace before a header's colon, one
 * `Host`, not both `Content-Length` and `Transfer-Encoding`.
 *
 * Errors are {@linkcode HandshakeError}s whose status is what a server
 * should answer (400, 414, 431, 505); when a client parses a response, the
 * status is that of the response if it could be read, 0 if not.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { HandshakeError } from "./errors.ts";
import {
  badRequest,
  DEFAULT_MAX_HEADER_COUNT as HEADER_COUNT,
  headText,
  parseFields,
  parseRequestText,
  requestHeadText,
} from "./_head_text.ts";
import { isHeaderValue, isToken } from "./headers.ts";
import { nonNegative, oneOf, positiveLimit } from "./_validate.ts";

/** Limits for {@linkcode HttpHeadReader}. */
export interface HttpHeadLimits {
  /** The most bytes a head may take, request line included. Default 8 KiB; more is a 431. */
  maxHeadSize?: number;
  /** The longest request or status line. Default 8 KiB; longer is a 414. */
  maxStartLineLength?: number;
  /** The most header fields. Default 100; more is a 431. */
  maxHeaderCount?: number;
}

/** Options for {@linkcode HttpHeadReader}. */
export interface HttpHeadReaderOptions extends HttpHeadLimits {
  /**
   * The head expected: with `"request"` or `"response"`, a start line that
   * cannot be a request line (or a status line) fails at its first wrong
   * byte, such as a TLS ClientHello sent to a plain HTTP port, instead of
   * waiting for a line end that may never come. Errors reading a response
   * have status 0: its status is unknown. Default: any head.
   */
  message?: "request" | "response";
}

/** The default limit on a message head's size: 8 KiB. */
export const DEFAULT_MAX_HEAD_SIZE = 8 * 1024;
/** The default limit on the number of header fields: 100. */
export const DEFAULT_MAX_HEADER_COUNT: number = HEADER_COUNT;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const DEL = 0x7f;
const HTTP_SLASH = [0x48, 0x54, 0x54, 0x50, 0x2f]; // "HTTP/"
const EMPTY = new Uint8Array(0);

/**
 * Gathers the bytes of an HTTP message head (through the empty line that
 * ends it) from chunks of any size, enforcing the size limits as they
 * arrive: a client cannot make the server buffer more than `maxHeadSize`.
 *
 * @example
 * ```ts
 * import { HttpHeadReader, parseRequestHead } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const reader = new HttpHeadReader();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\nextra");
 * assert.equal(reader.push(bytes.subarray(0, 10)), undefined);
 * const head = reader.push(bytes.subarray(10))!;
 * assert.equal(parseRequestHead(head).target, "/");
 * assert.equal(new TextDecoder().decode(reader.rest), "extra");
 * ```
 */
export class HttpHeadReader {
  readonly #maxHeadSize: number;
  readonly #maxStartLineLength: number;
  readonly #message: "request" | "response" | undefined;
  #buffer: Uint8Array = EMPTY;
  #length = 0;
  // How far the buffer has been scanned, and whether a line has ended yet.
  #scanned = 0;
  #startLineDone = false;
  #rest: Uint8Array = EMPTY;

  /**
   * Creates a reader.
   *
   * @param limits The size limits.
   */
  constructor(options: HttpHeadReaderOptions = {}) {
    this.#maxHeadSize = positiveLimit(
      "maxHeadSize",
      options.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE,
      "head reader",
    );
    this.#maxStartLineLength = positiveLimit(
      "maxStartLineLength",
      options.maxStartLineLength ?? DEFAULT_MAX_HEAD_SIZE,
      "head reader",
    );
    if (options.maxHeaderCount !== undefined) {
      nonNegative("maxHeaderCount", options.maxHeaderCount, "create head reader");
    }
    const message = options.message;
    this.#message = message === undefined
      ? undefined
      : oneOf("message", message, ["request", "response"] as const, "create head reader");
  }

  /** The bytes gathered so far. */
  get size(): number {
    return this.#length;
  }

  /** The bytes that followed the head in the last chunk, once it is complete. */
  get rest(): Uint8Array {
    return this.#rest;
  }

  /**
   * Adds bytes.
   *
   * @param chunk The next bytes; kept as a copy while the head is incomplete.
   * @returns The complete head, through its final CRLF CRLF, or `undefined`
   * while more bytes are needed. A head that arrives whole in the first chunk
   * is a view of that chunk, not a copy: copy it to keep it past the chunk's
   * reuse. `rest` is always a copy.
   * @throws {HandshakeError} 431 if the head grows past `maxHeadSize`, 414 if
   * the first line grows past `maxStartLineLength`, 400 on a bare LF.
   */
  push(chunk: Uint8Array): Uint8Array | undefined {
    if (this.#length === 0) {
      // The usual case: the whole head in the first chunk, returned in place.
      const head = this.#scan(chunk, chunk.length);
      if (head !== undefined) return head;
      if (chunk.length === 0) return undefined;
    }
    const needed = this.#length + chunk.length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(
        Math.max(needed, Math.min(this.#buffer.length * 2 || 512, this.#maxHeadSize + 4)),
      );
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#length);
    this.#length = needed;
    return this.#scan(this.#buffer, needed);
  }

  /**
   * Scans `buffer` up to `length` from where the last scan stopped: the
   * head if it is complete (a view of `buffer`), else `undefined`.
   */
  #scan(buffer: Uint8Array, length: number): Uint8Array | undefined {
    // Bytes past the head's limit are never looked at: each outcome (a head,
    // 400, 414, 431) is decided at one byte position, however the bytes were
    // split into chunks.
    const end = Math.min(length, this.#maxHeadSize);
    let i = this.#scanned;
    // The start line's scan looks one byte further: where both limits are
    // passed at the same byte, the line's (414) is the more telling.
    if (!this.#startLineDone) i = this.#scanStartLine(buffer, i, Math.min(length, end + 1));
    for (; i < end; i++) {
      if (buffer[i] !== LF) continue;
      if (buffer[i - 1] !== CR) this.#fail("BARE_LF", "a line ends with LF instead of CRLF");
      // CRLF CRLF ends the head.
      if (buffer[i - 2] === LF) {
        const headEnd = i + 1;
        this.#rest = headEnd < length ? buffer.slice(headEnd, length) : EMPTY;
        this.#scanned = length;
        this.#length = length;
        return buffer.subarray(0, headEnd);
      }
    }
    this.#scanned = end;
    if (length > this.#maxHeadSize) this.#tooLarge();
    return undefined;
  }

  #tooLarge(): never {
    this.#fail("HEAD_TOO_LARGE", `the head is larger than ${this.#maxHeadSize} bytes`, 431);
  }

  /**
   * Scans the start line from `i`, byte by byte, and returns where it
   * stopped: past the line's LF, or at `end`. A byte that cannot be part of
   * a request line (or of a status line, for a response) fails at once, so
   * that a TLS ClientHello or other binary sent to an HTTP port is answered
   * with 400 rather than after the request deadline.
   */
  #scanStartLine(buffer: Uint8Array, i: number, end: number): number {
    const max = this.#maxStartLineLength;
    const response = this.#message === "response";
    for (; i < end; i++) {
      const byte = buffer[i]!;
      if (byte === LF) {
        if (i === 0 || buffer[i - 1] !== CR) {
          this.#fail("BARE_LF", "a line ends with LF instead of CRLF");
        }
        if (i >= this.#maxHeadSize) this.#tooLarge();
        this.#startLineDone = true;
        return i + 1;
      }
      // Past the LF, the line holds bytes 0 to i (or to i - 1 if this is its CR).
      if (byte === CR ? i > max : i >= max) {
        this.#fail("START_LINE_TOO_LONG", `the first line is longer than ${max} bytes`, 414);
      }
      if (i >= this.#maxHeadSize) this.#tooLarge();
      if (this.#message === undefined) continue;
      // A CR that does not end the line.
      if (i > 0 && buffer[i - 1] === CR) this.#notHttp(i - 1, CR);
      if (byte === CR) continue;
      if (response) {
        // status-line: "HTTP/" version SP status SP reason (HTAB, SP, VCHAR, obs-text).
        if (i < 5 ? byte !== HTTP_SLASH[i] : byte < SP && byte !== HTAB || byte === DEL) {
          this.#notHttp(i, byte);
        }
      } else if (byte <= SP ? byte !== SP || i === 0 : byte >= DEL) {
        // request-line: method SP target SP version, all visible ASCII.
        this.#notHttp(i, byte);
      }
    }
    return i;
  }

  #notHttp(at: number, value: number): never {
    const what = this.#message === "response" ? "status line" : "request line";
    this.#fail(
      this.#message === "response" ? "INVALID_STATUS_LINE" : "INVALID_REQUEST_LINE",
      `byte ${at} of the ${what} is 0x${value.toString(16).padStart(2, "0")}, which cannot be HTTP`,
    );
  }

  /** A response's status is unknown (0) until its head has been read. */
  #fail(code: string, message: string, status = 400): never {
    badRequest(code, message, this.#message === "response" ? 0 : status);
  }
}

/** A parsed request head. */
export interface RequestHead {
  /** The method, such as `"GET"`. */
  method: string;
  /** The request target, such as `"/chat?room=1"`. */
  target: string;
  /** `"HTTP/1.1"` or `"HTTP/1.0"`. */
  version: string;
  /** The header fields, in order, as they came (names as sent). */
  fields: [string, string][];
  /** The header fields as a `Headers` object, made when first read. */
  readonly headers: Headers;
}

/** A parsed response head. */
export interface ResponseHead {
  /** The HTTP version, such as `"HTTP/1.1"`. */
  version: string;
  /** The status code. */
  status: number;
  /** The reason phrase; may be empty. */
  statusText: string;
  /** The header fields. */
  headers: Headers;
}

/**
 * Parses a complete request head, as returned by {@linkcode HttpHeadReader}.
 *
 * @param head The head's bytes, through the final CRLF CRLF.
 * @param limits The header count limit.
 * @returns The method, target, version and headers.
 * @throws {HandshakeError} 400 for a malformed head (including a missing or
 * repeated `Host` in HTTP/1.1, or both `Content-Length` and
 * `Transfer-Encoding`), 431 for too many headers, 505 for a version other
 * than HTTP/1.0 and HTTP/1.1.
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const head = parseRequestHead(new TextEncoder().encode("GET /chat HTTP/1.1\r\nHost: a\r\n\r\n"));
 * assert.equal(head.method, "GET");
 * assert.equal(head.headers.get("host"), "a");
 * ```
 */
export function parseRequestHead(head: Uint8Array, limits: HttpHeadLimits = {}): RequestHead {
  return parseRequestText(requestHeadText(head), limits);
}

const STATUS_LINE = /^(HTTP\/\d\.\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

/**
 * Parses a complete response head, as returned by {@linkcode HttpHeadReader}.
 *
 * @param head The head's bytes, through the final CRLF CRLF.
 * @param limits The header count limit.
 * @returns The version, status, reason phrase and headers.
 * @throws {HandshakeError} With status 0 if the status line is malformed, or
 * the response's status if a header is.
 *
 * @example
 * ```ts
 * import { parseResponseHead } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const head = parseResponseHead(
 *   new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
 * );
 * assert.equal(head.status, 101);
 * assert.equal(head.headers.get("upgrade"), "websocket");
 * ```
 */
export function parseResponseHead(head: Uint8Array, limits: HttpHeadLimits = {}): ResponseHead {
  const text = headText(head, 0);
  const lineEnd = text.indexOf("\r\n");
  const line = text.slice(0, lineEnd);
  const match = STATUS_LINE.exec(line);
  if (match === null) {
    badRequest(
      "INVALID_STATUS_LINE",
      `${JSON.stringify(line.slice(0, 80))} is not a status line`,
      0,
    );
  }
  const [, version, code, statusText] = match as unknown as [
    string,
    string,
    string,
    string | undefined,
  ];
  const status = Number(code);
  const maxHeaderCount = nonNegative(
    "maxHeaderCount",
    limits.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
    "parse HTTP head",
  );
  let headers: Headers;
  try {
    headers = new Headers(
      parseFields(
        text,
        lineEnd + 2,
        text.length - 2,
        maxHeaderCount,
        0,
      ),
    );
  } catch (error) {
    const e = error as HandshakeError;
    throw new HandshakeError(e.code, status, e.message);
  }
  return { version, status, statusText: statusText ?? "", headers };
}

/**
 * A head's bytes: the start line, then the fields, written straight into one
 * buffer (no intermediate strings: a 101 is written once per connection).
 */
function writeHead(
  startLine: string,
  headers: Headers | Iterable<readonly [string, string]>,
): Uint8Array {
  const fields: readonly (readonly [string, string])[] = Array.isArray(headers)
    ? headers
    : [...headers];
  let size = startLine.length + 4;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const name = field[0], value = field[1];
    if (!isToken(name) || !isHeaderValue(value)) {
      throw new TypeError(
        `Cannot serialize HTTP head: header ${JSON.stringify(name)} is malformed`,
      );
    }
    size += name.length + value.length + 4;
  }
  const bytes = new Uint8Array(size);
  let at = putLatin1(bytes, 0, startLine);
  bytes[at++] = CR;
  bytes[at++] = LF;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    at = putLatin1(bytes, at, field[0]);
    bytes[at++] = 0x3a; // ":"
    bytes[at++] = SP;
    at = putLatin1(bytes, at, field[1]);
    bytes[at++] = CR;
    bytes[at++] = LF;
  }
  bytes[at++] = CR;
  bytes[at] = LF;
  return bytes;
}

/** Writes validated Latin-1 text (names are tokens, values field-values) at `at`. */
function putLatin1(bytes: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
  return at;
}

/**
 * Serializes a request head.
 *
 * @param method The method, a token.
 * @param target The request target: visible ASCII, no spaces.
 * @param headers The header fields.
 * @returns The head's bytes, through the final CRLF CRLF.
 * @throws {TypeError} If the method, target or a header is malformed.
 *
 * @example
 * ```ts
 * import { serializeRequestHead } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const bytes = serializeRequestHead("GET", "/", new Headers({ host: "a" }));
 * assert.equal(new TextDecoder().decode(bytes), "GET / HTTP/1.1\r\nhost: a\r\n\r\n");
 * ```
 */
export function serializeRequestHead(method: string, target: string, headers: Headers): Uint8Array {
  if (!isToken(method)) {
    throw new TypeError(`Cannot serialize HTTP head: ${JSON.stringify(method)} is not a method`);
  }
  if (!/^[\x21-\x7e]+$/.test(target)) {
    throw new TypeError(
      `Cannot serialize HTTP head: ${JSON.stringify(target)} is not a request target`,
    );
  }
  return writeHead(`${method} ${target} HTTP/1.1`, headers);
}

/**
 * Serializes a response head.
 *
 * @param status The status code, 100–999.
 * @param statusText The reason phrase.
 * @param headers The header fields: a `Headers`, or name/value pairs written as given.
 * @returns The head's bytes, through the final CRLF CRLF.
 * @throws {TypeError} If the status, reason phrase or a header is malformed.
 *
 * @example
 * ```ts
 * import { serializeResponseHead } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const bytes = serializeResponseHead(426, "Upgrade Required", new Headers({ "sec-websocket-version": "13" }));
 * assert.equal(
 *   new TextDecoder().decode(bytes),
 *   "HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\n\r\n",
 * );
 * ```
 */
export function serializeResponseHead(
  status: number,
  statusText: string,
  headers: Headers | Iterable<readonly [string, string]>,
): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new TypeError(`Cannot serialize HTTP head: ${status} is not a status code`);
  }
  if (!isHeaderValue(statusText)) {
    throw new TypeError("Cannot serialize HTTP head: the reason phrase holds control characters");
  }
  return writeHead(`HTTP/1.1 ${status} ${statusText}`, headers);
}
