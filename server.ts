// Copyright 2026 the Duplex authors. MIT license.
/**
 * The WebSocket server: {@linkcode serve} listens with `Deno.listen` (or
 * `Deno.listenTls`) and speaks just enough HTTP/1.1 for the upgrade, a page
 * and a health check, with its own limits on every byte a client sends.
 * Handlers have `Deno.serve`'s shape, and {@linkcode upgradeWebSocket} has
 * `Deno.upgradeWebSocket`'s: code moves between the two unchanged, and
 * `upgradeWebSocket` also works inside a real `Deno.serve` handler, where it
 * hands out the same {@linkcode WebSocketConnection} interface over Deno's
 * native socket. {@linkcode acceptWebSocket} upgrades a connection that
 * another server accepted.
 *
 * @example An echo server
 * ```ts
 * import { serve, upgradeWebSocket } from "@duplex/websocket/server";
 *
 * const server = serve({ port: 0, onListen() {} }, (request) => {
 *   if (request.headers.get("upgrade") !== "websocket") return new Response("Hello");
 *   const { socket, response } = upgradeWebSocket(request);
 *   socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * });
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { checkAcceptOptions, checkServeOptions, checkUpgradeOptions } from "./_options.ts";
import {
  fieldValue,
  HandshakeError,
  type OriginPolicy,
  type ProtocolChoice,
  rejectUpgrade,
} from "./codec/mod.ts";
import { TimeoutError } from "./errors.ts";
import type { Clock, ConnectionOptions, WebSocketConnection } from "./connection.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";
import { READ_SIZE, readRequest, type ReceivedRequest, writeRejection } from "./_http.ts";
import { upgradeNative } from "./_native.ts";
import { DuplexServer } from "./_server.ts";
import { ANSWERED, contexts, forget, openInfo, pendingUpgrades, upgradeOwn } from "./_upgrade.ts";
import { closeQuietly, writeAll } from "./_util.ts";
import type { WebSocket } from "./websocket.ts";

const EMPTY = new Uint8Array(0);

/** Information about the connection a request arrived on. */
export interface ServeHandlerInfo {
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
  /** Resolves once the response has been written (or the upgrade done). */
  completed: Promise<void>;
}

/** A request handler, as for `Deno.serve`. */
export type ServeHandler = (
  request: Request,
  info: ServeHandlerInfo,
) => Response | Promise<Response>;

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** The port; 0 picks a free one. Default 8000, as `Deno.serve`. */
  port?: number;
  /** The address to listen on. Default `"0.0.0.0"`. */
  hostname?: string;
  /**
   * Sets `SO_REUSEPORT`, so that several Workers or processes listen on one
   * port and the kernel spreads connections among them (Linux balances new
   * connections by their addresses). Give each a hub on a shared backplane
   * to make them one logical hub. Deno 2.9 allows it only with
   * `--unstable-net` (or `"unstable": ["net"]` in `deno.json`); without,
   * `serve()` throws `Deno.errors.NotSupported`. Default `false`.
   */
  reusePort?: boolean;
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /** Called once listening. Default: print the URL. */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Turns a handler's exception into a response. Default: log it, answer
   * 500. It also hears of a connection that could not be accepted (a client
   * that reset before it was taken, or no file descriptors left); its
   * response is then not used, and the server goes on accepting. Without
   * it, those failures are logged at most once every 10 s, with a count.
   */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** A PEM certificate chain: with `key`, serve over TLS (`Deno.listenTls`). */
  cert?: string;
  /** A PEM private key, with `cert`. */
  key?: string;
  /**
   * The most milliseconds a client may take to send a complete request
   * (head and body); a slower one is dropped. Default 10,000.
   */
  requestTimeout?: number;
  /** How long an idle keep-alive connection waits for its next request, in milliseconds. Default 5,000. */
  keepAliveTimeout?: number;
  /** The largest request head in bytes; more is a 431. Default 8 KiB. */
  maxHeadSize?: number;
  /** The most header fields; more is a 431. Default 100. */
  maxHeaderCount?: number;
  /** The longest request line in bytes; longer is a 414. Default 8 KiB. */
  maxRequestLineLength?: number;
  /** The largest request body in bytes; more is a 413. Default 1 MiB. */
  maxBodySize?: number;
  /** The request handler, when not passed as the second argument. */
  handler?: ServeHandler;
  /**
   * The clock of `requestTimeout` and `keepAliveTimeout`. Default: the
   * system's. (A WebSocket's own deadlines follow the `clock` of its
   * upgrade options.)
   */
  clock?: Clock;
}

/** A running server, as `Deno.serve` returns. */
export interface Server extends AsyncDisposable {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the server has stopped and released every connection. */
  readonly finished: Promise<void>;
  /**
   * Stops gracefully: stop accepting, close idle HTTP connections, send
   * 1001 Going Away to every WebSocket and wait for their closing
   * handshakes (each bounded by its `closeTimeout`).
   */
  shutdown(): Promise<void>;
  /** Lets the server keep the process alive (the default). */
  ref(): void;
  /** Lets the process exit while the server is listening. */
  unref(): void;
}

/** Options for {@linkcode upgradeWebSocket} and {@linkcode acceptWebSocket}. */
export interface UpgradeOptions extends ConnectionOptions {
  /**
   * The subprotocol: one name (used if the client offered it, as
   * `Deno.upgradeWebSocket` does), names in order of preference (the first
   * one the client offered), or a function choosing from the client's
   * offers. Default: none.
   */
  protocol?: ProtocolChoice;
  /** Extra headers for the 101 response, such as Set-Cookie. */
  headers?: HeadersInit;
  /**
   * Origins allowed to connect, such as `["https://example.com"]`, or a
   * function deciding; a browser from another origin is refused with 403.
   * Entries are compared as origins (scheme, host and port, case aside, no
   * trailing slash); `"*"` allows any. Requests without an `Origin` header
   * (non-browser clients) are allowed. Default: any origin.
   */
  allowedOrigins?: OriginPolicy;
  /**
   * As in `Deno.upgradeWebSocket`: seconds of silence from the client after
   * which it is pinged, and the seconds it has to answer before the
   * connection is closed. `0` disables it. Default 30. `keepalive`, in
   * milliseconds, takes precedence.
   */
  idleTimeout?: number;
}

/** What {@linkcode upgradeWebSocket} returns. */
export interface UpgradeResult {
  /** The response to return from the handler: it completes the upgrade. */
  response: Response;
  /** The WHATWG-style socket (`onmessage`, `send`, `close`…). */
  readonly socket: WebSocket | globalThis.WebSocket;
  /**
   * The same connection with the richer API (async iteration, awaited
   * sends, pings with round-trip times, streams). Use `socket` or
   * `connection`, not both: whichever is read first takes the messages.
   */
  readonly connection: WebSocketConnection;
}

/**
 * Serves HTTP/1.1 and WebSocket upgrades, with the shape of `Deno.serve`.
 *
 * @param options The address, TLS, limits and callbacks.
 * @param handler The request handler.
 * @returns The running server.
 *
 * @example
 * ```ts
 * import { serve } from "@duplex/websocket/server";
 * import assert from "node:assert/strict";
 *
 * const server = serve({ port: 0, onListen() {} }, () => new Response("ok"));
 * const response = await fetch(`http://localhost:${server.addr.port}/health`);
 * assert.equal(await response.text(), "ok");
 * await server.shutdown();
 * ```
 */
export function serve(options: ServeOptions, handler: ServeHandler): Server;
/**
 * Serves with the handler inside the options, or on port 8000.
 *
 * @param optionsOrHandler The options with a `handler`, or the handler.
 * @returns The running server.
 */
export function serve(optionsOrHandler: ServeOptions | ServeHandler): Server;
export function serve(
  optionsOrHandler: ServeOptions | ServeHandler,
  handler?: ServeHandler,
): Server {
  const options = typeof optionsOrHandler === "function" ? {} : optionsOrHandler;
  const fn = handler ??
    (typeof optionsOrHandler === "function" ? optionsOrHandler : options.handler);
  if (fn === undefined) throw new TypeError("Cannot serve: no handler was given");
  checkServeOptions(options);
  return new DuplexServer(options, fn);
}

/**
 * Upgrades a request to a WebSocket, as `Deno.upgradeWebSocket` does:
 * return the `response` from the handler and the connection opens.
 *
 * It works in {@linkcode serve} handlers (Duplex's own upgrade, framing and
 * limits) and in `Deno.serve` handlers (Deno's native WebSocket underneath,
 * behind the same {@linkcode WebSocketConnection} interface).
 *
 * @param request The request.
 * @param options Subprotocol, headers, origins, limits, keepalive.
 * @returns The response to return, the WHATWG `socket`, and the `connection`.
 * @throws {HandshakeError} If the request is not a valid upgrade: its
 * `status` (400, 403, 405, 426) is the answer, which `serve` sends if the
 * handler does not catch it.
 *
 * @example Echo with the richer API
 * ```ts
 * import { connect, serve, upgradeWebSocket } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const server = serve({ port: 0, onListen() {} }, (request) => {
 *   const { connection, response } = upgradeWebSocket(request, { protocol: ["chat"] });
 *   (async () => {
 *     for await (const message of connection) await connection.send(message);
 *   })();
 *   return response;
 * });
 * const client = await connect(`ws://localhost:${server.addr.port}/`, { protocols: ["chat"] });
 * assert.equal(client.protocol, "chat");
 * await client.send("hi");
 * assert.equal(await client.receive(), "hi");
 * await client.close();
 * await server.shutdown();
 * ```
 */
export function upgradeWebSocket(request: Request, options: UpgradeOptions = {}): UpgradeResult {
  checkUpgradeOptions(options);
  const context = contexts.get(request);
  if (context !== undefined) return upgradeOwn(request, context, options);
  if (ANSWERED in request) {
    throw new TypeError("Cannot upgrade: the handler has already returned its response");
  }
  return upgradeNative(request, options);
}

/** Options for {@linkcode acceptWebSocket}. */
export interface AcceptOptions extends UpgradeOptions {
  /** Bytes already read from the connection: the start of the request. */
  head?: Uint8Array;
  /** The most milliseconds the client may take to send its request. Default 10,000. */
  requestTimeout?: number;
  /** The largest request head in bytes; more is a 431. Default 8 KiB. */
  maxHeadSize?: number;
}

/**
 * Upgrades a connection that something else accepted: reads the request
 * (after any bytes already read from it), validates it, and answers 101 or
 * the right error status.
 *
 * @param conn The accepted connection.
 * @param options Bytes already read, and the upgrade options.
 * @returns The open connection.
 * @throws {HandshakeError} If the request is not a valid upgrade (the
 * error response has been sent and the connection closed).
 * @throws {TimeoutError} If the request does not arrive in time.
 *
 * @example
 * ```ts
 * import { acceptWebSocket, connect } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = connect(`ws://127.0.0.1:${listener.addr.port}/`);
 * const server = await acceptWebSocket(await listener.accept());
 * listener.close();
 * await (await client).send("raw");
 * assert.equal(await server.receive(), "raw");
 * await server.close();
 * ```
 */
export async function acceptWebSocket(
  conn: Deno.Conn,
  options: AcceptOptions = {},
): Promise<WebSocketConnection> {
  checkAcceptOptions(options);
  const timeout = options.requestTimeout ?? 10_000;
  const clock = options.clock ?? SYSTEM_CLOCK;
  let expired = false;
  const deadline = clock.setTimeout(() => {
    expired = true;
    closeQuietly(conn);
  }, timeout);
  let received: ReceivedRequest | null;
  try {
    received = await readRequest(conn, new Uint8Array(READ_SIZE), options.head ?? EMPTY, {
      ...(options.maxHeadSize !== undefined ? { maxHeadSize: options.maxHeadSize } : {}),
      maxBodySize: 0,
    }, () => {});
    if (received === null) {
      throw new HandshakeError("TRUNCATED_HEAD", 400, "The connection closed before a request");
    }
  } catch (error) {
    if (expired) throw new TimeoutError("HANDSHAKE_TIMEOUT", `No request within ${timeout} ms`);
    if (error instanceof HandshakeError) {
      await writeRejection(conn, rejectUpgrade(error)).catch(() => {});
    }
    closeQuietly(conn);
    throw error;
  } finally {
    clock.clearTimeout(deadline);
  }
  const { head, raw, leftover } = received;
  const request = new Request(
    new URL(head.target, `http://${fieldValue(head.fields, "host") ?? "localhost"}`),
    {
      headers: head.fields,
    },
  );
  contexts.set(request, { version: head.version, upgrade: null, head: raw, fields: head.fields });
  let result: UpgradeResult;
  try {
    if (head.method !== "GET") {
      throw new HandshakeError(
        "INVALID_METHOD",
        405,
        `Cannot upgrade to WebSocket: the method is ${head.method}, not GET`,
        {
          headers: { allow: "GET" },
        },
      );
    }
    result = upgradeWebSocket(request, options);
  } catch (error) {
    const refusal = error instanceof HandshakeError
      ? error
      : new HandshakeError("INTERNAL_ERROR", 500, (error as Error).message);
    await writeRejection(conn, rejectUpgrade(refusal)).catch(() => {});
    closeQuietly(conn);
    throw error;
  }
  const pending = pendingUpgrades.get(result.response)!;
  forget(request, result.response);
  try {
    await writeAll(conn, pending.response.serialize());
  } catch (error) {
    closeQuietly(conn);
    pending.connection.fail(error as Error);
    throw error;
  }
  pending.connection.open(conn, leftover, openInfo(pending));
  return pending.connection;
}
