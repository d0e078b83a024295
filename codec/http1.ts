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
import { isToken } from "./handshake.ts";

/** Limits for {@linkcode HttpHeadReader}. */
export interface HttpHeadLimits {
  /** The most bytes a head may take, request line included. Default 8 KiB; more is a 431. */
  maxHeadSize?: number;
  /** The longest request or status line. Default 8 KiB; longer is a 414. */
  maxStartLineLength?: number;
  /** The most header fields. Default 100; more is a 431. */
  maxHeaderCount?: number;
}

/** The default limit on a message head's size: 8 KiB. */
export const DEFAULT_MAX_HEAD_SIZE = 8 * 1024;
/** The default limit on the number of header fields: 100. */
export const DEFAULT_MAX_HEADER_COUNT = 100;

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = new Uint8Array(0);

function badRequest(code: string, message: string, status = 400): never {
  throw new HandshakeError(code, status, `Cannot parse HTTP message: ${message}`);
}

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
  constructor(limits: HttpHeadLimits = {}) {
    this.#maxHeadSize = limits.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE;
    this.#maxStartLineLength = limits.maxStartLineLength ?? DEFAULT_MAX_HEAD_SIZE;
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
    for (let i = this.#scanned; i < length; i++) {
      if (buffer[i] !== LF) continue;
      if (i === 0 || buffer[i - 1] !== CR) {
        badRequest("BARE_LF", "a line ends with LF instead of CRLF");
      }
      if (!this.#startLineDone) {
        this.#startLineDone = true;
        if (i - 1 > this.#maxStartLineLength) this.#tooLong();
      }
      // CRLF CRLF ends the head.
      if (i >= 3 && buffer[i - 2] === LF) {
        const end = i + 1;
        if (end > this.#maxHeadSize) this.#tooLarge();
        this.#rest = end < length ? buffer.slice(end, length) : EMPTY;
        this.#scanned = length;
        this.#length = length;
        return buffer.subarray(0, end);
      }
    }
    this.#scanned = length;
    // The first line so far, without a CR that may be the start of its CRLF.
    const lineSoFar = length - (buffer[length - 1] === CR ? 1 : 0);
    if (!this.#startLineDone && lineSoFar > this.#maxStartLineLength) this.#tooLong();
    if (length > this.#maxHeadSize) this.#tooLarge();
    return undefined;
  }

  #tooLong(): never {
    badRequest(
      "START_LINE_TOO_LONG",
      `the first line is longer than ${this.#maxStartLineLength} bytes`,
      414,
    );
  }

  #tooLarge(): never {
    badRequest("HEAD_TOO_LARGE", `the head is larger than ${this.#maxHeadSize} bytes`, 431);
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

/**
 * Reads a header from a field list as `Headers.get()` would: every value of
 * the name, case-insensitively, joined with ", "; `null` if absent.
 *
 * @param fields The fields.
 * @param name The header name, in lower case.
 * @returns The value, or `null`.
 *
 * @example
 * ```ts
 * import { fieldValue } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fieldValue([["Accept", "a"], ["accept", "b"]], "accept"), "a, b");
 * ```
 */
export function fieldValue(
  fields: readonly (readonly [string, string])[],
  name: string,
): string | null {
  let value: string | null = null;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (sameName(field[0], name)) {
      value = value === null ? field[1] : `${value}, ${field[1]}`;
    }
  }
  return value;
}

/** `field.toLowerCase() === lower`, without making a string: lookups run often in a handshake. */
function sameName(field: string, lower: string): boolean {
  if (field.length !== lower.length) return false;
  for (let i = 0; i < field.length; i++) {
    let c = field.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
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

const ASCII = new TextDecoder();

/** Reads bytes as Latin-1: each byte one character, as HTTP field values are. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  // ASCII, as heads almost always are, is the same in UTF-8: decode natively.
  if (ascii) return ASCII.decode(bytes.subarray(start, end));
  let text = "";
  for (let i = start; i < end; i += 4096) {
    // deno-lint-ignore no-explicit-any
    text += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(i + 4096, end)) as any);
  }
  return text;
}

// RFC 7230 §3.2: field-value characters (VCHAR, obs-text, SP, HTAB).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Parses the header lines of a head's text, from `start` (just after the
 * start line's CRLF) to `end` (the final CRLF), into a field list: one
 * string per name and value, nothing else allocated.
 */
function parseFields(
  text: string,
  start: number,
  end: number,
  maxHeaderCount: number,
  status: number,
): [string, string][] {
  // Validated here, then handed to the Headers constructor in one call (one
  // conversion instead of one per field).
  const fields: [string, string][] = [];
  let lineStart = start;
  while (lineStart < end) {
    const lineEnd = text.indexOf("\r\n", lineStart);
    if (fields.length === maxHeaderCount) {
      badRequest(
        "TOO_MANY_HEADERS",
        `there are more than ${maxHeaderCount} header fields`,
        status === 0 ? 0 : 431,
      );
    }
    const first = text.charCodeAt(lineStart);
    if (first === SP || first === HTAB) {
      // RFC 7230 §3.2.4: obs-fold is deprecated; a server MUST reject it.
      badRequest(
        "OBSOLETE_LINE_FOLDING",
        "a header field is folded over lines",
        status === 0 ? 0 : 400,
      );
    }
    let colon = text.indexOf(":", lineStart);
    if (colon > lineEnd) colon = -1;
    const name = colon < 0 ? "" : text.slice(lineStart, colon);
    // RFC 7230 §3.2.4: "No whitespace is allowed between the header field-name
    // and colon"; a name is a token.
    if (colon <= lineStart || !isToken(name)) {
      badRequest(
        "INVALID_HEADER",
        `${
          JSON.stringify(text.slice(lineStart, Math.min(lineEnd, lineStart + 40)))
        } is not a header field`,
        status === 0 ? 0 : 400,
      );
    }
    // The value, without the whitespace around it.
    let from = colon + 1;
    let to = lineEnd;
    while (from < to && isBlank(text.charCodeAt(from))) from++;
    while (to > from && isBlank(text.charCodeAt(to - 1))) to--;
    const value = text.slice(from, to);
    if (!FIELD_VALUE.test(value)) {
      badRequest(
        "INVALID_HEADER_VALUE",
        `the value of ${name} holds control characters`,
        status === 0 ? 0 : 400,
      );
    }
    fields.push([name, value]);
    lineStart = lineEnd + 2;
  }
  return fields;
}

const SP = 0x20;
const HTAB = 0x09;

/** A complete head as text; it must end with CRLF CRLF, as HttpHeadReader's heads do. */
function headText(head: Uint8Array, status = 400): string {
  const n = head.length;
  if (
    n < 4 || head[n - 4] !== CR || head[n - 3] !== LF || head[n - 2] !== CR || head[n - 1] !== LF
  ) {
    badRequest("INCOMPLETE_HEAD", "the head does not end with an empty line", status);
  }
  return latin1(head, 0, n);
}

function isBlank(c: number): boolean {
  return c === SP || c === HTAB;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP\/\d\.\d)$/;

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

/**
 * A complete request head as Latin-1 text, checked to end with CRLF CRLF.
 * Not part of the codec's public API: the server keeps an upgraded
 * connection's head this way, and parses it with
 * {@linkcode parseRequestText}, so the bytes are decoded once.
 *
 * @param head The head's bytes, through the final CRLF CRLF.
 * @returns The text.
 * @throws {HandshakeError} 400 if the head does not end with an empty line.
 */
export function requestHeadText(head: Uint8Array): string {
  return headText(head);
}

/**
 * {@linkcode parseRequestHead} for a head already read as text by
 * {@linkcode requestHeadText}. Not part of the codec's public API.
 *
 * @param text The head as text.
 * @param limits The header count limit.
 * @returns The method, target, version and headers.
 * @throws {HandshakeError} As {@linkcode parseRequestHead}.
 */
export function parseRequestText(text: string, limits: HttpHeadLimits = {}): RequestHead {
  const lineEnd = text.indexOf("\r\n");
  const line = text.slice(0, lineEnd);
  const match = REQUEST_LINE.exec(line);
  if (match === null) {
    badRequest(
      "INVALID_REQUEST_LINE",
      `${JSON.stringify(line.slice(0, 80))} is not a request line`,
    );
  }
  const [, method, target, version] = match as unknown as [string, string, string, string];
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    badRequest("UNSUPPORTED_HTTP_VERSION", `${version} is not supported`, 505);
  }
  // The head ends with CRLF CRLF: the last field line ends at the first of them.
  const fields = parseFields(
    text,
    lineEnd + 2,
    text.length - 2,
    limits.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
    400,
  );
  // RFC 7230 §5.4: "A server MUST respond with a 400 (Bad Request) status code
  // to any HTTP/1.1 request message that lacks a Host header field and to any
  // request message that contains more than one Host header field".
  let hosts = 0;
  for (let i = 0; i < fields.length; i++) if (sameName(fields[i]![0], "host")) hosts++;
  if (hosts > 1 || (hosts === 0 && version === "HTTP/1.1")) {
    badRequest(
      "INVALID_HOST",
      hosts > 1 ? "there is more than one Host header" : "the Host header is missing",
    );
  }
  // RFC 7230 §3.3.3: both framings at once is how requests are smuggled.
  if (
    fieldValue(fields, "transfer-encoding") !== null &&
    fieldValue(fields, "content-length") !== null
  ) {
    badRequest("AMBIGUOUS_LENGTH", "the request has both Transfer-Encoding and Content-Length");
  }
  let headers: Headers | undefined;
  return {
    method,
    target,
    version,
    fields,
    get headers(): Headers {
      return headers ??= new Headers(fields);
    },
  };
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
  let headers: Headers;
  try {
    headers = new Headers(
      parseFields(
        text,
        lineEnd + 2,
        text.length - 2,
        limits.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
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
    if (!isToken(name) || !FIELD_VALUE.test(value)) {
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
  if (!FIELD_VALUE.test(statusText)) {
    throw new TypeError("Cannot serialize HTTP head: the reason phrase holds control characters");
  }
  return writeHead(`HTTP/1.1 ${status} ${statusText}`, headers);
}

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
  #parts: Uint8Array[] = [];
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
   */
  constructor(framing: BodyFraming, options: BodyDecoderOptions = {}) {
    this.#framing = framing;
    this.#maxSize = options.maxSize ?? Infinity;
    this.#truncate = options.overflow === "truncate";
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
    if (this.#parts.length !== 1) {
      const body = new Uint8Array(Math.min(this.#size, this.#maxSize));
      let offset = 0;
      for (const part of this.#parts) {
        body.set(part, offset);
        offset += part.length;
      }
      this.#parts = [body];
    }
    return this.#parts[0]!;
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
      this.#rest = concat(this.#rest, chunk);
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
    this.#parts.push(bytes.slice());
    this.#size += bytes.length;
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
