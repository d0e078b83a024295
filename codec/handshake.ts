// Copyright 2026 the Duplex authors. MIT license.
/**
 * The opening handshake (RFC 6455 §4): keys, URLs, the client's request and
 * the server's 101 response, built and validated on either side, and the
 * `Sec-WebSocket-Protocol` / `Sec-WebSocket-Extensions` grammar (§9.1).
 *
 * This module is browser-compatible: random keys come from Web Crypto,
 * hashing from a small synchronous SHA-1 (see `sha1.ts` for why), base64
 * from `btoa`/`atob`.
 *
 * @module
 */

import { HandshakeError } from "./errors.ts";
import { sha1 } from "./sha1.ts";
import { encodeUtf8 } from "./utf8.ts";

/** The GUID a server appends to the client's key (RFC 6455 §1.3). */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The one protocol version (RFC 6455 §4.1, §11.6). */
export const WEBSOCKET_VERSION = "13";

// Uint8Array.prototype.toBase64 (ES2026) where the runtime has it, btoa otherwise.
const nativeToBase64 = (Uint8Array.prototype as { toBase64?: (this: Uint8Array) => string })
  .toBase64;

function toBase64(bytes: Uint8Array): string {
  if (nativeToBase64 !== undefined) return nativeToBase64.call(bytes);
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary);
}

// The accept value's input, key then GUID, reused: a key is 24 characters.
const ACCEPT_INPUT = new Uint8Array(24 + WEBSOCKET_GUID.length);
for (let i = 0; i < WEBSOCKET_GUID.length; i++) {
  ACCEPT_INPUT[24 + i] = WEBSOCKET_GUID.charCodeAt(i);
}

/**
 * Generates a `Sec-WebSocket-Key`: 16 random bytes, base64-encoded
 * (RFC 6455 §4.1: "randomly selected 16-byte value").
 *
 * @returns The key, 24 characters long.
 *
 * @example
 * ```ts
 * import { generateKey } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.match(generateKey(), /^[A-Za-z0-9+/]{22}==$/);
 * ```
 */
export function generateKey(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * Computes the `Sec-WebSocket-Accept` value for a key: the base64 SHA-1 of
 * the key followed by {@linkcode WEBSOCKET_GUID} (RFC 6455 §4.2.2).
 *
 * @param key The client's `Sec-WebSocket-Key`.
 * @returns The accept value.
 *
 * @example The RFC 6455 §1.3 example
 * ```ts
 * import { acceptKey } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 */
export function acceptKey(key: string): Promise<string> {
  return Promise.resolve(acceptKeySync(key));
}

/**
 * Computes the `Sec-WebSocket-Accept` value for a key, synchronously; what
 * {@linkcode acceptKey} and the server use.
 *
 * @param key The client's `Sec-WebSocket-Key`.
 * @returns The accept value.
 *
 * @example
 * ```ts
 * import { acceptKeySync } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(acceptKeySync("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 */
export function acceptKeySync(key: string): string {
  if (key.length === 24) {
    let ascii = true;
    for (let i = 0; i < 24; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) ascii = false;
      ACCEPT_INPUT[i] = c;
    }
    if (ascii) return toBase64(sha1(ACCEPT_INPUT));
  }
  return toBase64(sha1(encodeUtf8(key + WEBSOCKET_GUID)));
}

// RFC 7230 §3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Returns whether `value` is an RFC 7230 token: the grammar of header names,
 * subprotocol names and extension names and parameters.
 *
 * @param value The string to check.
 * @returns `true` for a non-empty token.
 *
 * @example
 * ```ts
 * import { isToken } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isToken("chat.v2"), true);
 * assert.equal(isToken("chat v2"), false);
 * ```
 */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

// RFC 7230 §3.2: field-value = *( VCHAR / obs-text / SP / HTAB ), trimmed of
// surrounding whitespace. No CR, LF, NUL or other control characters.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Returns whether `value` may be sent as an HTTP header value: no CR, LF or
 * other control characters (which would let a value inject headers), and no
 * characters beyond Latin-1.
 *
 * @param value The value to check.
 * @returns `true` if the value is safe to send.
 *
 * @example
 * ```ts
 * import { isHeaderValue } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isHeaderValue("Bearer abc"), true);
 * assert.equal(isHeaderValue("x\r\nSet-Cookie: a=b"), false);
 * ```
 */
export function isHeaderValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

/** Splits a comma-separated header list, skipping empty elements (RFC 7230 §7). */
function splitList(value: string): string[] {
  const items: string[] = [];
  for (const part of value.split(",")) {
    const item = part.trim();
    if (item !== "") items.push(item);
  }
  return items;
}

/** Whether a comma-separated header value holds `token`, case-insensitively. */
function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  // Item by item, in place: this runs on every handshake.
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(",", start);
    if (end < 0) end = value.length;
    let from = start;
    let to = end;
    while (from < to && isBlank(value.charCodeAt(from))) from++;
    while (to > from && isBlank(value.charCodeAt(to - 1))) to--;
    if (to - from === token.length && sameTokenAt(value, from, token)) return true;
    start = end + 1;
  }
  return false;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether `value` holds the lower-case `token` at `at`, ignoring ASCII case. */
function sameTokenAt(value: string, at: number, token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    let c = value.charCodeAt(at + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== token.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses a `Sec-WebSocket-Protocol` value (RFC 6455 §4.1: a comma-separated
 * list of tokens).
 *
 * @param value The header value, or `null` when absent.
 * @returns The subprotocols, in order.
 * @throws {SyntaxError} If an element is not a token.
 *
 * @example
 * ```ts
 * import { parseProtocols } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseProtocols("chat, superchat"), ["chat", "superchat"]);
 * ```
 */
export function parseProtocols(value: string | null): string[] {
  if (value === null) return [];
  const protocols = splitList(value);
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new SyntaxError(
        `Cannot parse subprotocols: ${JSON.stringify(protocol)} is not a token`,
      );
    }
  }
  return protocols;
}

/**
 * Formats a `Sec-WebSocket-Protocol` value.
 *
 * @param protocols The subprotocols, each a token, none repeated.
 * @returns The header value.
 * @throws {SyntaxError} If a subprotocol is not a token or is repeated (the
 * WHATWG `WebSocket` constructor refuses both).
 *
 * @example
 * ```ts
 * import { formatProtocols } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatProtocols(["chat", "superchat"]), "chat, superchat");
 * ```
 */
export function formatProtocols(protocols: readonly string[]): string {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new SyntaxError(
        `Cannot format subprotocols: ${JSON.stringify(protocol)} is not a token`,
      );
    }
    if (seen.has(protocol)) {
      throw new SyntaxError(`Cannot format subprotocols: ${JSON.stringify(protocol)} is repeated`);
    }
    seen.add(protocol);
  }
  return protocols.join(", ");
}

/** An extension parameter: a name and a value, or `true` when it has none. */
export type ExtensionParam = [name: string, value: string | true];

/** One extension of a `Sec-WebSocket-Extensions` list. */
export interface Extension {
  /** The extension's name, such as `"permessage-deflate"`. */
  name: string;
  /** Its parameters in order; repeated names are kept as they came. */
  params: ExtensionParam[];
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1): extensions
 * separated by commas, each a token followed by `;`-separated parameters,
 * each a token with an optional `=` value that is a token or a quoted
 * string whose unescaped content is a token.
 *
 * @param value The header value, or `null` when absent.
 * @returns The extensions, in order.
 * @throws {SyntaxError} If the value does not follow the grammar.
 *
 * @example
 * ```ts
 * import { parseExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits="10"'),
 *   [{
 *     name: "permessage-deflate",
 *     params: [["client_max_window_bits", true], ["server_max_window_bits", "10"]],
 *   }],
 * );
 * ```
 */
export function parseExtensions(value: string | null): Extension[] {
  if (value === null) return [];
  const extensions: Extension[] = [];
  let i = 0;
  const n = value.length;
  const fail = (what: string): never => {
    throw new SyntaxError(
      `Cannot parse extensions: ${what} at offset ${i} of ${JSON.stringify(value)}`,
    );
  };
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const readToken = (what: string): string => {
    const start = i;
    while (i < n && TOKEN.test(value[i]!)) i++;
    if (i === start) fail(`expected ${what}`);
    return value.slice(start, i);
  };
  while (true) {
    skipSpace();
    if (i < n && value[i] === ",") {
      // An empty list element.
      i++;
      continue;
    }
    if (i >= n) break;
    const extension: Extension = { name: readToken("an extension name"), params: [] };
    skipSpace();
    while (i < n && value[i] === ";") {
      i++;
      skipSpace();
      const name = readToken("a parameter name");
      skipSpace();
      let paramValue: string | true = true;
      if (i < n && value[i] === "=") {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          let unescaped = "";
          while (i < n && value[i] !== '"') {
            if (value[i] === "\\") i++;
            if (i >= n) fail("an unterminated quoted string");
            unescaped += value[i++];
          }
          if (i >= n) fail("an unterminated quoted string");
          i++;
          // RFC 6455 §9.1: the unescaped value MUST conform to the token ABNF.
          if (!isToken(unescaped)) fail("a quoted value that is not a token");
          paramValue = unescaped;
        } else {
          paramValue = readToken("a parameter value");
        }
        skipSpace();
      }
      extension.params.push([name, paramValue]);
    }
    extensions.push(extension);
    if (i < n && value[i] !== ",") fail("expected a comma");
    i++;
  }
  return extensions;
}

/**
 * Formats a `Sec-WebSocket-Extensions` value.
 *
 * @param extensions The extensions; names and values must be tokens.
 * @returns The header value.
 * @throws {SyntaxError} If a name or value is not a token.
 *
 * @example
 * ```ts
 * import { formatExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatExtensions([{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }]),
 *   "permessage-deflate; client_max_window_bits",
 * );
 * ```
 */
export function formatExtensions(extensions: readonly Extension[]): string {
  return extensions.map((extension) => {
    let text = checkToken(extension.name);
    for (const [name, value] of extension.params) {
      text += `; ${checkToken(name)}`;
      if (value !== true) text += `=${checkToken(value)}`;
    }
    return text;
  }).join(", ");
}

function checkToken(value: string): string {
  if (!isToken(value)) {
    throw new SyntaxError(`Cannot format extensions: ${JSON.stringify(value)} is not a token`);
  }
  return value;
}

/** A WebSocket URL, parsed for connecting and for the request. */
export interface WebSocketUrl {
  /** The normalized URL, with a `ws:` or `wss:` scheme. */
  href: string;
  /** Whether the scheme is `wss:` (TLS). */
  secure: boolean;
  /** The host to connect to: a name or an IP address, IPv6 without brackets. */
  hostname: string;
  /** The port to connect to: explicit, or 80 for `ws:` and 443 for `wss:`. */
  port: number;
  /** The `Host` header value: brackets around IPv6, port only if not the default. */
  host: string;
  /** The request target: the path and query, at least `/`. */
  resource: string;
  /** The decoded user name from the URL, if any. */
  username: string;
  /** The decoded password from the URL, if any. */
  password: string;
}

/**
 * Parses a WebSocket URL as the WHATWG `WebSocket` constructor does:
 * `ws:` and `wss:`, with `http:` and `https:` mapped to them; fragments
 * are refused (RFC 6455 §3: "Fragment identifiers are meaningless in the
 * context of WebSocket URIs").
 *
 * @param url The URL.
 * @param base A base for relative URLs.
 * @returns The parts a client needs.
 * @throws {SyntaxError} If the URL is invalid, has another scheme, or has
 * a fragment.
 *
 * @example
 * ```ts
 * import { parseUrl } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const url = parseUrl("https://[::1]:8443/chat?room=1");
 * assert.equal(url.secure, true);
 * assert.equal(url.hostname, "::1");
 * assert.equal(url.host, "[::1]:8443");
 * assert.equal(url.resource, "/chat?room=1");
 * ```
 */
export function parseUrl(url: string | URL, base?: string | URL): WebSocketUrl {
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new SyntaxError(
      `Cannot parse WebSocket URL: ${JSON.stringify(String(url))} is not a valid URL`,
    );
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new SyntaxError(
      `Cannot parse WebSocket URL: the scheme must be ws: or wss:, got ${parsed.protocol}`,
    );
  }
  if (parsed.hash !== "" || parsed.href.endsWith("#")) {
    throw new SyntaxError("Cannot parse WebSocket URL: fragments are not allowed");
  }
  const secure = parsed.protocol === "wss:";
  const hostname = parsed.hostname.startsWith("[") ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return {
    href: parsed.href,
    secure,
    hostname,
    port: parsed.port === "" ? (secure ? 443 : 80) : Number(parsed.port),
    host: parsed.host,
    resource: (parsed.pathname || "/") + parsed.search,
    username: decodeUserinfo(parsed.username),
    password: decodeUserinfo(parsed.password),
  };
}

/** Percent-decodes a user name or password, keeping it as it is if it is not valid. */
function decodeUserinfo(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Options for {@linkcode buildUpgradeRequest}. */
export interface UpgradeRequestOptions {
  /** The key; default: a fresh one from {@linkcode generateKey}. */
  key?: string;
  /** Subprotocols to offer, in order of preference. */
  protocols?: readonly string[];
  /** Extensions to offer. */
  extensions?: readonly Extension[];
  /**
   * Extra headers (Authorization, Origin, Cookie…). The handshake's own
   * headers cannot be overridden.
   */
  headers?: HeadersInit;
}

/** A client's upgrade request, ready to send. */
export interface UpgradeRequest {
  /** The URL it is for. */
  url: WebSocketUrl;
  /** The `Sec-WebSocket-Key` it carries. */
  key: string;
  /** The subprotocols offered. */
  protocols: string[];
  /** The extensions offered. */
  extensions: Extension[];
  /** All its headers. */
  headers: Headers;
}

// Headers the handshake sets itself; a caller's value would break it.
const RESERVED_REQUEST_HEADERS = new Set([
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/**
 * Builds a client's upgrade request (RFC 6455 §4.1). Serialize it with
 * `serializeRequestHead("GET", request.url.resource, request.headers)`.
 *
 * @param url The WebSocket URL.
 * @param options Key, subprotocols, extensions and extra headers.
 * @returns The request.
 * @throws {SyntaxError} If the URL, a subprotocol or an extension is invalid.
 * @throws {TypeError} If a header name is not a token, a value holds CR, LF
 * or other control characters, or a header would override the handshake's own.
 *
 * @example
 * ```ts
 * import { buildUpgradeRequest } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const request = buildUpgradeRequest("ws://example.com/chat", {
 *   protocols: ["chat"],
 *   headers: { authorization: "Bearer t0ken" },
 * });
 * assert.equal(request.headers.get("host"), "example.com");
 * assert.equal(request.headers.get("sec-websocket-protocol"), "chat");
 * assert.equal(request.headers.get("authorization"), "Bearer t0ken");
 * ```
 */
export function buildUpgradeRequest(
  url: string | URL | WebSocketUrl,
  options: UpgradeRequestOptions = {},
): UpgradeRequest {
  const target = typeof url === "string" || url instanceof URL ? parseUrl(url) : url;
  const key = options.key ?? generateKey();
  const protocols = [...(options.protocols ?? [])];
  const extensions = [...(options.extensions ?? [])];
  const headers = new Headers();
  headers.set("host", target.host);
  headers.set("upgrade", "websocket");
  headers.set("connection", "Upgrade");
  headers.set("sec-websocket-key", key);
  headers.set("sec-websocket-version", WEBSOCKET_VERSION);
  if (protocols.length > 0) headers.set("sec-websocket-protocol", formatProtocols(protocols));
  if (extensions.length > 0) headers.set("sec-websocket-extensions", formatExtensions(extensions));
  for (const [name, value] of entriesOf(options.headers)) {
    if (!isToken(name)) {
      throw new TypeError(
        `Cannot build request: header name ${JSON.stringify(name)} is not a token`,
      );
    }
    if (!isHeaderValue(value)) {
      throw new TypeError(
        `Cannot build request: the value of header ${name} holds forbidden characters`,
      );
    }
    if (RESERVED_REQUEST_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`Cannot build request: header ${name} is set by the handshake`);
    }
    headers.append(name, value);
  }
  if ((target.username !== "" || target.password !== "") && !headers.has("authorization")) {
    // As curl and ws do: credentials in the URL become Basic authentication.
    const credentials = encodeUtf8(`${target.username}:${target.password}`);
    headers.set("authorization", `Basic ${toBase64(credentials)}`);
  }
  return { url: target, key, protocols, extensions, headers };
}

/** Iterates a HeadersInit without the Headers constructor's silent fixes. */
function entriesOf(init: HeadersInit | undefined): [string, string][] {
  if (init === undefined) return [];
  if (init instanceof Headers) return [...init];
  if (Array.isArray(init)) {
    return init.map((pair) => {
      if (pair.length !== 2) {
        throw new TypeError("Cannot build request: a header must be a [name, value] pair");
      }
      return [String(pair[0]), String(pair[1])];
    });
  }
  return Object.entries(init as Record<string, string>).map(([k, v]) => [k, String(v)]);
}

/** What a server's 101 response settled. */
export interface AcceptedUpgrade {
  /** The subprotocol the server chose; empty if none. */
  protocol: string;
  /** The extensions the server accepted, with its parameters. */
  extensions: Extension[];
}

/**
 * Validates a server's response to an upgrade request (RFC 6455 §4.1, the
 * client's checks): status 101, `Upgrade: websocket`, `Connection: Upgrade`,
 * the right `Sec-WebSocket-Accept`, a subprotocol only if it was offered,
 * and extensions only if they were offered.
 *
 * @param response The response status and headers.
 * @param request The request it answers.
 * @param expectedAccept `await acceptKey(request.key)`, computed ahead so
 * that this check is synchronous.
 * @returns The negotiated subprotocol and extensions.
 * @throws {HandshakeError} With the response's status and headers.
 *
 * @example
 * ```ts
 * import { acceptKey, buildUpgradeRequest, validateUpgradeResponse } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const request = buildUpgradeRequest("ws://localhost/", { protocols: ["chat"] });
 * const headers = new Headers({
 *   upgrade: "websocket",
 *   connection: "Upgrade",
 *   "sec-websocket-accept": await acceptKey(request.key),
 *   "sec-websocket-protocol": "chat",
 * });
 * const result = validateUpgradeResponse({ status: 101, headers }, request, await acceptKey(request.key));
 * assert.equal(result.protocol, "chat");
 * ```
 */
export function validateUpgradeResponse(
  response: { status: number; headers: Headers },
  request: UpgradeRequest,
  expectedAccept: string,
): AcceptedUpgrade {
  const { status, headers } = response;
  const refuse = (code: string, message: string): never => {
    throw new HandshakeError(code, status, `Cannot open WebSocket: ${message}`, { headers });
  };
  if (status !== 101) refuse("UNEXPECTED_STATUS", `the server answered ${status} instead of 101`);
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    refuse("MISSING_UPGRADE", "the response lacks Upgrade: websocket");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    refuse("MISSING_CONNECTION", "the response lacks Connection: Upgrade");
  }
  const accept = headers.get("sec-websocket-accept");
  if (accept === null) refuse("MISSING_ACCEPT", "the response lacks Sec-WebSocket-Accept");
  if (accept !== expectedAccept) {
    refuse("INVALID_ACCEPT", "Sec-WebSocket-Accept does not match the key");
  }
  let protocol = "";
  const protocolHeader = headers.get("sec-websocket-protocol");
  if (protocolHeader !== null && protocolHeader.trim() !== "") {
    // RFC 6455 §4.1: a protocol "that was not present in the client's
    // handshake" fails the connection.
    protocol = protocolHeader.trim();
    if (!request.protocols.includes(protocol)) {
      refuse(
        "UNEXPECTED_PROTOCOL",
        `the server chose subprotocol ${JSON.stringify(protocol)}, which was not offered`,
      );
    }
  }
  let extensions: Extension[] = [];
  try {
    extensions = parseExtensions(headers.get("sec-websocket-extensions"));
  } catch (error) {
    refuse("INVALID_EXTENSIONS", (error as Error).message);
  }
  for (const extension of extensions) {
    // RFC 6455 §4.1: "the use of an extension that was not present in the
    // client's handshake" fails the connection.
    if (!request.extensions.some((offer) => offer.name === extension.name)) {
      refuse(
        "UNEXPECTED_EXTENSION",
        `the server accepted extension ${extension.name}, which was not offered`,
      );
    }
  }
  return { protocol, extensions };
}

/** A server's view of a valid upgrade request. */
export interface UpgradeOffer {
  /** The client's `Sec-WebSocket-Key`. */
  key: string;
  /** The subprotocols the client offered, in its order of preference. */
  protocols: string[];
  /** The extensions the client offered. */
  extensions: Extension[];
}

/** The parts of a request {@linkcode validateUpgradeRequest} looks at. */
export interface UpgradeRequestLike {
  /** The method. */
  method: string;
  /** The headers: a `Headers`, or anything that looks fields up by lower-case name the same way. */
  headers: Pick<Headers, "get">;
  /** The HTTP version, such as `"HTTP/1.1"`, when known. */
  httpVersion?: string;
}

const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Validates a client's upgrade request (RFC 6455 §4.2.1, the server's
 * checks). Each failure says which HTTP status to answer: 405 for a method
 * other than GET; 426 with `Upgrade: websocket` for a request that does not
 * ask to upgrade; 400 for a broken handshake (HTTP/1.0, a `Connection`
 * header without `upgrade`, a missing or malformed key, a malformed
 * subprotocol or extension list); 426 with `Sec-WebSocket-Version: 13` for
 * any version but 13.
 *
 * @param request The request: a `Request` will do.
 * @returns The key, subprotocols and extensions offered.
 * @throws {HandshakeError} With the status and headers to answer with.
 *
 * @example
 * ```ts
 * import { HandshakeError, validateUpgradeRequest } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const headers = new Headers({
 *   host: "example.com",
 *   upgrade: "websocket",
 *   connection: "keep-alive, Upgrade",
 *   "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
 *   "sec-websocket-version": "25",
 * });
 * assert.throws(
 *   () => validateUpgradeRequest({ method: "GET", headers }),
 *   (error) =>
 *     error instanceof HandshakeError && error.status === 426 &&
 *     error.headers.get("sec-websocket-version") === "13",
 * );
 * ```
 */
export function validateUpgradeRequest(request: UpgradeRequestLike): UpgradeOffer {
  const { method, headers } = request;
  const refuse = (code: string, status: number, message: string, extra?: HeadersInit): never => {
    throw new HandshakeError(
      code,
      status,
      `Cannot upgrade to WebSocket: ${message}`,
      extra ? { headers: extra } : {},
    );
  };
  if (method !== "GET") {
    refuse("INVALID_METHOD", 405, `the method is ${method}, not GET`, { allow: "GET" });
  }
  if (request.httpVersion !== undefined && request.httpVersion !== "HTTP/1.1") {
    refuse("INVALID_HTTP_VERSION", 400, `the HTTP version is ${request.httpVersion}, not HTTP/1.1`);
  }
  const upgrade = headers.get("upgrade");
  if (upgrade === null) {
    refuse("UPGRADE_REQUIRED", 426, "the request does not ask to upgrade", {
      upgrade: "websocket",
      connection: "Upgrade",
    });
  }
  if (!hasToken(upgrade, "websocket")) {
    refuse(
      "INVALID_UPGRADE",
      400,
      `the Upgrade header is ${JSON.stringify(upgrade)}, not websocket`,
    );
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    refuse("INVALID_CONNECTION", 400, "the Connection header lacks the upgrade token");
  }
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== WEBSOCKET_VERSION) {
    // RFC 6455 §4.2.2: answer with the versions we support.
    refuse(
      "UNSUPPORTED_VERSION",
      426,
      version === null
        ? "the request lacks Sec-WebSocket-Version"
        : `Sec-WebSocket-Version ${JSON.stringify(version)} is not supported`,
      { "sec-websocket-version": WEBSOCKET_VERSION },
    );
  }
  const key = headers.get("sec-websocket-key")?.trim();
  if (key === undefined) refuse("MISSING_KEY", 400, "the request lacks Sec-WebSocket-Key");
  if (!KEY.test(key!)) {
    refuse("INVALID_KEY", 400, "Sec-WebSocket-Key is not the base64 of 16 bytes");
  }
  let protocols: string[] = [];
  let extensions: Extension[] = [];
  try {
    protocols = parseProtocols(headers.get("sec-websocket-protocol"));
    extensions = parseExtensions(headers.get("sec-websocket-extensions"));
  } catch (error) {
    refuse("INVALID_NEGOTIATION", 400, (error as Error).message);
  }
  return { key: key!, protocols, extensions };
}

// Headers the 101 response sets itself.
const RESERVED_RESPONSE_HEADERS = new Set([
  "upgrade",
  "connection",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/** Options for {@linkcode buildUpgradeResponse}. */
export interface UpgradeResponseOptions {
  /** The subprotocol chosen; it must be one the client offered. */
  protocol?: string;
  /** The extensions accepted, with the server's parameters. */
  extensions?: readonly Extension[];
  /** Extra headers for the 101 response, such as Set-Cookie. */
  headers?: HeadersInit;
}

/**
 * Builds the headers of the server's 101 response (RFC 6455 §4.2.2).
 * Serialize them with `serializeResponseHead(101, "Switching Protocols", headers)`.
 *
 * @param offer The validated request.
 * @param options The chosen subprotocol, accepted extensions, extra headers.
 * @returns The response headers.
 * @throws {TypeError} If the subprotocol or an extension was not offered, or
 * an extra header is malformed or would override one the handshake sets.
 *
 * @example The RFC 6455 §1.3 example
 * ```ts
 * import { buildUpgradeResponse } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const headers = buildUpgradeResponse(
 *   { key: "dGhlIHNhbXBsZSBub25jZQ==", protocols: ["chat"], extensions: [] },
 *   { protocol: "chat" },
 * );
 * assert.equal(headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * assert.equal(headers.get("sec-websocket-protocol"), "chat");
 * ```
 */
export function buildUpgradeResponse(
  offer: UpgradeOffer,
  options: UpgradeResponseOptions = {},
): Headers {
  const headers = new Headers();
  for (const [name, value] of entriesOf(options.headers)) {
    if (!isToken(name) || !isHeaderValue(value)) {
      throw new TypeError(`Cannot build response: header ${JSON.stringify(name)} is malformed`);
    }
    if (RESERVED_RESPONSE_HEADERS.has(name.toLowerCase())) {
      // A subprotocol or extension set here would dodge the "only if offered" checks.
      throw new TypeError(`Cannot build response: header ${name} is set by the handshake`);
    }
    headers.append(name, value);
  }
  headers.set("upgrade", "websocket");
  headers.set("connection", "Upgrade");
  headers.set("sec-websocket-accept", acceptKeySync(offer.key));
  const protocol = options.protocol;
  if (protocol !== undefined && protocol !== "") {
    if (!offer.protocols.includes(protocol)) {
      throw new TypeError(
        `Cannot build response: subprotocol ${JSON.stringify(protocol)} was not offered`,
      );
    }
    headers.set("sec-websocket-protocol", protocol);
  }
  const extensions = options.extensions ?? [];
  for (const extension of extensions) {
    if (!offer.extensions.some((offered) => offered.name === extension.name)) {
      throw new TypeError(`Cannot build response: extension ${extension.name} was not offered`);
    }
  }
  if (extensions.length > 0) headers.set("sec-websocket-extensions", formatExtensions(extensions));
  return headers;
}
