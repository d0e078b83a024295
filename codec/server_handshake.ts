// Copyright 2026 the Duplex authors. MIT license.
/**
 * The server's side of the opening handshake (RFC 6455 §4.2), without I/O,
 * in the spirit of Python `websockets`' `ServerProtocol.accept()` and
 * `reject()`: {@linkcode acceptUpgrade} takes a request and the server's
 * policy (origins, subprotocols, compression, extra headers) and returns the
 * 101's fields, the subprotocol and the extension agreement;
 * {@linkcode rejectUpgrade} turns a refusal into the response to send.
 * Duplex's own server, its `Deno.serve` adapter, `acceptWebSocket()` and
 * the hub all go through these two functions.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import type { DeflateSession, PerMessageDeflate } from "./deflate.ts";
import { checkOriginPolicy } from "./_validate.ts";
import { HandshakeError } from "./errors.ts";
import { acceptKeySync, WEBSOCKET_VERSION } from "./handshake.ts";
import {
  type Extension,
  formatExtensions,
  hasToken,
  headerEntries,
  isHeaderValue,
  isToken,
  parseExtensions,
  parseProtocols,
} from "./headers.ts";

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
  headers?: HeadersInit | undefined;
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
  return new Headers(upgradeResponseFields(offer, options));
}

/** The fields of the 101 response, in order: what buildUpgradeResponse() and acceptUpgrade() build. */
function upgradeResponseFields(
  offer: UpgradeOffer,
  options: UpgradeResponseOptions,
): [string, string][] {
  const fields: [string, string][] = [
    ["upgrade", "websocket"],
    ["connection", "Upgrade"],
    ["sec-websocket-accept", acceptKeySync(offer.key)],
  ];
  const protocol = options.protocol;
  if (protocol !== undefined && protocol !== "") {
    if (!offer.protocols.includes(protocol)) {
      throw new TypeError(
        `Cannot build response: subprotocol ${JSON.stringify(protocol)} was not offered`,
      );
    }
    fields.push(["sec-websocket-protocol", protocol]);
  }
  const extensions = options.extensions ?? [];
  for (const extension of extensions) {
    if (!offer.extensions.some((offered) => offered.name === extension.name)) {
      throw new TypeError(`Cannot build response: extension ${extension.name} was not offered`);
    }
  }
  if (extensions.length > 0) {
    fields.push(["sec-websocket-extensions", formatExtensions(extensions)]);
  }
  for (const [name, value] of headerEntries(options.headers)) {
    if (!isToken(name) || !isHeaderValue(value)) {
      throw new TypeError(`Cannot build response: header ${JSON.stringify(name)} is malformed`);
    }
    if (RESERVED_RESPONSE_HEADERS.has(name.toLowerCase())) {
      // A subprotocol or extension set here would dodge the "only if offered" checks.
      throw new TypeError(`Cannot build response: header ${name} is set by the handshake`);
    }
    fields.push([name.toLowerCase(), value]);
  }
  return fields;
}

/**
 * Which subprotocol to speak: one name (used if the client offered it, as
 * `Deno.upgradeWebSocket` does), names in order of preference (the first
 * one the client offered), or a function choosing from the client's offers.
 */
export type ProtocolChoice =
  | string
  | readonly string[]
  | ((offered: readonly string[]) => string | undefined);

/**
 * Which browser origins may connect: exact origins such as
 * `"https://example.com"` (`"*"` for any), or a function deciding.
 */
export type OriginPolicy = readonly string[] | ((origin: string) => boolean);

/** The server's policy for {@linkcode acceptUpgrade}. */
export interface ServerHandshakeOptions {
  /** The subprotocol to choose. Default: none. */
  protocol?: ProtocolChoice | undefined;
  /**
   * Origins allowed to connect; a browser from another origin is refused
   * with 403. Entries are compared as origins: scheme, host and port, case
   * aside, without a trailing slash. Requests without an `Origin` header
   * (non-browser clients) are allowed. Default: any origin.
   */
  allowedOrigins?: OriginPolicy | undefined;
  /** Extra headers for the 101 response, such as Set-Cookie. */
  headers?: HeadersInit | undefined;
  /** permessage-deflate, when the server offers it. Default: off. */
  deflate?: PerMessageDeflate | undefined;
}

/** What {@linkcode acceptUpgrade} settled for one connection. */
export interface AcceptedHandshake {
  /** The validated request. */
  offer: UpgradeOffer;
  /** The subprotocol chosen; empty if none. */
  protocol: string;
  /** The `Sec-WebSocket-Extensions` value of the 101; empty if none. */
  extensions: string;
  /** permessage-deflate, when agreed. */
  deflate: DeflateSession | null;
  /** The 101 response's header fields, `Sec-WebSocket-Accept` included. */
  fields: [string, string][];
}

/**
 * Accepts an upgrade request under the server's policy: validates it
 * ({@linkcode validateUpgradeRequest}), checks its origin, chooses the
 * subprotocol, negotiates permessage-deflate and builds the 101's fields
 * (as {@linkcode buildUpgradeResponse} does).
 *
 * @param request The request: a `Request` will do.
 * @param options The server's policy.
 * @returns What the handshake settled.
 * @throws {HandshakeError} If the request must be refused: 400, 403
 * (origin), 405 or 426 (see {@linkcode rejectUpgrade}).
 * @throws {TypeError} If the policy is malformed: a subprotocol function
 * choosing one that was not offered, a reserved or malformed extra header,
 * or `allowedOrigins` that is neither an array nor a function.
 *
 * @example
 * ```ts
 * import { acceptUpgrade } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const headers = new Headers({
 *   host: "example.com",
 *   origin: "https://example.com",
 *   upgrade: "websocket",
 *   connection: "Upgrade",
 *   "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
 *   "sec-websocket-version": "13",
 *   "sec-websocket-protocol": "chat, superchat",
 * });
 * const accepted = acceptUpgrade({ method: "GET", headers }, {
 *   protocol: ["superchat", "chat"],
 *   allowedOrigins: ["https://EXAMPLE.com/"],
 * });
 * assert.equal(accepted.protocol, "superchat");
 * assert.deepEqual(accepted.fields, [
 *   ["upgrade", "websocket"],
 *   ["connection", "Upgrade"],
 *   ["sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
 *   ["sec-websocket-protocol", "superchat"],
 * ]);
 * ```
 */
export function acceptUpgrade(
  request: UpgradeRequestLike,
  options: ServerHandshakeOptions = {},
): AcceptedHandshake {
  const offer = validateUpgradeRequest(request);
  checkOrigin(request.headers.get("origin"), options.allowedOrigins);
  const protocol = chooseProtocol(offer.protocols, options.protocol);
  const deflate = options.deflate?.acceptOffer(offer.extensions) ?? null;
  const extensions = deflate === null ? [] : [deflate.response];
  const fields = upgradeResponseFields(offer, { protocol, extensions, headers: options.headers });
  return {
    offer,
    protocol,
    extensions: deflate === null ? "" : formatExtensions(extensions),
    deflate,
    fields,
  };
}

/** The response that refuses an upgrade, as {@linkcode rejectUpgrade} makes it. */
export interface HandshakeRejection {
  /** The status. */
  status: number;
  /** The header fields: the error's own, `Connection: close`, and the body's type. */
  fields: [string, string][];
  /** The body: the error's message, on one line. */
  body: string;
}

/**
 * The response that refuses an upgrade: the error's status and headers
 * (such as `Sec-WebSocket-Version: 13` with a 426), its message as a plain
 * text body, and `Connection: close`, since a refused handshake ends the
 * connection.
 *
 * @param error Why the upgrade is refused.
 * @returns The response to send.
 *
 * @example
 * ```ts
 * import { HandshakeError, rejectUpgrade } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const rejection = rejectUpgrade(new HandshakeError("FULL", 503, "Too many connections"));
 * assert.equal(rejection.status, 503);
 * assert.equal(rejection.body, "Too many connections\n");
 * assert.deepEqual(rejection.fields.at(-1), ["connection", "close"]);
 * ```
 */
export function rejectUpgrade(error: HandshakeError): HandshakeRejection {
  const fields: [string, string][] = [];
  for (const [name, value] of error.headers) {
    if (name !== "connection" && name !== "content-type" && name !== "content-length") {
      fields.push([name, value]);
    }
  }
  fields.push(["content-type", "text/plain; charset=utf-8"], ["connection", "close"]);
  return { status: error.status, fields, body: `${error.message}\n` };
}

/** The subprotocol to use of those offered; empty for none. */
function chooseProtocol(offered: readonly string[], choice: ProtocolChoice | undefined): string {
  if (choice === undefined) return "";
  if (typeof choice === "function") {
    const chosen = choice(offered);
    if (chosen === undefined || chosen === "") return "";
    if (!offered.includes(chosen)) {
      throw new TypeError(
        `Cannot upgrade: the chosen subprotocol ${JSON.stringify(chosen)} was not offered`,
      );
    }
    return chosen;
  }
  if (typeof choice === "string") return offered.includes(choice) ? choice : "";
  for (const protocol of choice) if (offered.includes(protocol)) return protocol;
  return "";
}

/**
 * Refuses a browser whose origin the policy does not allow (RFC 6455
 * §10.2: the `Origin` header protects against cross-site use from browsers).
 */
function checkOrigin(origin: string | null, allowed: OriginPolicy | undefined): void {
  if (allowed === undefined) return;
  // A malformed policy fails at the first request, with an Origin or not.
  checkOriginPolicy(allowed);
  if (origin === null) return;
  if (typeof allowed === "function") {
    if (allowed(origin)) return;
  } else {
    const normalized = normalizeOrigin(origin);
    for (const entry of allowed) {
      if (entry === "*" || (normalized !== null && normalizeOrigin(entry) === normalized)) return;
    }
  }
  throw new HandshakeError(
    "FORBIDDEN_ORIGIN",
    403,
    `Cannot upgrade to WebSocket: origin ${origin} is not allowed`,
  );
}

/**
 * An origin as scheme://host[:port], lower-cased, default port and trailing
 * slash dropped (RFC 6454 §6.2); `null` for one that is not a URL origin
 * (such as the opaque `"null"`), which then matches nothing but `"*"`.
 */
function normalizeOrigin(origin: string): string | null {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return null;
  }
  if (
    url.host === "" || (url.pathname !== "/" && url.pathname !== "") || url.search !== "" ||
    url.hash !== "" || origin.includes("#") || url.username !== "" || url.password !== ""
  ) {
    return null;
  }
  return `${url.protocol}//${url.host}`;
}
