// Copyright 2026 the Duplex authors. MIT license.
// The HTTP/1.1 server behind serve(): the accept loop, one conversation per
// connection, the handler, and the upgrades it completes. Reading and writing
// HTTP is _http.ts; the handshake's decisions are the codec's. Internal: the
// public face is server.ts.

import {
  CloseCode,
  fieldValue,
  HandshakeError,
  ReadyState,
  rejectUpgrade,
  type RequestHead,
} from "./codec/mod.ts";
import {
  DeadlineQueue,
  READ_SIZE,
  readRequest,
  wantsKeepAlive,
  writeRejection,
  writeResponse,
} from "./_http.ts";
import type { SocketConnection } from "./_socket.ts";
import {
  contexts,
  forget,
  forgetRequest,
  openInfo,
  type PendingUpgrade,
  pendingUpgrades,
  type RequestContext,
  SwitchingProtocols,
} from "./_upgrade.ts";
import type { ServeHandler, ServeHandlerInfo, ServeOptions, Server } from "./server.ts";
import { closeQuietly, writeAll } from "./_util.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";

/** A listener that wants to hear of each upgrade: see {@linkcode DuplexServer}. */
export interface UpgradeObserver extends Deno.Listener {
  upgraded?(conn: Deno.Conn): void;
}

const EMPTY = new Uint8Array(0);
// The console hears of failed accepts at most this often (ms).
const ACCEPT_LOG_INTERVAL = 10_000;

/**
 * How long to wait before accepting again after `failures` failed accepts
 * in a row.
 *
 * - A connection that died in the backlog (reset or aborted before it was
 *   accepted: ENOTCONN, ECONNABORTED, ECONNRESET) says nothing about the
 *   listener: accept the next at once. A reset storm leaves hundreds of
 *   them queued, each failing one accept.
 * - Out of descriptors (EMFILE, ENFILE): accepting fails until a
 *   connection closes, so wait, from 10 ms doubling to 1 s.
 * - Anything else: at once the first time, then from 1 ms doubling to
 *   100 ms while failures keep coming.
 */
export function acceptBackoff(error: unknown, failures: number): number {
  if (
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.ConnectionReset
  ) {
    return 0;
  }
  const message = error instanceof Error ? error.message : String(error);
  const exhausted = /EMFILE|ENFILE|too many open files|os error 2[34]\b/i.test(message);
  if (exhausted) return Math.min(1000, 10 * 2 ** Math.min(failures - 1, 7));
  if (failures <= 1) return 0;
  return Math.min(100, 2 ** Math.min(failures - 2, 7));
}

/** The response that refuses an upgrade, as a handler returns it. */
export function rejectionResponse(error: HandshakeError): Response {
  const rejection = rejectUpgrade(error);
  return new Response(rejection.body, { status: rejection.status, headers: rejection.fields });
}

/**
 * Throws unless Deno lets `Deno.listen` take `reusePort`: without
 * `--unstable-net`, Deno 2.9 exits the process at the call instead of
 * throwing. `Deno.listenDatagram` exists exactly when the flag is given.
 */
function checkReusePort(): void {
  if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    throw new Deno.errors.NotSupported(
      'Cannot serve with reusePort: Deno needs --unstable-net (or "unstable": ["net"] in deno.json)',
    );
  }
}

/**
 * The server serve() returns: an accept loop, one HTTP/1.1 conversation per
 * connection (requests in sequence until it closes or upgrades), the
 * handler, and the upgrades it completes.
 */
export class DuplexServer implements Server {
  readonly addr: Deno.NetAddr;
  readonly #listener: Deno.Listener;
  readonly #onUpgraded: ((conn: Deno.Conn) => void) | undefined;
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
  // Failed accepts: counted, reported, and survived.
  #acceptErrors = 0;
  #acceptErrorsLogged = 0;
  #lastAcceptLog = -Infinity;
  #wake: (() => void) | null = null;
  #shuttingDown = false;

  /**
   * @param options The server's options.
   * @param handler The request handler.
   * @param listener Where connections come from, instead of listening on
   * `hostname` and `port` (the testing kit's in-memory listener). Its
   * `upgraded()`, if any, hears of each upgrade once the WebSocket has
   * opened (and its `open` listeners have run) or failed.
   */
  constructor(options: ServeOptions, handler: ServeHandler, listener?: UpgradeObserver) {
    this.#options = options;
    this.#handler = handler;
    const hostname = options.hostname ?? "0.0.0.0";
    const port = options.port ?? 8000;
    if ((options.cert === undefined) !== (options.key === undefined)) {
      throw new TypeError("Cannot serve: TLS needs both cert and key");
    }
    if (options.reusePort === true && listener === undefined) checkReusePort();
    this.#onUpgraded = listener?.upgraded?.bind(listener);
    this.#listener = listener ??
      (options.cert !== undefined
        ? Deno.listenTls({ hostname, port, cert: options.cert, key: options.key! })
        : Deno.listen(
          options.reusePort === true ? { hostname, port, reusePort: true } : { hostname, port },
        ));
    this.#scheme = options.cert !== undefined ? "https" : "http";
    const clock = options.clock ?? SYSTEM_CLOCK;
    this.#requestDeadlines = new DeadlineQueue(options.requestTimeout ?? 10_000, clock);
    this.#keepAliveDeadlines = new DeadlineQueue(options.keepAliveTimeout ?? 5_000, clock);
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
      closeQuietly(this.#listener);
      this.#wake?.();
      for (const [conn, state] of this.#conns) {
        if (state.idle) closeQuietly(conn);
      }
      for (const socket of this.#sockets) {
        // 1001: "an endpoint is going away, such as a server going down".
        if (socket.readyState === ReadyState.OPEN) {
          socket.close(CloseCode.GoingAway, "server shutting down");
        }
      }
    }
    return this.#finished.promise;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /**
   * Accepts until shutdown() or the abort signal, and nothing else: a
   * failed accept (a client that reset before it was taken, ENOTCONN or
   * ECONNABORTED; out of descriptors, EMFILE or ENFILE) is reported and
   * accepting resumes, after a pause that grows while accepts keep failing
   * (so that a full descriptor table is not spun on), as Deno.serve does.
   */
  async #acceptLoop(): Promise<void> {
    let failures = 0;
    while (!this.#shuttingDown) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#shuttingDown) break;
        this.#acceptErrors++;
        this.#reportAcceptError(error);
        failures++;
        await this.#pause(acceptBackoff(error, failures));
        continue;
      }
      failures = 0;
      if (this.#shuttingDown) {
        closeQuietly(conn);
        break;
      }
      this.#track(this.#serveConn(conn));
    }
    this.#accepting = false;
    this.#maybeFinished();
  }

  /** Waits before the next accept; shutdown() cuts the wait short. */
  #pause(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  /**
   * A failed accept goes to `onError` (its response is not used), or else
   * to the console, at most once per interval, with the count since.
   */
  #reportAcceptError(error: unknown): void {
    const onError = this.#options.onError;
    if (onError !== undefined) {
      try {
        Promise.resolve(onError(error)).catch(() => {});
      } catch {
        // The application's hook failed: accepting goes on regardless.
      }
      return;
    }
    const now = performance.now();
    if (now - this.#lastAcceptLog < ACCEPT_LOG_INTERVAL) return;
    this.#lastAcceptLog = now;
    const count = this.#acceptErrors - this.#acceptErrorsLogged;
    this.#acceptErrorsLogged = this.#acceptErrors;
    const failures = count === 1 ? "1 failure" : `${count} failures`;
    console.error(
      `Cannot accept a connection (${failures} since the last report, ` +
        `${this.#acceptErrors} in all); accepting goes on:`,
      error,
    );
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
            await writeRejection(conn, rejectUpgrade(error)).catch(() => {});
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
          this.#onUpgraded?.(conn);
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
        return rejectionResponse(error);
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
      await writeAll(conn, pending.response.serialize());
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
