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

import {
  acceptKeySync,
  BodyDecoder,
  bodyFraming,
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADER_COUNT,
  type DeflateAgreement,
  type Extension,
  fieldValue,
  formatExtensions,
  HandshakeError,
  HttpHeadReader,
  negotiateDeflate,
  type ProtocolCompression,
  type RequestHead,
  serializeResponseHead,
  TimeoutError,
  type UpgradeOffer,
  validateUpgradeRequest,
} from "./codec/mod.ts";
import {
  type ConnectionOptions,
  type KeepaliveOptions,
  type OpenInfo,
  SocketConnection,
  type WebSocketConnection,
  writeAll,
} from "./connection.ts";
import { parseRequestText, requestHeadText } from "./codec/http1.ts";
import { compressionOf, zlibCompressor } from "./_deflate.ts";
import { NativeConnection } from "./native.ts";
import { type WebSocket, wrapConnection } from "./websocket.ts";

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
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /** Called once listening. Default: print the URL. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Turns a handler's exception into a response. Default: log it, answer 500. */
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
  protocol?: string | readonly string[] | ((offered: readonly string[]) => string | undefined);
  /** Extra headers for the 101 response, such as Set-Cookie. */
  headers?: HeadersInit;
  /**
   * Origins allowed to connect, such as `"https://example.com"`; a browser
   * from another origin is refused with 403. Requests without an `Origin`
   * header (non-browser clients) are allowed. Default: any origin.
   */
  allowedOrigins?: readonly string[];
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

interface RequestContext {
  version: string;
  upgrade: Response | null;
  /** The request head as Latin-1 text, from which a connection's headers are parsed if asked for. */
  head: string;
  /** The head's fields, as the request's headers hold them, for lookups without Headers' conversions. */
  fields: readonly [string, string][];
}

interface PendingUpgrade {
  connection: SocketConnection;
  offer: UpgradeOffer;
  /** The response upgradeWebSocket() handed out; its headers go into the 101. */
  response: SwitchingProtocols;
  /** The subprotocol chosen. */
  protocol: string;
  /** The Sec-WebSocket-Extensions value of the 101, and permessage-deflate, when agreed. */
  extensions: string;
  compression: ProtocolCompression | undefined;
  /** The request head as Latin-1 text: the connection parses its headers from it if asked. */
  requestHeaders: string;
}

// Requests that came through serve(), and upgrade responses waiting to be written.
const contexts = new WeakMap<Request, RequestContext>();
const pendingUpgrades = new WeakMap<Response, PendingUpgrade>();

/**
 * Drops an upgraded request's entries. A WeakMap would drop them too, but
 * only at a full garbage collection: until then the entries, and the head,
 * fields and upgrade state they hold, outlive every young-generation
 * collection (measured: about 2 KiB of RSS per idle connection at 5,000).
 */
function forget(request: Request, response: Response): void {
  forgetRequest(request);
  pendingUpgrades.delete(response);
}

// Marks a request whose handler has returned, once its context is gone.
const ANSWERED: unique symbol = Symbol("duplex.answered");

function forgetRequest(request: Request): void {
  contexts.delete(request);
  (request as Request & { [ANSWERED]?: true })[ANSWERED] = true;
}

const EMPTY = new Uint8Array(0);
// Request heads are small; the head reader grows its own buffer if one is not.
const READ_SIZE = 2 * 1024;
// Response bodies up to this size are sent with Content-Length in one write.
const BUFFER_BODY_LIMIT = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

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
  return new DuplexServer(options, fn);
}

class DuplexServer implements Server {
  readonly addr: Deno.NetAddr;
  readonly #listener: Deno.Listener;
  readonly #handler: ServeHandler;
  readonly #options: ServeOptions;
  readonly #scheme: string;
  readonly #requestDeadlines: DeadlineQueue;
  readonly #keepAliveDeadlines: DeadlineQueue;
  // HTTP connections, with whether each is waiting for a request.
  readonly #conns = new Map<Deno.Conn, { idle: boolean }>();
  readonly #sockets = new Set<SocketConnection>();
  readonly #finished = Promise.withResolvers<void>();
  #tasks = 0;
  #accepting = true;
  #shuttingDown = false;

  constructor(options: ServeOptions, handler: ServeHandler) {
    this.#options = options;
    this.#handler = handler;
    const hostname = options.hostname ?? "0.0.0.0";
    const port = options.port ?? 8000;
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw new TypeError("Cannot serve: TLS needs both cert and key");
    }
    this.#listener = options.cert !== undefined
      ? Deno.listenTls({ hostname, port, cert: options.cert, key: options.key! })
      : Deno.listen({ hostname, port });
    this.#scheme = options.cert !== undefined ? "https" : "http";
    this.#requestDeadlines = new DeadlineQueue(options.requestTimeout ?? 10_000);
    this.#keepAliveDeadlines = new DeadlineQueue(options.keepAliveTimeout ?? 5_000);
    this.addr = this.#listener.addr as Deno.NetAddr;
    const onListen = options.onListen ?? ((addr: Deno.NetAddr) => {
      const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      console.log(`Listening on ${this.#scheme}://${host}:${addr.port}/`);
    });
    onListen(this.addr);
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) queueMicrotask(() => this.shutdown());
      else signal.addEventListener("abort", () => this.shutdown(), { once: true });
    }
    this.#acceptLoop();
  }

  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  ref(): void {
    this.#listener.ref();
  }

  unref(): void {
    this.#listener.unref();
  }

  shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      for (const [conn, state] of this.#conns) {
        if (state.idle) closeQuietly(conn);
      }
      for (const socket of this.#sockets) {
        // 1001: "an endpoint is going away, such as a server going down".
        if (socket.readyState === 1) socket.close(1001, "server shutting down");
      }
    }
    return this.#finished.promise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#shuttingDown) {
          closeQuietly(conn);
          continue;
        }
        this.#track(this.#serveConn(conn));
      }
    } catch {
      // The listener was closed.
    }
    this.#accepting = false;
    this.#maybeFinished();
  }

  #track(task: Promise<void>): void {
    this.#tasks++;
    task.finally(() => {
      this.#tasks--;
      this.#maybeFinished();
    });
  }

  // One callback for every connection's end, not a closure each.
  readonly #socketEnded = (connection: SocketConnection): void => {
    this.#sockets.delete(connection);
    this.#maybeFinished();
  };

  #maybeFinished(): void {
    if (!this.#accepting && this.#tasks === 0 && this.#sockets.size === 0) this.#finished.resolve();
  }

  /** One HTTP/1.1 connection: requests in sequence until it closes or upgrades. */
  async #serveConn(conn: Deno.Conn): Promise<void> {
    const options = this.#options;
    const state = { idle: true };
    this.#conns.set(conn, state);
    const remoteAddr = conn.remoteAddr as Deno.NetAddr;
    const buffer = new Uint8Array(READ_SIZE);
    let leftover: Uint8Array = EMPTY;
    let first = true;
    let upgraded = false;
    try {
      while (!this.#shuttingDown) {
        // Read the head (and body) against a deadline: a slowloris client is dropped.
        state.idle = true;
        const deadline = (first ? this.#requestDeadlines : this.#keepAliveDeadlines).add(conn);
        let request: Request;
        let head: RequestHead;
        let raw: string;
        try {
          const received = await readRequest(
            conn,
            buffer,
            leftover,
            options,
            () => state.idle = false,
          );
          if (received === null) return; // The client closed between requests.
          ({ head, raw, leftover } = received);
          request = this.#toRequest(received.head, received.body, conn);
        } catch (error) {
          if (deadline.expired || this.#shuttingDown) return;
          if (error instanceof HandshakeError) {
            await writeErrorResponse(conn, error.status, error.message, error.headers).catch(
              () => {},
            );
          }
          return;
        } finally {
          deadline.cancel();
        }
        state.idle = false;
        first = false;
        const context: RequestContext = {
          version: head.version,
          upgrade: null,
          head: raw,
          fields: head.fields,
        };
        contexts.set(request, context);
        const completed = Promise.withResolvers<void>();
        let response = await this.#respond(request, { remoteAddr, completed: completed.promise });
        const pending = pendingUpgrades.get(response);
        if (pending !== undefined && context.upgrade === response) {
          forget(request, response);
          upgraded = await this.#completeUpgrade(conn, pending, leftover);
          completed.resolve();
          return;
        }
        if (context.upgrade !== null) {
          // upgradeWebSocket() was called but its response not returned.
          const abandoned = pendingUpgrades.get(context.upgrade)!;
          pendingUpgrades.delete(context.upgrade);
          abandoned.connection.fail(
            new HandshakeError(
              "NOT_UPGRADED",
              response.status,
              "The handler did not return the upgrade response",
            ),
          );
        }
        forgetRequest(request);
        if (pending !== undefined || response instanceof SwitchingProtocols) {
          // Another request's upgrade response, pending or used: a handler bug.
          response = new Response("Internal Server Error", { status: 500 });
        }
        const keepAlive = !this.#shuttingDown && wantsKeepAlive(head) &&
          response.headers.get("connection")?.toLowerCase() !== "close";
        const kept = await writeResponse(conn, response, head, keepAlive);
        completed.resolve();
        if (!kept) return;
      }
    } catch {
      // A reset or a write to a closed connection: nothing to answer.
    } finally {
      this.#conns.delete(conn);
      if (!upgraded) closeQuietly(conn);
    }
  }

  #toRequest(head: RequestHead, body: Uint8Array | null, conn: Deno.Conn): Request {
    const host = fieldValue(head.fields, "host") ?? `${(conn.localAddr as Deno.NetAddr).hostname}`;
    // A string, not a URL: Request parses it once, and rejects a bad one.
    const url = /^https?:\/\//i.test(head.target)
      ? head.target
      : head.target.startsWith("/")
      ? `${this.#scheme}://${host}${head.target}`
      : `${this.#scheme}://${host}/${head.target}`;
    try {
      if (head.method === "GET" && body === null) {
        // Every upgrade: a bare Request, then the fields appended one by one,
        // measured faster than converting an init dictionary and a field list.
        const request = new Request(url);
        const headers = request.headers;
        const fields = head.fields;
        for (let i = 0; i < fields.length; i++) headers.append(fields[i]![0], fields[i]![1]);
        return request;
      }
      return new Request(url, {
        method: head.method,
        // The field list, not a Headers object: Request converts it once.
        headers: head.fields,
        ...(body !== null && body.length > 0 ? { body: body as Uint8Array<ArrayBuffer> } : {}),
      });
    } catch (error) {
      throw new HandshakeError(
        "INVALID_REQUEST",
        400,
        `Cannot parse HTTP message: ${(error as Error).message}`,
      );
    }
  }

  async #respond(request: Request, info: ServeHandlerInfo): Promise<Response> {
    try {
      const response = await this.#handler(request, info);
      if (!(response instanceof Response)) {
        throw new TypeError("The handler did not return a Response");
      }
      return response;
    } catch (error) {
      if (error instanceof HandshakeError) {
        // An upgrade the handler let fail: answer with its status, and close
        // the connection, as for every rejected handshake.
        const headers = new Headers(error.headers);
        headers.set("connection", "close");
        return new Response(error.message, { status: error.status, headers });
      }
      let unhandled = error;
      try {
        if (this.#options.onError !== undefined) return await this.#options.onError(error);
      } catch (inner) {
        unhandled = inner;
      }
      console.error("Error in the request handler:", unhandled);
      return new Response("Internal Server Error", { status: 500 });
    }
  }

  async #completeUpgrade(
    conn: Deno.Conn,
    pending: PendingUpgrade,
    leftover: Uint8Array,
  ): Promise<boolean> {
    const { connection } = pending;
    try {
      await writeAll(conn, switchingProtocolsHead(pending));
    } catch (error) {
      connection.fail(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    if (this.#shuttingDown) {
      connection.fail(new HandshakeError("SHUTTING_DOWN", 503, "The server is shutting down"));
      return false;
    }
    this.#sockets.add(connection);
    connection.whenEnded(this.#socketEnded);
    connection.open(conn, leftover, openInfo(pending));
    return true;
  }
}

/** The 101 head: the headers of the response the handler returned, and the accept value. */
function switchingProtocolsHead(pending: PendingUpgrade): Uint8Array {
  return pending.response.serialize(acceptKeySync(pending.offer.key));
}

/**
 * Deadlines of one duration, for the connections reading a request: one
 * timer for all of them instead of one each. Deadlines expire in the order
 * they were set, so a FIFO is enough; an expired one closes its connection.
 */
class DeadlineQueue {
  readonly #duration: number;
  #items: Deadline[] = [];
  #head = 0;
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(duration: number) {
    this.#duration = duration;
  }

  /** Starts a deadline for `conn`. */
  add(conn: Deno.Conn): Deadline {
    const deadline = new Deadline(this, conn, performance.now() + this.#duration);
    this.#items.push(deadline);
    this.#live++;
    if (this.#timer === undefined) this.#arm(this.#duration);
    return deadline;
  }

  /** A deadline was cancelled: with none left, so is the timer. */
  settled(): void {
    if (--this.#live > 0) {
      // Requests mostly finish in the order they started: let go of the
      // cancelled ones at the front now rather than when the timer fires, so
      // that they die young instead of outliving a garbage collection or two.
      const items = this.#items;
      let head = this.#head;
      while (head < items.length && items[head]!.state !== PENDING) items[head++] = FREED;
      this.#head = head;
      this.#trim();
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#items = [];
    this.#head = 0;
  }

  #arm(delay: number): void {
    const timer = setTimeout(this.#fire, Math.max(0, delay));
    // A pending read keeps the process alive as long as it matters.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const items = this.#items;
    while (this.#head < items.length) {
      const deadline = items[this.#head]!;
      if (deadline.state === PENDING && deadline.at > now) break;
      this.#head++;
      if (deadline.state === PENDING) {
        this.#live--;
        deadline.expire();
      }
    }
    this.#trim();
    if (this.#head < this.#items.length) this.#arm(this.#items[this.#head]!.at - now);
  };

  /** Lets go of the slots before the head: all when none are left, else once they are most. */
  #trim(): void {
    const items = this.#items;
    if (this.#head === items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
  }
}

const PENDING = 0;
const CANCELLED = 1;
const EXPIRED = 2;

/** One connection's deadline in a {@linkcode DeadlineQueue}. */
class Deadline {
  state: typeof PENDING | typeof CANCELLED | typeof EXPIRED = PENDING;
  readonly #queue: DeadlineQueue;
  readonly #conn: Deno.Conn;
  readonly at: number;

  constructor(queue: DeadlineQueue, conn: Deno.Conn, at: number) {
    this.#queue = queue;
    this.#conn = conn;
    this.at = at;
  }

  /** Whether it passed (and the connection was closed). */
  get expired(): boolean {
    return this.state === EXPIRED;
  }

  cancel(): void {
    if (this.state !== PENDING) return;
    this.state = CANCELLED;
    this.#queue.settled();
  }

  /** For the queue: the deadline passed. */
  expire(): void {
    this.state = EXPIRED;
    closeQuietly(this.#conn);
  }
}

// What a queue's slot holds once its deadline has been let go of.
const FREED: Deadline = new Deadline(null!, null!, 0);
FREED.state = CANCELLED;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function wantsKeepAlive(head: RequestHead): boolean {
  const connection = fieldValue(head.fields, "connection")?.toLowerCase() ?? "";
  const tokens = connection.split(",").map((token) => token.trim());
  if (head.version === "HTTP/1.0") return tokens.includes("keep-alive");
  return !tokens.includes("close");
}

interface ReceivedRequest {
  head: RequestHead;
  /** The head as Latin-1 text: compact, and no longer tied to the reader's buffer. */
  raw: string;
  body: Uint8Array | null;
  leftover: Uint8Array;
}

/** Reads one request (head and body) within the server's limits; null if the client closed first. */
async function readRequest(
  conn: Deno.Conn,
  buffer: Uint8Array,
  leftover: Uint8Array,
  options: ServeOptions,
  onFirstByte: () => void,
): Promise<ReceivedRequest | null> {
  const reader = new HttpHeadReader({
    maxHeadSize: options.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE,
    maxStartLineLength: options.maxRequestLineLength ?? DEFAULT_MAX_HEAD_SIZE,
  });
  let headBytes = leftover.length > 0 ? reader.push(leftover) : undefined;
  if (leftover.length > 0) onFirstByte();
  while (headBytes === undefined) {
    const n = await conn.read(buffer);
    if (n === null) {
      if (reader.size === 0) return null;
      throw new HandshakeError(
        "TRUNCATED_HEAD",
        400,
        "Cannot parse HTTP message: the connection closed mid-head",
      );
    }
    if (reader.size === 0) onFirstByte();
    headBytes = reader.push(buffer.subarray(0, n));
  }
  // Decoded once: parsed from this text, which an upgraded connection keeps.
  const raw = requestHeadText(headBytes);
  const head = parseRequestText(raw, {
    maxHeaderCount: options.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
  });
  const framing = bodyFraming({ get: (name) => fieldValue(head.fields, name) });
  if (framing.kind === "none") return { head, raw, body: null, leftover: reader.rest };
  const maxBodySize = options.maxBodySize ?? 1024 * 1024;
  const decoder = new BodyDecoder(framing, { maxSize: maxBodySize });
  if (fieldValue(head.fields, "expect")?.toLowerCase() === "100-continue") {
    await writeAll(conn, new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  decoder.push(reader.rest);
  while (!decoder.done) {
    const n = await conn.read(buffer);
    if (n === null) decoder.end();
    else decoder.push(buffer.subarray(0, n));
  }
  return { head, raw, body: decoder.body, leftover: decoder.rest };
}

async function writeErrorResponse(
  conn: Deno.Conn,
  status: number,
  message: string,
  extra?: Headers,
): Promise<void> {
  const body = new TextEncoder().encode(`${message}\n`);
  const headers = new Headers(extra);
  headers.set("content-type", "text/plain; charset=utf-8");
  headers.set("content-length", String(body.length));
  headers.set("connection", "close");
  headers.set("date", new Date().toUTCString());
  const head = serializeResponseHead(status, STATUS_TEXT[status] ?? "", headers);
  await writeAll(conn, concatBytes([head, body]));
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/**
 * Writes a handler's response as HTTP/1.1: a small body with
 * Content-Length in one write, a large or streaming one chunked.
 *
 * @returns Whether the connection stays open for another request.
 */
async function writeResponse(
  conn: Deno.Conn,
  response: Response,
  request: RequestHead,
  keepAlive: boolean,
): Promise<boolean> {
  const status = response.status;
  const headers = new Headers(response.headers);
  if (!headers.has("date")) headers.set("date", new Date().toUTCString());
  const bodiless = request.method === "HEAD" || status === 204 || status === 304 || status < 200;
  const statusText = response.statusText || STATUS_TEXT[status] || "";
  const body = response.body;
  if (body === null || bodiless) {
    await body?.cancel().catch(() => {});
    if (!bodiless) headers.set("content-length", "0");
    headers.set("connection", keepAlive ? "keep-alive" : "close");
    await writeAll(conn, serializeResponseHead(status, statusText, headers));
    return keepAlive;
  }
  // Buffer the start of the body: a small one goes out with its length.
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let done = false;
  while (size <= BUFFER_BODY_LIMIT) {
    const next = await reader.read();
    if (next.done) {
      done = true;
      break;
    }
    parts.push(next.value);
    size += next.value.length;
  }
  if (done) {
    headers.set("content-length", String(size));
    headers.delete("transfer-encoding");
    headers.set("connection", keepAlive ? "keep-alive" : "close");
    await writeAll(
      conn,
      concatBytes([serializeResponseHead(status, statusText, headers), ...parts]),
    );
    return keepAlive;
  }
  headers.delete("content-length");
  const chunked = request.version === "HTTP/1.1";
  if (chunked) headers.set("transfer-encoding", "chunked");
  else keepAlive = false;
  headers.set("connection", keepAlive ? "keep-alive" : "close");
  const frame = (data: Uint8Array) =>
    chunked
      ? concatBytes([new TextEncoder().encode(`${data.length.toString(16)}\r\n`), data, CRLF])
      : data;
  await writeAll(
    conn,
    concatBytes([serializeResponseHead(status, statusText, headers), frame(concatBytes(parts))]),
  );
  try {
    while (true) {
      const next = await reader.read();
      if (next.done) break;
      if (next.value.length > 0) await writeAll(conn, frame(next.value));
    }
  } catch (error) {
    // The body stream failed: the response cannot be completed.
    await reader.cancel(error).catch(() => {});
    return false;
  }
  if (chunked) await writeAll(conn, LAST_CHUNK);
  return keepAlive;
}

const CRLF = new Uint8Array([0x0d, 0x0a]);
const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");

/**
 * The response `upgradeWebSocket()` hands out. The Response constructor
 * refuses status 101, and the server writes the real head itself, so this
 * one only has to look right to the handler. Its `Headers` are made only if
 * the handler looks at them: most never do, and the head is written
 * straight from the field list.
 */
class SwitchingProtocols extends Response {
  readonly #fields: [string, string][];
  #headers: Headers | undefined;

  constructor(fields: [string, string][]) {
    super(null, { status: 200 });
    this.#fields = fields;
  }

  override get status(): number {
    return 101;
  }

  override get statusText(): string {
    return "Switching Protocols";
  }

  override get headers(): Headers {
    return this.#headers ??= new Headers(this.#fields);
  }

  /** The head to write, with the accept value. */
  serialize(accept: string): Uint8Array {
    const headers = this.#headers;
    if (headers === undefined) {
      // The handler never looked: straight from the field list.
      this.#fields.push(["sec-websocket-accept", accept]);
      return serializeResponseHead(101, "Switching Protocols", this.#fields);
    }
    headers.set("sec-websocket-accept", accept);
    return serializeResponseHead(101, "Switching Protocols", headers);
  }
}

// Headers the 101 response sets itself.
const RESERVED_UPGRADE_HEADERS = new Set([
  "upgrade",
  "connection",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

function chooseProtocol(offered: readonly string[], choice: UpgradeOptions["protocol"]): string {
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
  const preferences = typeof choice === "string" ? [choice] : choice;
  return preferences.find((protocol) => offered.includes(protocol)) ?? "";
}

function checkOrigin(headers: Pick<Headers, "get">, allowed: readonly string[] | undefined): void {
  if (allowed === undefined) return;
  const origin = headers.get("origin");
  if (origin === null || allowed.includes(origin) || allowed.includes("*")) return;
  throw new HandshakeError(
    "FORBIDDEN_ORIGIN",
    403,
    `Cannot upgrade to WebSocket: origin ${origin} is not allowed`,
  );
}

function keepaliveOf(options: UpgradeOptions): KeepaliveOptions | undefined {
  if (options.keepalive !== undefined) return options.keepalive;
  const seconds = options.idleTimeout ?? 30;
  return seconds > 0 ? { pingInterval: seconds * 1000, pongTimeout: seconds * 1000 } : undefined;
}

/**
 * The ws: or wss: URL of an http: or https: one. Joined rather than
 * concatenated: join makes one flat string, where `+` or replace() would
 * keep a rope holding a slice of the request's URL for the connection's life.
 */
function webSocketUrl(url: string): string {
  return url.startsWith("http") ? ["ws", url.slice(4)].join("") : url;
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
  const context = contexts.get(request);
  if (context === undefined) {
    if (ANSWERED in request) {
      throw new TypeError("Cannot upgrade: the handler has already returned its response");
    }
    return upgradeNative(request, options);
  }
  if (context.upgrade !== null) {
    throw new TypeError("Cannot upgrade: this request was already upgraded");
  }
  // The request's headers are its head's fields (a Request's are immutable):
  // looked up there, without Headers' conversions.
  const fields = context.fields;
  const headersOfRequest = { get: (name: string) => fieldValue(fields, name) };
  const offer = validateUpgradeRequest({
    method: request.method,
    headers: headersOfRequest,
    httpVersion: context.version,
  });
  checkOrigin(headersOfRequest, options.allowedOrigins);
  const protocol = chooseProtocol(offer.protocols, options.protocol);
  const headers: [string, string][] = [["upgrade", "websocket"], ["connection", "Upgrade"]];
  if (protocol !== "") headers.push(["sec-websocket-protocol", protocol]);
  const deflate = negotiateCompression(offer.extensions, options.compression);
  let extensions = "";
  if (deflate !== undefined) {
    extensions = formatExtensions([deflate.agreement.response]);
    headers.push(["sec-websocket-extensions", extensions]);
  }
  if (options.headers !== undefined) {
    for (const [name, value] of new Headers(options.headers)) {
      if (RESERVED_UPGRADE_HEADERS.has(name)) {
        throw new TypeError(`Cannot upgrade: header ${name} is set by the handshake`);
      }
      headers.push([name, value]);
    }
  }
  const keepalive = keepaliveOf(options);
  const connection = new SocketConnection({
    ...options,
    ...(keepalive !== undefined ? { keepalive } : {}),
    role: "server",
    url: webSocketUrl(request.url),
  });
  const response = new SwitchingProtocols(headers);
  pendingUpgrades.set(response, {
    connection,
    offer,
    response,
    protocol,
    extensions,
    compression: deflate?.compression,
    requestHeaders: context.head,
  });
  context.upgrade = response;
  let socket: WebSocket | undefined;
  return {
    response,
    get socket(): WebSocket {
      return socket ??= wrapConnection(connection, "arraybuffer");
    },
    get connection(): WebSocketConnection {
      return connection;
    },
  };
}

function openInfo(pending: PendingUpgrade): OpenInfo {
  return {
    protocol: pending.protocol,
    extensions: pending.extensions,
    headers: pending.requestHeaders,
    ...(pending.compression !== undefined ? { compression: pending.compression } : {}),
  };
}

/** permessage-deflate, if the options ask for it and the client offered it. */
function negotiateCompression(
  offers: readonly Extension[],
  option: UpgradeOptions["compression"],
): { agreement: DeflateAgreement; compression: ProtocolCompression } | undefined {
  const settings = compressionOf(option);
  if (settings === undefined) return undefined;
  const agreement = negotiateDeflate(offers);
  if (agreement === null) return undefined;
  return {
    agreement,
    compression: {
      compressor: zlibCompressor(agreement.serverMaxWindowBits, settings.level ?? 1),
      ...(settings.threshold !== undefined ? { threshold: settings.threshold } : {}),
    },
  };
}

function upgradeNative(request: Request, options: UpgradeOptions): UpgradeResult {
  // Validate here too, so that the errors are the same on both servers.
  const offer = validateUpgradeRequest({ method: request.method, headers: request.headers });
  checkOrigin(request.headers, options.allowedOrigins);
  const protocol = chooseProtocol(offer.protocols, options.protocol);
  const keepalive = options.keepalive;
  const idleTimeout = keepalive !== undefined
    ? Math.max(1, Math.ceil(keepalive.pingInterval / 1000))
    : options.idleTimeout;
  const upgraded = Deno.upgradeWebSocket(request, {
    ...(protocol !== "" ? { protocol } : {}),
    ...(idleTimeout !== undefined ? { idleTimeout } : {}),
  });
  const headers = new Headers(options.headers);
  for (const [name, value] of headers) upgraded.response.headers.append(name, value);
  let connection: NativeConnection | undefined;
  return {
    response: upgraded.response,
    get socket(): globalThis.WebSocket {
      return upgraded.socket;
    },
    get connection(): WebSocketConnection {
      return connection ??= new NativeConnection(upgraded.socket, {
        url: webSocketUrl(request.url),
        headers: request.headers,
        ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
        ...(options.maxMessageSize !== undefined ? { maxMessageSize: options.maxMessageSize } : {}),
      });
    },
  };
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
  const timeout = options.requestTimeout ?? 10_000;
  let expired = false;
  const deadline = setTimeout(() => {
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
      await writeErrorResponse(conn, error.status, error.message, error.headers).catch(() => {});
    }
    closeQuietly(conn);
    throw error;
  } finally {
    clearTimeout(deadline);
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
    const status = error instanceof HandshakeError ? error.status : 500;
    const headers = error instanceof HandshakeError ? error.headers : undefined;
    await writeErrorResponse(conn, status, (error as Error).message, headers).catch(() => {});
    closeQuietly(conn);
    throw error;
  }
  const pending = pendingUpgrades.get(result.response)!;
  forget(request, result.response);
  try {
    await writeAll(conn, switchingProtocolsHead(pending));
  } catch (error) {
    closeQuietly(conn);
    pending.connection.fail(error as Error);
    throw error;
  }
  pending.connection.open(conn, leftover, openInfo(pending));
  return pending.connection;
}
