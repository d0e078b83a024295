// Copyright 2026 the Duplex authors. MIT license.
/**
 * The transport's typed errors: what the network, a deadline or the hub's
 * policy did to a connection. The codec's own errors (`ProtocolError`,
 * `HandshakeError`, `ClosedError`) are in `codec/errors.ts`; together they
 * are every error Duplex reports.
 *
 * @module
 */

/**
 * The transport failed: the connection was refused, reset, or dropped
 * without a closing handshake, or the host could not be found or its TLS
 * certificate verified. The original error is its `cause`.
 *
 * Codes: `"CONNECTION_REFUSED"`, `"HOST_NOT_FOUND"`, `"TLS_ERROR"`,
 * `"CONNECTION_RESET"`, `"CONNECTION_CLOSED"` (the peer closed TCP without
 * a close frame).
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const error = new ConnectionError("CONNECTION_REFUSED", "Cannot connect to ws://localhost:1/");
 * assert.equal(error.code, "CONNECTION_REFUSED");
 * ```
 */
export class ConnectionError extends Error {
  /** A stable identifier, such as `"CONNECTION_REFUSED"`. */
  readonly code: string;

  /**
   * Creates a connection error.
   *
   * @param code A stable identifier.
   * @param message What went wrong, for humans.
   * @param options The underlying error, as `cause`.
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
    this.code = code;
  }
}

/**
 * Something took longer than its limit.
 *
 * Codes: `"HANDSHAKE_TIMEOUT"`, `"CLOSE_TIMEOUT"`, `"RECEIVE_TIMEOUT"`,
 * `"PONG_TIMEOUT"` (a keepalive ping went unanswered), `"IDLE_TIMEOUT"`.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const error = new TimeoutError("RECEIVE_TIMEOUT", "No message within 100 ms");
 * assert.equal(error.code, "RECEIVE_TIMEOUT");
 * ```
 */
export class TimeoutError extends Error {
  /** A stable identifier, such as `"HANDSHAKE_TIMEOUT"`. */
  readonly code: string;

  /**
   * Creates a timeout error.
   *
   * @param code A stable identifier.
   * @param message What timed out, for humans.
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = "TimeoutError";
    this.code = code;
  }
}

/**
 * Why the hub closed a connection under the `"close"` backpressure policy:
 * the peer left more unsent bytes than the hub's `maxBackpressure` allows
 * for longer than its `backpressureGrace`. The hub's `"error"` event
 * carries it; the peer gets a 1008 close frame.
 *
 * @example
 * ```ts
 * import { SlowConsumerError } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const error = new SlowConsumerError(1024);
 * assert.equal(error.code, "SLOW_CONSUMER");
 * ```
 */
export class SlowConsumerError extends Error {
  /** Always `"SLOW_CONSUMER"`. */
  readonly code: string = "SLOW_CONSUMER";

  /**
   * Creates the error.
   *
   * @param limit The hub's `maxBackpressure`.
   */
  constructor(limit: number) {
    super(`The peer left more than ${limit} bytes unread for too long`);
    this.name = "SlowConsumerError";
  }
}
