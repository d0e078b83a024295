// Copyright 2026 the Duplex authors. MIT license.
/**
 * The named close codes (RFC 6455 §7.4 and the IANA "WebSocket Close Code
 * Number" registry), in a module of their own so that every part of the
 * codec can name them without importing the close payload's code.
 *
 * This module is browser-compatible.
 *
 * @module
 */

/**
 * Named close codes.
 *
 * `NoStatusReceived` (1005), `AbnormalClosure` (1006) and `TlsHandshake`
 * (1015) are reported to applications but never sent on the wire.
 *
 * @example
 * ```ts
 * import { CloseCode } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CloseCode.MessageTooBig, 1009);
 * ```
 */
export const CloseCode = {
  /** 1000: the purpose of the connection has been fulfilled. */
  NormalClosure: 1000,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GoingAway: 1001,
  /** 1002: the peer broke the protocol. */
  ProtocolError: 1002,
  /** 1003: the endpoint cannot accept this type of data. */
  UnsupportedData: 1003,
  /** 1005: no status code was present in the close frame (never sent). */
  NoStatusReceived: 1005,
  /** 1006: the connection closed without a close frame (never sent). */
  AbnormalClosure: 1006,
  /** 1007: the data was not consistent with the message type (bad UTF-8). */
  InvalidPayload: 1007,
  /** 1008: the message violates the endpoint's policy. */
  PolicyViolation: 1008,
  /** 1009: the message is too big to process. */
  MessageTooBig: 1009,
  /** 1010: the client expected the server to negotiate an extension. */
  MandatoryExtension: 1010,
  /** 1011: the server met an unexpected condition. */
  InternalError: 1011,
  /** 1012: the service is restarting. */
  ServiceRestart: 1012,
  /** 1013: try again later (for example, the server is overloaded). */
  TryAgainLater: 1013,
  /** 1014: a gateway or proxy received an invalid response upstream. */
  BadGateway: 1014,
  /** 1015: the TLS handshake failed (never sent). */
  TlsHandshake: 1015,
} as const;

/** A named close code; any number in the valid ranges may also be used. */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];
