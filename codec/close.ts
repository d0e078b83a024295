// Copyright 2026 the Duplex authors. MIT license.
/**
 * Close codes (RFC 6455 §7.4 and the IANA "WebSocket Close Code Number"
 * registry) and the close frame payload: a 2-byte code then a UTF-8 reason.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { CloseCode } from "./close_code.ts";
import { ProtocolError } from "./errors.ts";
import { decodeUtf8, encodeUtf8 } from "./utf8.ts";

/**
 * Returns whether `code` may appear in a close frame on the wire: 1000–1003,
 * 1007–1014 (the codes RFC 6455 and the IANA registry define) and 3000–4999
 * (registered and private use). 1004 is reserved; 1005, 1006 and 1015 are
 * for reporting only; 1016–2999 are reserved for future standards.
 *
 * @param code The close code.
 * @returns `true` if the code is valid in a close frame.
 *
 * @example
 * ```ts
 * import { isValidCloseCode } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isValidCloseCode(1000), true);
 * assert.equal(isValidCloseCode(1005), false);
 * assert.equal(isValidCloseCode(4999), true);
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  return Number.isInteger(code) && (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The longest reason that fits a close frame: 125 bytes minus the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Builds a close frame payload.
 *
 * @param code The close code, or `undefined` for an empty payload (the
 * receiver then reports 1005).
 * @param reason The reason, at most 123 bytes once encoded as UTF-8.
 * @returns The payload bytes.
 * @throws {RangeError} If the code is not valid on the wire, if a reason is
 * given without a code, or if the reason is too long.
 *
 * @example
 * ```ts
 * import { encodeClosePayload } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(encodeClosePayload(1000, "bye"), new Uint8Array([0x03, 0xe8, 0x62, 0x79, 0x65]));
 * assert.deepEqual(encodeClosePayload(), new Uint8Array(0));
 * ```
 */
export function encodeClosePayload(code?: number, reason = ""): Uint8Array {
  if (code === undefined) {
    if (reason !== "") {
      throw new RangeError("Cannot encode close payload: a reason needs a close code");
    }
    return new Uint8Array(0);
  }
  if (!isValidCloseCode(code)) {
    throw new RangeError(`Cannot encode close payload: ${code} is not a valid close code`);
  }
  const reasonBytes = encodeUtf8(reason);
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(
      `Cannot encode close payload: the reason is ${reasonBytes.length} bytes, the limit is ${MAX_CLOSE_REASON_BYTES}`,
    );
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/** A parsed close frame payload. */
export interface ClosePayload {
  /** The close code; 1005 when the payload was empty. */
  code: number;
  /** The reason; empty when none was given. */
  reason: string;
}

/**
 * Parses a received close frame payload.
 *
 * @param payload The payload of a close frame.
 * @returns The code and reason; an empty payload gives code 1005.
 * @throws {ProtocolError} 1002 for a 1-byte payload or a code not valid on
 * the wire; 1007 for a reason that is not valid UTF-8.
 *
 * @example
 * ```ts
 * import { parseClosePayload } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseClosePayload(new Uint8Array([0x03, 0xe9])), { code: 1001, reason: "" });
 * assert.deepEqual(parseClosePayload(new Uint8Array(0)), { code: 1005, reason: "" });
 * ```
 */
export function parseClosePayload(payload: Uint8Array): ClosePayload {
  if (payload.length === 0) return { code: CloseCode.NoStatusReceived, reason: "" };
  if (payload.length === 1) {
    // RFC 6455 §5.5.1: a body, if present, starts with a 2-byte status code.
    throw new ProtocolError(
      "INVALID_CLOSE_PAYLOAD",
      CloseCode.ProtocolError,
      "Cannot parse close frame: a 1-byte payload has no room for a status code",
    );
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(
      "INVALID_CLOSE_CODE",
      CloseCode.ProtocolError,
      `Cannot parse close frame: ${code} is not a valid close code`,
    );
  }
  const reason = payload.length === 2 ? "" : decodeUtf8(payload.subarray(2));
  return { code, reason };
}

/**
 * Shortens a text to fit a close frame's reason (123 bytes of UTF-8), on a
 * character boundary. Internal: not exported from the codec's entry point.
 *
 * @param message The text.
 * @returns It, or its longest prefix that fits.
 */
export function truncateReason(message: string): string {
  let reason = message;
  while (encodeUtf8(reason).length > 123) reason = reason.slice(0, -1);
  return reason;
}
