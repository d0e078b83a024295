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
 *
 * No ports, and no timers but the ones a test asks for (the waits of the
 * assertions, the connections' own deadlines), so Deno's sanitizers stay
 * on.
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
 * while (hub.roomSize("lobby") < 2) await new Promise((resolve) => setTimeout(resolve, 1));
 * await alice.send("hello");
 * await bob.expectMessage("alice: hello");
 * await alice.expectMessage("alice: hello");
 * await alice.close(1000);
 * await bob.expectNoMessage({ within: 20 });
 * await bob.close(1000);
 * ```
 *
 * @module
 */

import type { PreparedMessage } from "./codec/mod.ts";
import type {
  ConnectionCloseInfo,
  ConnectionListener,
  MessageWriter,
  MessageWriterOptions,
  ReceiveOptions,
  SendData,
  WebSocketConnection,
} from "./connection.ts";
import type { Message, ReadyState } from "./codec/mod.ts";
import { ClosedError } from "./codec/mod.ts";
import { TimeoutError } from "./errors.ts";
import { connect as connectClient, type ConnectOptions } from "./client.ts";
import { type AcceptOptions, acceptWebSocket, type ServeHandler, type Server } from "./server.ts";
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

/** Options for the waits of {@linkcode TestConnection}. */
export interface ExpectOptions {
  /** How long to wait, in milliseconds. Default 1,000. */
  timeout?: number;
}

/** What {@linkcode TestConnection.expectMessage} compares a message with. */
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
      message = await this.connection.receive({ timeout });
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
      const message = await this.connection.receive({ timeout });
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
      message = await this.connection.receive({ timeout: within });
    } catch (error) {
      if (error instanceof TimeoutError) return;
      throw this.#instead(`expected no message within ${within} ms`, error, within);
    }
    throw new ExpectationError(`expected no message within ${within} ms, got ${show(message)}`);
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
  send(data: SendData | PreparedMessage): Promise<void> {
    return this.connection.send(data);
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

/** Options for {@linkcode createPair}. */
export interface PairOptions {
  /** The client's options, as for `connect()`. */
  client?: Omit<ConnectOptions, "transport">;
  /** The server's options, as for `acceptWebSocket()`. */
  server?: Omit<AcceptOptions, "head">;
  /** The request's path and query. Default `"/"`. */
  path?: string;
}

/** What {@linkcode createPair} returns: both ends, open. */
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
  const accepted = acceptWebSocket(serverEnd, options.server ?? {});
  // A refused handshake rejects both: report the server's reason, once.
  accepted.catch(() => {});
  let client: WebSocketConnection;
  try {
    client = await connectClient(memoryUrl(path), {
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

/** Options for {@linkcode TestServer.connect}: the client's options, without a transport. */
export type TestConnectOptions = Omit<ConnectOptions, "transport">;

/**
 * A handler or a hub, served in memory: see {@linkcode testServer}.
 */
export interface TestServer extends AsyncDisposable {
  /**
   * Connects a client, as `connect()` would over TCP.
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
 * @returns The server, to connect clients to and to shut down.
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
): TestServer {
  const listener = new MemoryListener();
  const fn: ServeHandler = typeof handler === "function" ? handler : handler.handler;
  const server = new DuplexServer({ onListen() {} }, fn, listener);
  return {
    server,
    async connect(path = "/", options: TestConnectOptions = {}): Promise<TestConnection> {
      const client = await connectClient(memoryUrl(path), {
        ...options,
        transport: listener.dial(),
      });
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
