// Copyright 2026 the Duplex authors. MIT license.
/**
 * Test WebSocket code without sockets: `@duplex/websocket/testing`.
 *
 * - {@linkcode createPair} joins a client and a server connection in
 *   memory. Both are the real thing: the handshake, masking, UTF-8 checks,
 *   limits, compression when asked for, ping/pong and the closing handshake
 *   all run; only the socket is replaced.
 * - {@linkcode testServer} runs the handler you pass to `serve()`, or a
 *   `Hub`, on an in-memory listener: the handler sees a real `Request`, and
 *   the hub's rooms, broadcast and slow-consumer policy work as in
 *   production. {@linkcode connect} is the one-connection shortcut.
 * - Every connection they return is a {@linkcode TestConnection}: a
 *   `WebSocketConnection` with assertions that say what arrived instead.
 * - {@linkcode ManualClock} is a clock that moves only when the test says
 *   so: give it as the `clock` option of a connection, a hub or a server,
 *   and a 30-second keepalive, a close timeout or a handshake deadline
 *   passes in milliseconds.
 *
 * No ports, and no timers but the ones a test asks for (the waits of the
 * assertions, the connections' own deadlines), so Deno's sanitizers stay
 * on. `testServer().connect()` resolves once the server's end is open too
 * and its `open` listeners have run, so a test needs no sleeps.
 *
 * @example Test a hub without a port
 * ```ts
 * import { Hub } from "@duplex/websocket";
 * import { testServer } from "@duplex/websocket/testing";
 *
 * const hub = new Hub();
 * hub.on("open", (member) => member.join("lobby"));
 * hub.on("message", (member, message) => {
 *   hub.broadcast(`${new URL(member.url).searchParams.get("name")}: ${message}`, { room: "lobby" });
 * });
 *
 * await using server = testServer(hub);
 * const alice = await server.connect("/chat?name=alice");
 * const bob = await server.connect("/chat?name=bob");
 * await alice.send("hello");
 * await bob.expectMessage("alice: hello");
 * await alice.expectMessage("alice: hello");
 * await alice.close(1000);
 * await bob.expectNoMessage({ within: 20 });
 * await bob.close(1000);
 * ```
 *
 * @example Test the chat example (`examples/chat/` in the repository)
 * ```ts
 * import { createChat } from "./examples/chat/server.ts";
 * import { testServer } from "@duplex/websocket/testing";
 * import assert from "node:assert/strict";
 *
 * // The chat's real hub and handler, made without listening.
 * const { hub, handler } = createChat({ now: () => 0 });
 * await using server = testServer(handler);
 * const ann = await server.connect("/ws?nick=ann&room=deno");
 * const bob = await server.connect("/ws?nick=bob&room=deno");
 * assert.deepEqual(hub.stats().rooms, { deno: 2 });
 *
 * await ann.send(JSON.stringify({ type: "say", text: "hi" }));
 * // Bob was told of his own arrival first: joined, history, notice, members.
 * for (let i = 0; i < 4; i++) await bob.expectMessage((m) => typeof m === "string");
 * await bob.expectMessage(
 *   JSON.stringify({ type: "message", room: "deno", nick: "ann", text: "hi", at: 0 }),
 * );
 * await ann.close(1000);
 * await bob.close(1000);
 * ```
 *
 * @module
 */

import type { PreparedMessage } from "./codec/mod.ts";
import type {
  Clock,
  ConnectionCloseInfo,
  ConnectionListener,
  MessageWriter,
  MessageWriterOptions,
  ReceiveOptions,
  SendData,
  SendMessageOptions,
  WebSocketConnection,
} from "./connection.ts";
import type { Message, ReadyState } from "./codec/mod.ts";
import { ClosedError } from "./codec/mod.ts";
import { TimeoutError } from "./errors.ts";
import { connect as connectClient, type ConnectOptions } from "./client.ts";
import {
  type AcceptOptions,
  acceptWebSocket,
  type ServeHandler,
  type ServeOptions,
  type Server,
} from "./server.ts";
import { checkServeOptions } from "./_options.ts";
import { DuplexServer } from "./_server.ts";
import { MemoryListener, memoryPair } from "./_memory.ts";

const DEFAULT_TIMEOUT = 1_000;

// For connect()'s client: `closed` waits for the server it made to shut down.
const closedAfter = new WeakMap<TestConnection, Promise<ConnectionCloseInfo>>();

/**
 * An expectation of a {@linkcode TestConnection} that did not hold: its
 * message says what was expected and what arrived instead.
 *
 * @example
 * ```ts
 * import { ExpectationError } from "@duplex/websocket/testing";
 * import assert from "node:assert/strict";
 *
 * const error = new ExpectationError('expected "hi", got "bye"');
 * assert.equal(error.name, "ExpectationError");
 * ```
 */
export class ExpectationError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was expected, and what happened instead.
   */
  constructor(message: string) {
    super(message);
    this.name = "ExpectationError";
  }
}

/**
 * Options for the waits of {@linkcode TestConnection}.
 *
 * @example
 * ```ts
 * import { createPair, type ExpectOptions } from "@duplex/websocket/testing";
 *
 * const { client, server } = await createPair();
 * const patient: ExpectOptions = { timeout: 5_000 };
 * await server.send("slow");
 * await client.expectMessage("slow", patient);
 * await client.close(1000);
 * ```
 */
export interface ExpectOptions {
  /** How long to wait, in milliseconds. Default 1,000. */
  timeout?: number;
}

/**
 * What {@linkcode TestConnection.expectMessage} compares a message with:
 * a text, bytes, or a predicate.
 *
 * @example
 * ```ts
 * import { createPair, type ExpectedMessage } from "@duplex/websocket/testing";
 *
 * const { client, server } = await createPair();
 * const isJson: ExpectedMessage = (m) => typeof m === "string" && JSON.parse(m).ok === true;
 * await server.send(JSON.stringify({ ok: true }));
 * await client.expectMessage(isJson);
 * await client.close(1000);
 * ```
 */
export type ExpectedMessage = string | Uint8Array | ((message: Message) => boolean);

/** A message as a failure shows it. */
function show(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  }
  if (value instanceof Uint8Array) {
    const head = [...value.subarray(0, 32)].map((byte) => byte.toString(16).padStart(2, "0"));
    return `${value.length} bytes [${head.join(" ")}${value.length > 32 ? " …" : ""}]`;
  }
  if (typeof value === "function") return `a message that ${value.name || "the predicate"} accepts`;
  return String(value);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function matches(expected: ExpectedMessage, message: Message): boolean {
  if (typeof expected === "function") return expected(message);
  if (typeof expected === "string") return message === expected;
  return message instanceof Uint8Array && sameBytes(message, expected);
}

/**
 * A `WebSocketConnection` for tests: every method of the connection it
 * wraps, and assertions on what arrives. Each assertion reads the next
 * message (or the close), so use them in the order the peer sends.
 *
 * @example
 * ```ts
 * import { createPair } from "@duplex/websocket/testing";
 *
 * const { client, server } = await createPair();
 * await server.send("hello");
 * await client.expectMessage("hello");
 * await server.send(new Uint8Array([1, 2, 3]));
 * await client.expectMessage((message) => message instanceof Uint8Array && message.length === 3);
 * await client.close(1000, "bye");
 * await server.expectClose(1000);
 * ```
 */
export class TestConnection implements WebSocketConnection {
  /** The connection underneath. */
  readonly connection: WebSocketConnection;

  /**
   * Wraps a connection.
   *
   * @param connection Any Duplex connection.
   */
  constructor(connection: WebSocketConnection) {
    this.connection = connection;
  }

  /**
   * Waits for the next message and checks it: equal text, equal bytes, or
   * accepted by a predicate.
   *
   * @param expected The message, or a predicate.
   * @param options How long to wait.
   * @returns The message.
   * @throws {ExpectationError} If another message arrives, none does in
   * time, or the connection closes first.
   */
  async expectMessage(expected: ExpectedMessage, options: ExpectOptions = {}): Promise<Message> {
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    let message: Message;
    try {
      message = await this.#next(timeout);
    } catch (error) {
      throw this.#instead(`expected ${show(expected)}`, error, timeout);
    }
    if (!matches(expected, message)) {
      throw new ExpectationError(`expected ${show(expected)}, got ${show(message)}`);
    }
    return message;
  }

  /**
   * Waits for the connection to close, with no message before it.
   *
   * @param code The close code expected, if it matters.
   * @param options How long to wait.
   * @returns How it closed.
   * @throws {ExpectationError} If a message arrives first, it closes with
   * another code, or it does not close in time.
   */
  async expectClose(code?: number, options: ExpectOptions = {}): Promise<ConnectionCloseInfo> {
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    const expected = `expected the connection to close${code === undefined ? "" : ` with ${code}`}`;
    try {
      const message = await this.#next(timeout);
      throw new ExpectationError(`${expected}, got the message ${show(message)}`);
    } catch (error) {
      if (!(error instanceof ClosedError)) throw this.#instead(expected, error, timeout);
    }
    const info = await this.closed;
    if (code !== undefined && info.code !== code) {
      throw new ExpectationError(
        `${expected}, but it closed with ${info.code}${
          info.reason ? ` ${JSON.stringify(info.reason)}` : ""
        }`,
      );
    }
    return info;
  }

  /**
   * Checks that no message arrives for a while, and the connection stays open.
   *
   * @param options `within`: how long to watch, in milliseconds. Default 50.
   * @throws {ExpectationError} If a message arrives, or the connection closes.
   */
  async expectNoMessage(options: { within?: number } = {}): Promise<void> {
    const within = options.within ?? 50;
    let message: Message;
    try {
      message = await this.#next(within);
    } catch (error) {
      if (error instanceof TimeoutError) return;
      throw this.#instead(`expected no message within ${within} ms`, error, within);
    }
    throw new ExpectationError(`expected no message within ${within} ms, got ${show(message)}`);
  }

  /**
   * The next message, waiting at most `timeout` ms of real time: an
   * assertion must fail rather than hang, whatever clock the connection
   * keeps.
   */
  async #next(timeout: number): Promise<Message> {
    const abort = new AbortController();
    const timer = setTimeout(
      () =>
        abort.abort(
          new TimeoutError("RECEIVE_TIMEOUT", `No message arrived within ${timeout} ms`),
        ),
      timeout,
    );
    try {
      return await this.connection.receive({ signal: abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The failure for a wait that ended in `error`. */
  #instead(expected: string, error: unknown, timeout: number): Error {
    if (error instanceof ExpectationError) return error;
    if (error instanceof TimeoutError) {
      return new ExpectationError(`${expected}, but nothing arrived within ${timeout} ms`);
    }
    if (error instanceof ClosedError) {
      return new ExpectationError(
        `${expected}, but the connection closed (${error.closeCode}${
          error.reason ? ` ${JSON.stringify(error.reason)}` : ""
        })`,
      );
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  // The connection's own API, forwarded.

  /** See {@linkcode WebSocketConnection.url}. */
  get url(): string {
    return this.connection.url;
  }
  /** See {@linkcode WebSocketConnection.readyState}. */
  get readyState(): ReadyState {
    return this.connection.readyState;
  }
  /** See {@linkcode WebSocketConnection.protocol}. */
  get protocol(): string {
    return this.connection.protocol;
  }
  /** See {@linkcode WebSocketConnection.extensions}. */
  get extensions(): string {
    return this.connection.extensions;
  }
  /** See {@linkcode WebSocketConnection.headers}. */
  get headers(): Headers {
    return this.connection.headers;
  }
  /** See {@linkcode WebSocketConnection.bufferedAmount}. */
  get bufferedAmount(): number {
    return this.connection.bufferedAmount;
  }
  /** See {@linkcode WebSocketConnection.opened}. */
  get opened(): Promise<void> {
    return this.connection.opened;
  }
  /** See {@linkcode WebSocketConnection.closed}. */
  get closed(): Promise<ConnectionCloseInfo> {
    return closedAfter.get(this) ?? this.connection.closed;
  }
  /** See {@linkcode WebSocketConnection.readable}. */
  get readable(): ReadableStream<Message> {
    return this.connection.readable;
  }
  /** See {@linkcode WebSocketConnection.writable}. */
  get writable(): WritableStream<SendData> {
    return this.connection.writable;
  }
  /** See {@linkcode WebSocketConnection.send}. */
  send(data: SendData | PreparedMessage, options?: SendMessageOptions): Promise<void> {
    return this.connection.send(data, options);
  }
  /** See {@linkcode WebSocketConnection.sendPrepared}. */
  sendPrepared(message: PreparedMessage): Promise<void> {
    return this.connection.sendPrepared(message);
  }
  /** See {@linkcode WebSocketConnection.writer}. */
  writer(options?: MessageWriterOptions): MessageWriter {
    return this.connection.writer(options);
  }
  /** See {@linkcode WebSocketConnection.ping}. */
  ping(data?: Uint8Array | string): Promise<number> {
    return this.connection.ping(data);
  }
  /** See {@linkcode WebSocketConnection.pong}. */
  pong(data?: Uint8Array | string): Promise<void> {
    return this.connection.pong(data);
  }
  /** See {@linkcode WebSocketConnection.close}. */
  close(code?: number, reason?: string): Promise<ConnectionCloseInfo> {
    return this.connection.close(code, reason);
  }
  /** See {@linkcode WebSocketConnection.terminate}. */
  terminate(error?: Error): void {
    this.connection.terminate(error);
  }
  /** See {@linkcode WebSocketConnection.receive}. */
  receive(options?: ReceiveOptions): Promise<Message> {
    return this.connection.receive(options);
  }
  /** See {@linkcode WebSocketConnection.listen}. */
  listen(listener: ConnectionListener): void {
    this.connection.listen(listener);
  }
  /** See {@linkcode WebSocketConnection}'s iteration. */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.connection[Symbol.asyncIterator]();
  }
}

/** A timer of a {@linkcode ManualClock}. */
interface ManualTimer {
  readonly at: number;
  readonly callback: () => void;
}

/** One turn of the real event loop: what a fired timer started gets to run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A {@linkcode Clock} that moves only when {@linkcode ManualClock.advance}
 * says so. Give it as the `clock` option of a connection, a hub or a
 * server (or to {@linkcode createPair} and {@linkcode testServer}), and
 * every deadline they keep runs on it: keepalive pings and pong timeouts,
 * the closing handshake's `closeTimeout`, handshake and request deadlines,
 * `receive()` timeouts, the hub's backpressure grace. The globals are left
 * alone, and the assertions of {@linkcode TestConnection} keep real time,
 * so a test that forgets to advance fails instead of hanging.
 *
 * @example A 30-second keepalive, tested in milliseconds
 * ```ts
 * import { createPair, ManualClock } from "@duplex/websocket/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const { client, server } = await createPair({
 *   clock,
 *   server: { keepalive: { pingInterval: 30_000, pongTimeout: 10_000 } },
 *   client: { receiveHighWaterMark: 1 },
 * });
 * await clock.advance(120_000); // pinged every 30 s, and answered
 * assert.equal(server.readyState, WebSocket.OPEN);
 *
 * await server.send("unread"); // the client's queue is full: it stops reading
 * await clock.advance(50_000); // a ping, then 10 s without its pong
 * const info = await server.closed;
 * assert.equal(info.code, 1006);
 * assert.equal((info.error as Error & { code: string }).code, "PONG_TIMEOUT");
 * // The client reads again: the message, then the end of the connection.
 * await client.expectMessage("unread");
 * assert.equal((await client.closed).code, 1006);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextHandle = 1;
  readonly #timers = new Map<number, ManualTimer>();

  /**
   * Makes a clock that stands still at `start`.
   *
   * @param start The time it shows, in milliseconds. Default 0.
   * @throws {RangeError} If `start` is not a finite number.
   */
  constructor(start = 0) {
    if (typeof start !== "number" || !Number.isFinite(start)) {
      throw new RangeError(
        `Cannot make a ManualClock: start must be a finite number, got ${start}`,
      );
    }
    this.#now = start;
  }

  /** The time the clock shows, in milliseconds. */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `callback` for `delay` milliseconds from now (at once, on the
   * next {@linkcode ManualClock.advance}, for 0 or less).
   *
   * @returns A handle for {@linkcode ManualClock.clearTimeout}.
   */
  setTimeout(callback: () => void, delay: number): number {
    const handle = this.#nextHandle++;
    const wait = Number.isFinite(delay) && delay > 0 ? delay : 0;
    this.#timers.set(handle, { at: this.#now + wait, callback });
    return handle;
  }

  /** Cancels a timer; one already fired or cleared is ignored. */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** How many timers wait to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves the clock `ms` milliseconds forward, firing every timer that
   * falls due on the way, earliest first (in the order they were set, for
   * the same time), each with the clock showing its time. Timers that a
   * callback sets fire too if they fall due within `ms`. After each timer,
   * and before it returns, it lets the real event loop turn, so that what a
   * timer started (a ping, a close frame) travels through an in-memory pair
   * before the next timer fires.
   *
   * @param ms How far to move, in milliseconds.
   * @throws {RangeError} If `ms` is negative or not finite.
   */
  async advance(ms: number): Promise<void> {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`Cannot advance the clock: ms must be a finite number ≥ 0, got ${ms}`);
    }
    const target = this.#now + ms;
    await turn();
    for (;;) {
      let due: number | undefined;
      let dueAt = Infinity;
      // Handles grow with time set, so the first of the earliest is the oldest.
      for (const [handle, timer] of this.#timers) {
        if (timer.at < dueAt) {
          due = handle;
          dueAt = timer.at;
        }
      }
      if (due === undefined || dueAt > target) break;
      const timer = this.#timers.get(due)!;
      this.#timers.delete(due);
      if (timer.at > this.#now) this.#now = timer.at;
      try {
        timer.callback();
      } catch (error) {
        // As a real timer's callback would: reported, and time goes on.
        reportError(error);
      }
      await turn();
    }
    this.#now = target;
  }
}

/**
 * Options for {@linkcode createPair}.
 *
 * @example
 * ```ts
 * import { createPair, type PairOptions } from "@duplex/websocket/testing";
 * import assert from "node:assert/strict";
 *
 * const options: PairOptions = {
 *   path: "/rooms/1?token=t",
 *   client: { headers: { "x-test": "1" } },
 *   server: { maxMessageSize: 1024 },
 * };
 * const { client, server } = await createPair(options);
 * assert.equal(new URL(server.url).pathname, "/rooms/1");
 * assert.equal(server.headers.get("x-test"), "1");
 * await client.close(1000);
 * ```
 */
export interface PairOptions {
  /** The client's options, as for `connect()`. */
  client?: Omit<ConnectOptions, "transport">;
  /** The server's options, as for `acceptWebSocket()`. */
  server?: Omit<AcceptOptions, "head">;
  /** The request's path and query. Default `"/"`. */
  path?: string;
  /** The clock of both ends, unless a side's options give its own. Default: the system's. */
  clock?: Clock;
}

/**
 * What {@linkcode createPair} returns: both ends, open.
 *
 * @example
 * ```ts
 * import { createPair, type Pair } from "@duplex/websocket/testing";
 *
 * const { client, server }: Pair = await createPair();
 * await client.send("ping?");
 * await server.expectMessage("ping?");
 * await client.close(1000);
 * ```
 */
export interface Pair {
  /** The client's end. */
  client: TestConnection;
  /** The server's end. */
  server: TestConnection;
}

/**
 * A client and a server connection joined in memory, after a real
 * handshake.
 *
 * @param options Each side's options, and the path.
 * @returns Both ends, open.
 * @throws {HandshakeError} If the options make the handshake fail (say,
 * a subprotocol the server does not choose).
 *
 * @example
 * ```ts
 * import { createPair } from "@duplex/websocket/testing";
 * import assert from "node:assert/strict";
 *
 * const { client, server } = await createPair({
 *   client: { protocols: ["chat"], compression: true },
 *   server: { protocol: "chat", compression: true },
 * });
 * assert.equal(client.protocol, "chat");
 * assert.match(client.extensions, /permessage-deflate/);
 * await client.send("x".repeat(10_000));
 * await server.expectMessage("x".repeat(10_000));
 * await server.close(1001);
 * await client.expectClose(1001);
 * ```
 */
export async function createPair(options: PairOptions = {}): Promise<Pair> {
  const [clientEnd, serverEnd] = memoryPair();
  const path = options.path ?? "/";
  const clock = options.clock === undefined ? {} : { clock: options.clock };
  const accepted = acceptWebSocket(serverEnd, { ...clock, ...options.server });
  // A refused handshake rejects both: report the server's reason, once.
  accepted.catch(() => {});
  let client: WebSocketConnection;
  try {
    client = await connectClient(memoryUrl(path), {
      ...clock,
      ...options.client,
      transport: clientEnd,
    });
  } catch (error) {
    await accepted.catch(() => {});
    throw error;
  }
  return { client: new TestConnection(client), server: new TestConnection(await accepted) };
}

function memoryUrl(path: string): string {
  return new URL(path, "ws://memory/").href;
}

/**
 * Options for {@linkcode TestServer.connect}: the client's options, without a transport.
 *
 * @example
 * ```ts
 * import { Hub } from "@duplex/websocket";
 * import { type TestConnectOptions, testServer } from "@duplex/websocket/testing";
 * import assert from "node:assert/strict";
 *
 * const hub = new Hub({ protocol: ["chat.v2", "chat.v1"] });
 * await using server = testServer(hub);
 * const options: TestConnectOptions = { protocols: ["chat.v1"], headers: { cookie: "s=1" } };
 * const client = await server.connect("/", options);
 * assert.equal(client.protocol, "chat.v1");
 * await client.close(1000);
 * ```
 */
export type TestConnectOptions = Omit<ConnectOptions, "transport">;

/**
 * Options for {@linkcode testServer}.
 *
 * @example
 * ```ts
 * import { upgradeWebSocket } from "@duplex/websocket";
 * import { ManualClock, testServer, type TestServerOptions } from "@duplex/websocket/testing";
 *
 * const options: TestServerOptions = { clock: new ManualClock(), requestTimeout: 2_000 };
 * await using server = testServer((request) => upgradeWebSocket(request).response, options);
 * const client = await server.connect();
 * await client.close(1000);
 * ```
 */
export interface TestServerOptions {
  /**
   * The clock of the server's request deadlines, and of the clients it
   * connects unless their options give their own. A hub's connections
   * follow the hub's `clock` option. Default: the system's.
   */
  clock?: Clock;
  /** The server's `requestTimeout`, in milliseconds. Default 10,000. */
  requestTimeout?: number;
}

/**
 * A handler or a hub, served in memory: see {@linkcode testServer}.
 *
 * @example
 * ```ts
 * import { Hub } from "@duplex/websocket";
 * import { type TestServer, testServer } from "@duplex/websocket/testing";
 *
 * const server: TestServer = testServer(new Hub());
 * const client = await server.connect();
 * await server.shutdown(); // 1001 to every client
 * await client.expectClose(1001);
 * ```
 */
export interface TestServer extends AsyncDisposable {
  /**
   * Connects a client, as `connect()` would over TCP, and waits until the
   * server's end is open too: its `open` listeners (a hub's `"open"`
   * handlers) have run, and what they sent is on its way.
   *
   * @param path The request's path and query, such as `"/chat?name=a"`.
   * @param options The client's options: headers, subprotocols, limits.
   * @returns The client's end, open.
   * @throws {HandshakeError} If the handler refuses the upgrade.
   */
  connect(path?: string, options?: TestConnectOptions): Promise<TestConnection>;
  /** Shuts the server down as `Server.shutdown()` does: 1001 to every WebSocket, then waits. */
  shutdown(): Promise<void>;
  /** The server underneath. */
  readonly server: Server;
}

/**
 * Runs the handler you pass to `serve()` (or a `Hub`) on an in-memory
 * listener: every {@linkcode TestServer.connect} is a connection to it,
 * through Duplex's own HTTP/1.1 server.
 *
 * @param handler The request handler, or a hub (anything with a `handler`).
 * @param options The server's clock and request deadline.
 * @returns The server, to connect clients to and to shut down.
 * @throws {TypeError} For a bad option.
 *
 * @example A handler that greets by name
 * ```ts
 * import { upgradeWebSocket } from "@duplex/websocket";
 * import { testServer } from "@duplex/websocket/testing";
 *
 * await using server = testServer((request) => {
 *   const { connection, response } = upgradeWebSocket(request);
 *   const name = new URL(request.url).searchParams.get("name");
 *   connection.opened.then(() => connection.send(`hello, ${name}`));
 *   return response;
 * });
 * const client = await server.connect("/?name=ada");
 * await client.expectMessage("hello, ada");
 * await client.close();
 * ```
 */
export function testServer(
  handler: ServeHandler | { readonly handler: ServeHandler },
  options: TestServerOptions = {},
): TestServer {
  const serveOptions: ServeOptions = {
    onListen() {},
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.requestTimeout !== undefined ? { requestTimeout: options.requestTimeout } : {}),
  };
  checkServeOptions(serveOptions, "serve in memory");
  const fn: ServeHandler = typeof handler === "function" ? handler : handler.handler;
  if (typeof fn !== "function") {
    throw new TypeError("Cannot serve in memory: give a handler function, or a hub");
  }
  const listener = new MemoryListener();
  const server = new DuplexServer(serveOptions, fn, listener);
  return {
    server,
    async connect(path = "/", clientOptions: TestConnectOptions = {}): Promise<TestConnection> {
      const transport = listener.dial();
      const client = await connectClient(memoryUrl(path), {
        ...(options.clock !== undefined ? { clock: options.clock } : {}),
        ...clientOptions,
        transport,
      });
      await listener.whenUpgraded(transport);
      return new TestConnection(client);
    },
    shutdown(): Promise<void> {
      return server.shutdown();
    },
    [Symbol.asyncDispose](): Promise<void> {
      return server.shutdown();
    },
  };
}

/**
 * Connects one client to a handler or a hub in memory, for a test that
 * needs no more: the server shuts down once this connection has closed.
 *
 * @param handler The request handler, or a hub.
 * @param path The request's path and query. Default `"/"`.
 * @param options The client's options: headers, subprotocols, limits.
 * @returns The client's end, open.
 *
 * @example
 * ```ts
 * import { Hub } from "@duplex/websocket";
 * import { connect } from "@duplex/websocket/testing";
 *
 * const hub = new Hub();
 * hub.on("message", (member, message) => member.send(`echo: ${message}`));
 * const client = await connect(hub, "/", { headers: { authorization: "Bearer t" } });
 * await client.send("hi");
 * await client.expectMessage("echo: hi");
 * await client.close(1000);
 * ```
 */
export async function connect(
  handler: ServeHandler | { readonly handler: ServeHandler },
  path = "/",
  options: TestConnectOptions = {},
): Promise<TestConnection> {
  const server = testServer(handler);
  let client: TestConnection;
  try {
    client = await server.connect(path, options);
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  // The client's `closed` resolves once the server is done as well.
  const info = client.connection.closed;
  closedAfter.set(client, info.then(() => server.shutdown()).then(() => info));
  return client;
}
