// Copyright 2026 the Duplex authors. MIT license.
/**
 * A client that comes back: {@linkcode reconnect} yields a connection,
 * and a new one each time the last one drops, after a backoff.
 *
 * @example Keep a feed open across server restarts
 * ```ts ignore
 * import { reconnect } from "@duplex/websocket";
 *
 * for await (const connection of reconnect("wss://example.com/feed", {
 *   onRetry: ({ delay }) => console.log(`reconnecting in ${Math.round(delay / 1000)} s`),
 * })) {
 *   for await (const message of connection) console.log(message);
 * }
 * ```
 *
 * @module
 */

import { HandshakeError } from "./codec/mod.ts";
import { connect, type ConnectOptions } from "./client.ts";
import type { Clock, ConnectionCloseInfo, WebSocketConnection } from "./connection.ts";
import { ConnectionError, TimeoutError } from "./errors.ts";
import { checkReconnectOptions } from "./_options.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";

/** Options for {@linkcode reconnect}: `connect()`'s, and the backoff's. */
export interface ReconnectOptions extends ConnectOptions {
  /**
   * The wait before the first retry, in milliseconds; each failed attempt
   * in a row doubles it, up to `maxDelay`. Each wait is drawn between half
   * and all of that (jitter), so that clients dropped together do not come
   * back together. Default 500.
   */
  minDelay?: number;
  /** The longest wait between attempts, in milliseconds (a `Retry-After` may ask for more). Default 30,000. */
  maxDelay?: number;
  /** Give up after this many failed attempts in a row: the iteration then throws the last error. Default: never. */
  maxAttempts?: number;
  /** Called before each wait: to show "reconnecting in 3 s". */
  onRetry?: (retry: ReconnectRetry) => void;
}

/** What {@linkcode ReconnectOptions.onRetry} is told before a wait. */
export interface ReconnectRetry {
  /** 1 for the first retry after a drop or a failure, then 2, 3… while attempts fail. */
  attempt: number;
  /** The wait about to start, in milliseconds. */
  delay: number;
  /** Why: the error of the attempt that failed, or how the last connection closed. */
  reason: Error | ConnectionCloseInfo;
}

// Close codes after which a server may well be back: going away, gone
// without a close frame, an internal error, a restart, try again later, a
// bad gateway (RFC 6455 §7.4.1, and IANA's registry).
const RETRY_CODES = new Set([1001, 1006, 1011, 1012, 1013, 1014]);

/**
 * Whether a failed attempt is worth another: the network, a timeout, or a
 * refusal with 5xx or 429. Any other refusal (401, 403, 404…) or a
 * handshake the server got wrong will fail again the same way.
 */
function retryable(error: unknown): boolean {
  if (error instanceof ConnectionError) return true;
  if (error instanceof TimeoutError) return true;
  if (error instanceof HandshakeError) {
    return error.code === "UNEXPECTED_STATUS" && (error.status >= 500 || error.status === 429);
  }
  return false;
}

/** A refusal's `Retry-After`, in milliseconds from now; 0 without one. */
function retryAfter(error: unknown): number {
  if (!(error instanceof HandshakeError) || (error.status !== 429 && error.status !== 503)) {
    return 0;
  }
  const value = error.headers.get("retry-after")?.trim();
  if (value === undefined || value === "") return 0;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/**
 * Connects, and connects again whenever the connection drops, with an
 * exponential backoff and jitter. Each connection is yielded once it is
 * open; the next one is made only after it has closed. So the loop body
 * may use a connection until it ends (iterating its messages, say).
 *
 * - **Retried:** a failed attempt on a network failure, a timeout, or a
 *   refusal with a 5xx status or 429. A connection that closed with 1001,
 *   1006 or 1011–1014 is also retried. `Retry-After` on a 429 or 503 is a
 *   minimum wait (a hub past `maxConnections` sends one).
 * - **Not retried:** any other refusal (401, 403, 404…) throws from the
 *   loop. A connection closed with any other code (1000 included) ends
 *   the loop.
 * - **Stopping:** the `signal` stops the loop (a handshake under way is
 *   cancelled, a connection open is closed with 1000). So does leaving the
 *   loop with `break`, which closes the open connection too.
 * - **Unsent messages:** a connection's messages are its own. A `send()`
 *   on a connection that has dropped rejects with a `ClosedError`, and
 *   nothing is carried over to the next connection, so the application
 *   decides what to send again.
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options `connect()`'s options, and the backoff's.
 * @returns The connections, one at a time.
 * @throws {TypeError} For a bad option, at the call.
 * @throws {RangeError} For a delay or count out of range, at the call.
 *
 * @example Back after the server restarts
 * ```ts
 * import { reconnect, serve, upgradeWebSocket } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const echo = (port: number) =>
 *   serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => {
 *     const { connection, response } = upgradeWebSocket(request);
 *     connection.listen({ message: (data) => connection.send(data) });
 *     return response;
 *   });
 * let server = echo(0);
 * const port = server.addr.port;
 * const stop = new AbortController();
 * const seen: string[] = [];
 * for await (const connection of reconnect(`ws://127.0.0.1:${port}/`, {
 *   minDelay: 10,
 *   signal: stop.signal,
 * })) {
 *   await connection.send(`hello ${seen.length}`);
 *   seen.push(String(await connection.receive()));
 *   if (seen.length === 1) {
 *     await server.shutdown(); // the connection closes with 1001: it will be back
 *     server = echo(port);
 *   } else stop.abort();
 * }
 * assert.deepEqual(seen, ["hello 0", "hello 1"]);
 * await server.shutdown();
 * ```
 */
export function reconnect(
  url: string | URL,
  options: ReconnectOptions = {},
): AsyncIterableIterator<WebSocketConnection> {
  checkReconnectOptions(options);
  return connections(url, options);
}

async function* connections(
  url: string | URL,
  options: ReconnectOptions,
): AsyncGenerator<WebSocketConnection> {
  const { minDelay = 500, maxDelay = 30_000, maxAttempts = Infinity, onRetry, ...rest } = options;
  const signal = options.signal;
  // A function, not a test of signal.aborted: it changes across awaits.
  const stopped = () => signal?.aborted === true;
  const clock = options.clock ?? SYSTEM_CLOCK;
  let failures = 0;
  const wait = (reason: Error | ConnectionCloseInfo, floor: number): Promise<boolean> => {
    const base = Math.min(maxDelay, minDelay * 2 ** Math.max(0, failures - 1));
    const delay = Math.max(floor, base / 2 + (Math.random() * base) / 2);
    try {
      onRetry?.({ attempt: Math.max(1, failures), delay, reason });
    } catch (error) {
      reportError(error);
    }
    return sleep(delay, clock, signal);
  };
  let current: WebSocketConnection | null = null;
  try {
    while (!stopped()) {
      let connection: WebSocketConnection;
      try {
        connection = await connect(url, rest);
      } catch (error) {
        if (stopped()) return;
        if (!retryable(error)) throw error;
        failures++;
        if (failures >= maxAttempts) throw error;
        if (!(await wait(error as Error, retryAfter(error)))) return;
        continue;
      }
      failures = 0;
      current = connection;
      yield connection;
      // The next one, once this one has ended (or the signal says stop).
      const info = await ended(connection, signal);
      if (info === null) return;
      current = null;
      if (!RETRY_CODES.has(info.code)) return;
      failures = 1;
      if (!(await wait(info, 0))) return;
    }
  } finally {
    // Stopped, or left with break: the connection open is closed.
    if (current !== null) await current.close(1000, "reconnect stopped").catch(() => {});
  }
}

/** How `connection` closed; `null` if the signal stopped the wait first. */
function ended(
  connection: WebSocketConnection,
  signal: AbortSignal | undefined,
): Promise<ConnectionCloseInfo | null> {
  if (signal === undefined) return connection.closed;
  if (signal.aborted) return Promise.resolve(null);
  return new Promise((resolve) => {
    const onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
    connection.closed.then((info) => {
      signal.removeEventListener("abort", onAbort);
      resolve(info);
    });
  });
}

/** Waits `delay` ms on `clock`; `false` if the signal aborted first. */
function sleep(
  delay: number,
  clock: Clock,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, delay);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
