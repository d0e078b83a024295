// Copyright 2026 the Duplex authors. MIT license.
/**
 * The codec's typed errors. Each carries a stable `code` string and the
 * close code or HTTP status that belongs to it, so one place can turn any
 * failure into the right bytes on the wire. The transport's errors
 * (`ConnectionError`, `TimeoutError`) live with the transport, in the
 * package's root `errors.ts`: the codec never throws them.
 *
 * Misuse of an API (a bad argument) throws a built-in `TypeError` or
 * `RangeError` instead: these classes are for conditions callers are expected
 * to catch.
 *
 * This module is browser-compatible.
 *
 * @module
 */

/**
 * The peer broke RFC 6455, or one of our limits: the connection must be
 * failed with {@linkcode ProtocolError.closeCode}.
 *
 * Codes used: `1002` (protocol error), `1007` (invalid UTF-8), `1008`
 * (policy), `1009` (message too big).
 *
 * @example Mapping the error to the close frame to send
 * ```ts
 * import { FrameDecoder, ProtocolError } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const decoder = new FrameDecoder({ role: "server" });
 * decoder.push(new Uint8Array([0x81, 0x00])); // an unmasked client frame
 * assert.throws(
 *   () => decoder.next(),
 *   (error) => error instanceof ProtocolError && error.closeCode === 1002,
 * );
 * ```
 */
export class ProtocolError extends Error {
  /** The close code to send when failing the connection for this error. */
  readonly closeCode: number;
  /** A stable identifier, such as `"RESERVED_BITS"` or `"INVALID_UTF8"`. */
  readonly code: string;

  /**
   * Creates a protocol error.
   *
   * @param code A stable identifier such as `"RESERVED_OPCODE"`.
   * @param closeCode The close code to send (1002, 1007, 1008 or 1009).
   * @param message What went wrong, for humans.
   */
  constructor(code: string, closeCode: number, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** Options for {@linkcode HandshakeError}. */
export interface HandshakeErrorOptions {
  /** Headers that go with the status (see {@linkcode HandshakeError.headers}). */
  headers?: HeadersInit;
  /** The body of a refusal received by a client. */
  body?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * The opening handshake failed.
 *
 * On a server, {@linkcode HandshakeError.status} and
 * {@linkcode HandshakeError.headers} describe the HTTP response to answer
 * with (for example `426` with `Sec-WebSocket-Version: 13`). On a client,
 * they describe the response the server sent, and
 * {@linkcode HandshakeError.body} holds its body (for example a `401` or
 * `403` refusal); a `101` response that fails validation keeps status `101`.
 *
 * @example A server answering a failed upgrade
 * ```ts
 * import { HandshakeError, validateUpgradeRequest } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const request = new Request("http://localhost/", {
 *   headers: { upgrade: "websocket", connection: "Upgrade" },
 * });
 * assert.throws(
 *   () => validateUpgradeRequest(request), // no key, no version
 *   (error) => error instanceof HandshakeError && error.status === 426,
 * );
 * ```
 */
export class HandshakeError extends Error {
  /** A stable identifier, such as `"UNSUPPORTED_VERSION"` or `"UNEXPECTED_STATUS"`. */
  readonly code: string;
  /** The HTTP status: to answer (server side) or received (client side). */
  readonly status: number;
  /** Headers: to add to the answer (server side) or received (client side). */
  readonly headers: Headers;
  /** The body of the server's refusal (client side); empty otherwise. */
  readonly body: string;

  /**
   * Creates a handshake error.
   *
   * @param code A stable identifier such as `"MISSING_KEY"`.
   * @param status The HTTP status that belongs to this failure.
   * @param message What went wrong, for humans.
   * @param options Headers, body and cause.
   */
  constructor(
    code: string,
    status: number,
    message: string,
    options: HandshakeErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HandshakeError";
    this.code = code;
    this.status = status;
    this.headers = new Headers(options.headers);
    this.body = options.body ?? "";
  }
}

/**
 * An operation was attempted on a connection that is closing or closed.
 * Carries how the connection ended, when known.
 *
 * @example
 * ```ts
 * import { ClosedError, Protocol } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const protocol = new Protocol({ role: "server" });
 * protocol.close(1000);
 * assert.throws(() => protocol.send("late"), ClosedError);
 * ```
 */
export class ClosedError extends Error {
  /** Always `"CLOSED"`. */
  readonly code: string = "CLOSED";
  /** The close code of the connection (1006 when it ended abnormally). */
  readonly closeCode: number;
  /** The close reason of the connection. */
  readonly reason: string;

  /**
   * Creates a closed error.
   *
   * @param closeCode The connection's close code.
   * @param reason The connection's close reason.
   * @param message What was attempted, for humans.
   */
  constructor(closeCode: number, reason: string, message = "Cannot use a closed WebSocket") {
    super(message);
    this.name = "ClosedError";
    this.closeCode = closeCode;
    this.reason = reason;
  }
}
