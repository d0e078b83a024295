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
import {
  type Extension,
  formatExtensions,
  formatProtocols,
  hasToken,
  headerEntries,
  isHeaderValue,
  isToken,
  parseExtensions,
} from "./headers.ts";
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
 * @throws {SyntaxError} If the URL is invalid, has another scheme, has a
 * fragment, or has port 0.
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
  if (parsed.port === "0") {
    // Valid in a URL, but nothing can be dialed there.
    throw new SyntaxError(
      `Cannot parse WebSocket URL: ${parsed.href} has port 0, which cannot be connected to`,
    );
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
  for (const [name, value] of headerEntries(options.headers)) {
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
