// Copyright 2026 the Duplex authors. MIT license.
// The text of an HTTP/1.1 head: reading it as Latin-1 once, and parsing the
// start line and fields from that text. Internal to the codec and the server
// (which keeps an upgraded connection's head as this text and parses its
// headers only if asked): the public parsers are in http1.ts.
//
// This module is browser-compatible.

import { HandshakeError } from "./errors.ts";
import { nonNegative } from "./_validate.ts";
import { fieldValue, isBlank, isHeaderValue, isToken, sameName } from "./headers.ts";
import type { HttpHeadLimits, RequestHead } from "./http1.ts";

/** The default cap on header fields: 100. */
export const DEFAULT_MAX_HEADER_COUNT = 100;

const CR = 0x0d;
const LF = 0x0a;

export function badRequest(code: string, message: string, status = 400): never {
  throw new HandshakeError(code, status, `Cannot parse HTTP message: ${message}`);
}

const ASCII = new TextDecoder();

/** Reads bytes as Latin-1: each byte one character, as HTTP field values are. */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
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

/**
 * Parses the header lines of a head's text, from `start` (just after the
 * start line's CRLF) to `end` (the final CRLF), into a field list: one
 * string per name and value, nothing else allocated.
 */
export function parseFields(
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
    if (!isHeaderValue(value)) {
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
export function headText(head: Uint8Array, status = 400): string {
  const n = head.length;
  if (
    n < 4 || head[n - 4] !== CR || head[n - 3] !== LF || head[n - 2] !== CR || head[n - 1] !== LF
  ) {
    badRequest("INCOMPLETE_HEAD", "the head does not end with an empty line", status);
  }
  return latin1(head, 0, n);
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP\/\d\.\d)$/;

/**
 * A complete request head as Latin-1 text, checked to end with CRLF CRLF.
 * The server keeps an upgraded
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
 * {@linkcode requestHeadText}.
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
    nonNegative(
      "maxHeaderCount",
      limits.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
      "parse HTTP head",
    ),
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
