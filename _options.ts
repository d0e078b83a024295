// Copyright 2026 the Duplex authors. MIT license.
// One check per options type, shared by every entry point that takes it:
// connect() and the WebSocket class, upgradeWebSocket() on either server,
// acceptWebSocket(), serve() and the Hub. A bad value is refused at the
// call, before any network activity, with a TypeError (wrong type, unknown
// name) or a RangeError (a number out of range) naming the option. Internal.
import {
  duration,
  nonNegative,
  oneOf,
  optionalBoolean,
  positiveLimit,
  wholeAtLeast,
} from "./codec/_validate.ts";
import { isHeaderValue } from "./codec/headers.ts";
import { parseProxy } from "./_proxy.ts";
import type { ConnectionOptions } from "./connection.ts";
import { deflateFor } from "./_deflate.ts";
import type { ConnectOptions } from "./_client.ts";
import type { ReconnectOptions } from "./reconnect.ts";
import type { AcceptOptions, ServeOptions, UpgradeOptions } from "./server.ts";

/** Checks a whole number ≥ 1 (or Infinity) if given. */
function positive(options: object, name: string, what: string): void {
  const value = (options as Record<string, unknown>)[name];
  if (value !== undefined) wholeAtLeast(name, value, 1, what);
}

/** Checks a whole number ≥ 0 (or Infinity) if given. */
function zeroOrMore(options: object, name: string, what: string): void {
  const value = (options as Record<string, unknown>)[name];
  if (value !== undefined) nonNegative(name, value, what);
}

/** Checks a duration in milliseconds (or seconds) if given. */
function time(options: object, name: string, what: string, unit: "ms" | "s" = "ms"): void {
  const value = (options as Record<string, unknown>)[name];
  if (value !== undefined) duration(name, value, what, unit);
}

/** Checks a `clock` if given: an object with `now`, `setTimeout` and `clearTimeout`. */
function clock(options: object, what: string): void {
  const value = (options as { clock?: unknown }).clock;
  if (value === undefined) return;
  const methods = value as Record<string, unknown> | null;
  if (
    typeof value !== "object" || methods === null || typeof methods.now !== "function" ||
    typeof methods.setTimeout !== "function" || typeof methods.clearTimeout !== "function"
  ) {
    throw new TypeError(
      `Cannot ${what}: clock must be an object with now(), setTimeout() and clearTimeout(), got ${
        String(value)
      }`,
    );
  }
}

/** Refuses what is not an options object. */
function object(options: unknown, what: string): void {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Cannot ${what}: the options must be an object, got ${String(options)}`);
  }
}

/**
 * The connection's limits and compression: what every connection takes,
 * and what a hub passes on to each upgrade. `keepalive` is checked apart.
 */
function checkLimits(options: ConnectionOptions, what: string): void {
  positive(options, "maxMessageSize", what);
  positive(options, "maxFragments", what);
  positive(options, "fragmentSize", what);
  time(options, "closeTimeout", what);
  clock(options, what);
  // "0 makes every send() wait for its write."
  zeroOrMore(options, "highWaterMark", what);
  // 0 would stop reading for good: nothing is queued below it.
  positive(options, "receiveHighWaterMark", what);
  const compression = options.compression;
  if (compression !== undefined && typeof compression !== "boolean") {
    if (typeof compression !== "object" || compression === null) {
      throw new TypeError(
        `Cannot ${what}: compression must be a boolean or an object, got ${String(compression)}`,
      );
    }
  }
  // The values themselves: PerMessageDeflate's checks.
  deflateFor(compression);
}

/**
 * Checks {@linkcode ConnectionOptions}.
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkConnectionOptions(options: ConnectionOptions, what: string): void {
  object(options, what);
  checkLimits(options, what);
  const keepalive = options.keepalive;
  if (keepalive !== undefined) {
    if (typeof keepalive !== "object" || keepalive === null) {
      throw new TypeError(
        `Cannot ${what}: keepalive must be an object such as { pingInterval: 30_000 }, got ${
          String(keepalive)
        }`,
      );
    }
    positiveLimit("keepalive.pingInterval", keepalive.pingInterval, "keepalive");
    if (keepalive.pongTimeout !== undefined) {
      positiveLimit("keepalive.pongTimeout", keepalive.pongTimeout, "keepalive");
    }
  }
}

/**
 * Checks {@linkcode ConnectOptions}, for `connect()` and the `WebSocket`
 * class, before anything is dialed.
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkConnectOptions(options: ConnectOptions, what = "connect"): void {
  checkConnectionOptions(options, what);
  time(options, "handshakeTimeout", what);
  positive(options, "maxHeadSize", what);
  zeroOrMore(options, "followRedirects", what);
  if (options.proxy !== undefined) {
    if (typeof options.proxy !== "string") {
      throw new TypeError(`Cannot ${what}: proxy must be a string, got ${String(options.proxy)}`);
    }
    if (options.proxy !== "env") parseProxy(options.proxy, what);
  }
  const userAgent = options.userAgent;
  if (
    userAgent !== undefined && typeof userAgent !== "boolean" &&
    (typeof userAgent !== "string" || !isHeaderValue(userAgent))
  ) {
    throw new TypeError(
      `Cannot ${what}: userAgent must be a header value or a boolean, got ${
        JSON.stringify(userAgent)
      }`,
    );
  }
}

/**
 * Checks `reconnect()`'s options: `connect()`'s, and the backoff's.
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkReconnectOptions(options: ReconnectOptions, what = "reconnect"): void {
  checkConnectOptions(options, what);
  time(options, "minDelay", what);
  time(options, "maxDelay", what);
  if ((options.minDelay ?? 500) > (options.maxDelay ?? 30_000)) {
    throw new RangeError(
      `Cannot ${what}: minDelay (${options.minDelay ?? 500}) is more than maxDelay (${
        options.maxDelay ?? 30_000
      })`,
    );
  }
  positive(options, "maxAttempts", what);
  if (options.onRetry !== undefined && typeof options.onRetry !== "function") {
    throw new TypeError(
      `Cannot ${what}: onRetry must be a function, got ${String(options.onRetry)}`,
    );
  }
}

/**
 * Checks {@linkcode UpgradeOptions} (`idleTimeout` is in seconds).
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkUpgradeOptions(options: UpgradeOptions, what = "upgrade"): void {
  checkConnectionOptions(options, what);
  time(options, "idleTimeout", what, "s");
}

/**
 * Checks {@linkcode AcceptOptions}.
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkAcceptOptions(options: AcceptOptions, what = "accept"): void {
  checkUpgradeOptions(options, what);
  time(options, "requestTimeout", what);
  positive(options, "maxHeadSize", what);
  if (options.head !== undefined && !(options.head instanceof Uint8Array)) {
    throw new TypeError(`Cannot ${what}: head must be a Uint8Array`);
  }
}

/**
 * Checks {@linkcode ServeOptions}, before anything listens.
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkServeOptions(options: ServeOptions, what = "serve"): void {
  object(options, what);
  const port = options.port;
  if (port !== undefined) {
    // Not a string: Deno.listen would coerce it.
    if (typeof port !== "number") {
      throw new TypeError(`Cannot ${what}: port must be a number, got ${JSON.stringify(port)}`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(
        `Cannot ${what}: port must be a whole number from 0 to 65535, got ${port}`,
      );
    }
  }
  optionalBoolean("reusePort", options.reusePort, what);
  time(options, "requestTimeout", what);
  time(options, "keepAliveTimeout", what);
  clock(options, what);
  positive(options, "maxHeadSize", what);
  zeroOrMore(options, "maxHeaderCount", what);
  positive(options, "maxRequestLineLength", what);
  zeroOrMore(options, "maxBodySize", what);
}

/** What the hub checks of its options; see hub.ts. */
export interface HubLimits extends Omit<UpgradeOptions, "keepalive" | "idleTimeout"> {
  maxConnections?: number;
  pingInterval?: number;
  pongTimeout?: number;
  maxBackpressure?: number;
  backpressure?: string;
  backpressureGrace?: number;
  backplane?: unknown;
}

/**
 * Checks a hub's options, including the upgrade options it passes on to
 * every connection, when the hub is made.
 *
 * @throws {TypeError} For a value of the wrong type.
 * @throws {RangeError} For a number out of range.
 */
export function checkHubOptions(options: HubLimits, what = "create hub"): void {
  object(options, what);
  checkLimits(options, what);
  zeroOrMore(options, "maxConnections", what);
  // 0 disables keepalive; otherwise a whole number of milliseconds.
  if (options.pingInterval !== undefined) {
    duration("pingInterval", options.pingInterval, what);
    wholeAtLeast("pingInterval", options.pingInterval, 0, what);
  }
  if (options.pongTimeout !== undefined) {
    duration("pongTimeout", options.pongTimeout, what);
    wholeAtLeast("pongTimeout", options.pongTimeout, 1, what);
  }
  zeroOrMore(options, "maxBackpressure", what);
  time(options, "backpressureGrace", what);
  if (options.backpressure !== undefined) {
    oneOf("backpressure", options.backpressure, ["close", "drop"] as const, what);
  }
  const backplane = options.backplane;
  if (backplane !== undefined) {
    const methods = ["attach", "subscribe", "unsubscribe", "publish", "stats", "close"] as const;
    const missing = typeof backplane === "object" && backplane !== null
      ? methods.find((name) => typeof (backplane as Record<string, unknown>)[name] !== "function")
      : "attach";
    if (missing !== undefined) {
      throw new TypeError(
        `Cannot ${what}: backplane must be a Backplane (with ${methods.join(", ")}), got ${
          backplane === null
            ? "null"
            : typeof backplane === "object"
            ? `one without ${missing}`
            : typeof backplane
        }`,
      );
    }
  }
}
