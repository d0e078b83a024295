// Copyright 2026 the Duplex authors. MIT license.
/**
 * A WebSocket connection over a `Deno.Conn`: the codec's {@linkcode Protocol}
 * driven by one read loop and one write loop. Clients and servers hand out
 * the same {@linkcode WebSocketConnection} interface.
 *
 * - Receiving is pull-based: messages wait in a bounded queue for
 *   {@linkcode WebSocketConnection.receive}, async iteration or the
 *   `readable` stream, and the socket is not read while the queue is full,
 *   so a slow reader slows the peer instead of growing memory. A listener
 *   set with {@linkcode WebSocketConnection.listen} takes messages as they
 *   arrive instead.
 * - Sending coalesces: frames queued in the same tick, or while a write is
 *   in flight, go out in one write. `send()` resolves at once while the
 *   buffered bytes stay under `highWaterMark`, and when written otherwise.
 * - Closing always ends: the closing handshake is bounded by
 *   `closeTimeout`, and every way a connection can end — a clean close, a
 *   protocol violation, a reset, a timeout — settles `closed` once, with a
 *   close code and, when abnormal, a typed error.
 *
 * @module
 */

import {
  ClosedError,
  type CloseInfo,
  ConnectionError,
  encodeUtf8,
  type Message,
  Protocol,
  type ProtocolCompression,
  ProtocolError,
  type ProtocolEvent,
  ReadyState,
  type Role,
  TimeoutError,
} from "./codec/mod.ts";
import { parseRequestText } from "./codec/http1.ts";
import type { CompressionOptions } from "./_deflate.ts";

export type { CompressionOptions };

/** What {@linkcode WebSocketConnection.send} accepts: text, or binary data. */
export type SendData = string | ArrayBuffer | ArrayBufferView;

/** Keepalive settings: detect a silent peer and close the connection. */
export interface KeepaliveOptions {
  /** Send a ping after this many milliseconds in which nothing arrived from the peer. */
  pingInterval: number;
  /**
   * Close the connection (1006, with a `TimeoutError` `"PONG_TIMEOUT"`) if
   * the pong does not arrive within this many milliseconds. Default:
   * `pingInterval`.
   */
  pongTimeout?: number;
}

/** Options shared by every connection, client or server. */
export interface ConnectionOptions {
  /**
   * The largest message accepted, in bytes; a larger one fails the
   * connection with 1009 as soon as its header arrives. Default 64 MiB
   * (as Deno's native WebSocket).
   */
  maxMessageSize?: number;
  /** The most frames a message may have; more fails with 1008. Default 100,000. */
  maxFragments?: number;
  /** Split outgoing messages into frames of at most this many bytes. Default: no splitting. */
  fragmentSize?: number;
  /**
   * How long the closing handshake may take, in milliseconds, from the
   * first close frame to the TCP close; after it the connection is closed
   * anyway. Default 5,000.
   */
  closeTimeout?: number;
  /**
   * `send()` resolves at once while no more than this many bytes are
   * buffered, and once its frame is written otherwise. `0` makes every
   * `send()` wait for its write. Default 16 KiB.
   */
  highWaterMark?: number;
  /**
   * Stop reading from the socket while this many bytes of received
   * messages wait to be consumed. Default 1 MiB.
   */
  receiveHighWaterMark?: number;
  /** Ping the peer regularly and close the connection if it stops answering. */
  keepalive?: KeepaliveOptions;
  /**
   * Negotiate permessage-deflate (RFC 7692), without context takeover: each
   * message is compressed on its own, so a connection keeps no compression
   * state between messages. `true` for the defaults. Default: off. (Not
   * through the `Deno.serve` adapter: Deno's own socket does not negotiate it.)
   *
   * `maxMessageSize` bounds a message's inflated size, checked as it
   * inflates; since a few kilobytes can inflate to megabytes, set it to what
   * the application needs when compression is on.
   */
  compression?: boolean | CompressionOptions;
}

/** How a connection ended: {@linkcode CloseInfo} and, when abnormal, why. */
export interface ConnectionCloseInfo extends CloseInfo {
  /**
   * Why the connection ended abnormally: a {@linkcode ProtocolError} (the
   * peer broke the protocol), a {@linkcode ConnectionError} (the transport
   * failed or closed without a close frame), a {@linkcode TimeoutError}, or
   * a `HandshakeError` (it never opened). Absent after a clean close.
   */
  error?: Error;
}

/** Options for {@linkcode WebSocketConnection.receive}. */
export interface ReceiveOptions {
  /** Stop waiting when this signal aborts; the promise rejects with its reason. */
  signal?: AbortSignal;
  /** Stop waiting after this many milliseconds, with a `TimeoutError` `"RECEIVE_TIMEOUT"`. */
  timeout?: number;
}

/**
 * Callbacks for {@linkcode WebSocketConnection.listen}, called as methods of
 * the object passed (so a class instance can be the listener).
 */
export interface ConnectionListener {
  /**
   * Takes every message as it arrives. While set, messages are not queued
   * for `receive()` or iteration, and the socket is read without pause.
   */
  message?: (data: Message) => void;
  /** The connection opened. */
  open?: () => void;
  /** A ping arrived (its pong is already on its way). */
  ping?: (data: Uint8Array) => void;
  /** A pong arrived. */
  pong?: (data: Uint8Array) => void;
  /** The connection is failing: `close` follows. */
  error?: (error: Error) => void;
  /** The connection is closed; always called, once. */
  close?: (info: ConnectionCloseInfo) => void;
}

/**
 * One WebSocket connection, from either side: what `connect()` resolves to
 * and what a server hands its handler.
 *
 * @example Echo every message until the peer closes
 * ```ts ignore
 * for await (const message of connection) {
 *   await connection.send(message);
 * }
 * const { code, reason, wasClean } = await connection.closed;
 * ```
 */
export interface WebSocketConnection extends AsyncIterable<Message> {
  /** The URL: the one connected to (client) or requested (server). */
  readonly url: string;
  /** The state: `CONNECTING`, `OPEN`, `CLOSING` or `CLOSED` (WHATWG numbering). */
  readonly readyState: ReadyState;
  /** The negotiated subprotocol; empty if none. */
  readonly protocol: string;
  /** The negotiated extensions, as a `Sec-WebSocket-Extensions` value; empty if none. */
  readonly extensions: string;
  /** The handshake headers from the peer: the response (client) or the request (server). */
  readonly headers: Headers;
  /** Bytes queued by `send()` and not yet written to the socket. */
  readonly bufferedAmount: number;
  /** Resolves when the connection opens; rejects if it never does. */
  readonly opened: Promise<void>;
  /** Resolves once, when the connection is closed, however it ended. Never rejects. */
  readonly closed: Promise<ConnectionCloseInfo>;
  /** Received messages as a stream (pull-based; cancelling it closes the connection). */
  readonly readable: ReadableStream<Message>;
  /** A stream to send messages into, with the connection's backpressure. */
  readonly writable: WritableStream<SendData>;

  /**
   * Sends a message: a string as text, binary data as binary.
   *
   * @returns A promise that resolves at once while the buffered bytes stay
   * under `highWaterMark`, and once the frame is written otherwise; it
   * rejects with a `ClosedError` if the connection is closing or closed.
   * Binary data is not copied when large: leave it alone until then.
   */
  send(data: SendData): Promise<void>;
  /**
   * Sends a ping and measures the round trip.
   *
   * @param data Up to 125 bytes; by default a unique payload.
   * @returns The round-trip time in milliseconds, when the pong arrives.
   */
  ping(data?: Uint8Array | string): Promise<number>;
  /** Sends an unsolicited pong (a one-way heartbeat). */
  pong(data?: Uint8Array | string): Promise<void>;
  /**
   * Starts the closing handshake and waits for it, bounded by `closeTimeout`.
   *
   * @param code The close code (1000, 1001, 1011, 3000–4999…); omit for none.
   * @param reason At most 123 bytes of UTF-8.
   * @returns The same result as `closed`.
   * @throws {RangeError} If the code cannot be sent or the reason is too long.
   */
  close(code?: number, reason?: string): Promise<ConnectionCloseInfo>;
  /**
   * Ends the connection at once, without a closing handshake, as for a peer
   * that stopped answering: `closed` resolves with 1006 and `error`.
   *
   * @param error Why; default a `ConnectionError` `"TERMINATED"`.
   */
  terminate(error?: Error): void;
  /**
   * Receives the next message.
   *
   * @returns The message: text as a string, binary as a `Uint8Array`.
   * Rejects with a `ClosedError` once the connection has closed cleanly and
   * every message has been received, with the error that ended it if it
   * closed abnormally, or with a `TimeoutError` or the signal's reason.
   */
  receive(options?: ReceiveOptions): Promise<Message>;
  /**
   * Sets callbacks for the connection's events. A `message` callback takes
   * messages as they arrive instead of queueing them (push delivery, as
   * the WHATWG `WebSocket` does); the others only observe.
   */
  listen(listener: ConnectionListener): void;
  /** Iterates over received messages; ends quietly after a clean close. */
  [Symbol.asyncIterator](): AsyncIterator<Message>;
}

/** What a completed opening handshake settled. */
export interface OpenInfo {
  /** The negotiated subprotocol. */
  protocol: string;
  /** The negotiated extensions header value. */
  extensions: string;
  /** permessage-deflate, when negotiated. */
  compression?: ProtocolCompression;
  /**
   * The peer's handshake headers, or the request head they are parsed from
   * if someone asks, as Latin-1 text: a server keeps that, a few bytes per
   * character, rather than a Headers object or a buffer of its own.
   */
  headers: Headers | string;
}

const RESOLVED: Promise<void> = Promise.resolve();
// Read buffer sizes. An idle connection waits on the smallest, because a
// pending read holds its buffer (and RSS per idle connection is a target);
// a read that fills its buffer moves a step up, and a run of reads that would
// have fit the step below moves back down.
const READ_SIZES = [512, 8 * 1024, 64 * 1024, 256 * 1024];
const SHRINK_AFTER = 16;
// A payload with at least this much still to come is read straight into the
// buffer it is handed out in (one copy fewer, and fewer, larger reads).
const DIRECT_READ_MIN = 64 * 1024;

/** Marks a promise as handled, so that nobody awaiting it never crashes the process. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function rejected<T>(error: Error): Promise<T> {
  return handled(Promise.reject(error));
}

/** Calls a listener's callback as its method (`this` is the listener); reports what it throws. */
function callSafely<A>(
  callback: ((arg: A) => void) | undefined,
  arg: A,
  listener: ConnectionListener,
): void {
  if (callback === undefined) return;
  try {
    callback.call(listener, arg);
  } catch (error) {
    reportError(error);
  }
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encodeUtf8(data) : data;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Writes all of `data`, however many calls the socket needs. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = await conn.write(data);
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

/** Turns a Deno I/O error into a {@linkcode ConnectionError}. */
export function transportError(error: unknown, what: string): Error {
  if (error instanceof ConnectionError || error instanceof TimeoutError) return error;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new ConnectionError("CONNECTION_REFUSED", `${what}: the connection was refused`, {
      cause: error,
    });
  }
  if (error instanceof Deno.errors.NotFound) {
    return new ConnectionError("HOST_NOT_FOUND", `${what}: the host was not found`, {
      cause: error,
    });
  }
  if (
    error instanceof Deno.errors.InvalidData ||
    (error instanceof Error && /certificate|tls/i.test(error.message))
  ) {
    return new ConnectionError(
      "TLS_ERROR",
      `${what}: the TLS handshake failed (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionError("CONNECTION_RESET", `${what}: ${message}`, { cause: error });
}

interface Waiter {
  resolve: (message: Message) => void;
  reject: (error: Error) => void;
}

/**
 * What every {@linkcode WebSocketConnection} shares, whatever carries its
 * frames: the queue of received messages and the `receive()` calls waiting
 * on it, the listener, iteration, streams, and settling `closed` once.
 * Subclasses hand messages to `deliver()` and end with `settle()`.
 */
export abstract class BaseConnection implements WebSocketConnection {
  abstract readonly url: string;
  abstract readonly readyState: ReadyState;
  abstract readonly protocol: string;
  abstract readonly extensions: string;
  abstract readonly headers: Headers;
  abstract readonly bufferedAmount: number;
  abstract send(data: SendData): Promise<void>;
  abstract ping(data?: Uint8Array | string): Promise<number>;
  abstract pong(data?: Uint8Array | string): Promise<void>;
  abstract close(code?: number, reason?: string): Promise<ConnectionCloseInfo>;
  abstract terminate(error?: Error): void;

  /** The callbacks set with `listen()`. */
  protected listener: ConnectionListener = {};

  #openState: "connecting" | "open" | Error = "connecting";
  #result: ConnectionCloseInfo | null = null;
  // Made on first use: most connections never have a message queued, a
  // receive() waiting, a stream, or anyone awaiting `opened` or `closed`.
  #extras: Extras | null = null;

  get #more(): Extras {
    return this.#extras ??= new Extras();
  }

  get opened(): Promise<void> {
    const extras = this.#more;
    if (extras.opened === null) {
      const opened = extras.opened = Promise.withResolvers<void>();
      handled(opened.promise);
      if (this.#openState === "open") opened.resolve();
      else if (this.#openState !== "connecting") opened.reject(this.#openState);
    }
    return extras.opened.promise;
  }

  get closed(): Promise<ConnectionCloseInfo> {
    const extras = this.#more;
    if (extras.closed === null) {
      extras.closed = Promise.withResolvers<ConnectionCloseInfo>();
      if (this.#result !== null) extras.closed.resolve(this.#result);
    }
    return extras.closed.promise;
  }

  /** Records that the connection opened: `opened` resolves. */
  protected markOpened(): void {
    this.#openState = "open";
    this.#extras?.opened?.resolve();
  }

  /** Records that the connection will never open: `opened` rejects with `error`. */
  protected markNeverOpened(error: Error): void {
    this.#openState = error;
    this.#extras?.opened?.reject(error);
  }

  /** How the connection ended, once it has. */
  protected get result(): ConnectionCloseInfo | null {
    return this.#result;
  }

  /** Bytes of received messages waiting to be consumed. */
  protected get queuedBytes(): number {
    const extras = this.#extras;
    return extras === null ? 0 : extras.queuedBytes;
  }

  /** Called when queued messages have been consumed, so a paused reader may go on. */
  protected onDrained(): void {}

  listen(listener: ConnectionListener): void {
    this.listener = listener;
    if (listener.message !== undefined) {
      // Hand over anything already queued; from now on messages go straight there.
      while (this.#hasQueued()) callSafely(listener.message, this.#dequeue(), listener);
      this.onDrained();
    }
  }

  receive(options: ReceiveOptions = {}): Promise<Message> {
    if (this.#hasQueued()) return Promise.resolve(this.#dequeue());
    if (this.#result !== null) return rejected(this.endError());
    if (this.listener.message !== undefined) {
      return rejected(
        new TypeError("Cannot receive: messages go to the listener set with listen()"),
      );
    }
    const { signal, timeout } = options;
    if (signal?.aborted) return rejected(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<Message>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => settle(undefined, signal!.reason);
    const settle = (message: Message | undefined, error?: Error) => {
      const index = waiters.indexOf(waiter);
      if (index >= 0) waiters.splice(index, 1);
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (error !== undefined) reject(error);
      else resolve(message!);
    };
    const waiter: Waiter = {
      resolve: (message) => settle(message),
      reject: (error) => settle(undefined, error),
    };
    const waiters = this.#more.waiters;
    waiters.push(waiter);
    if (timeout !== undefined) {
      timer = setTimeout(
        () =>
          settle(
            undefined,
            new TimeoutError("RECEIVE_TIMEOUT", `No message arrived within ${timeout} ms`),
          ),
        timeout,
      );
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    this.onDrained();
    return handled(promise);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    const next = (): Promise<IteratorResult<Message>> =>
      this.receive().then(
        (value) => ({ value, done: false }),
        (error) => {
          if (error instanceof ClosedError) return { value: undefined, done: true };
          throw error;
        },
      );
    return { next, return: () => Promise.resolve({ value: undefined, done: true }) };
  }

  get readable(): ReadableStream<Message> {
    return this.#more.readable ??= new ReadableStream<Message>({
      pull: async (controller) => {
        try {
          controller.enqueue(await this.receive());
        } catch (error) {
          if (error instanceof ClosedError) controller.close();
          else controller.error(error);
        }
      },
      cancel: async () => {
        await this.close(1000);
      },
    }, { highWaterMark: 0 });
  }

  get writable(): WritableStream<SendData> {
    return this.#more.writable ??= new WritableStream<SendData>({
      write: (chunk) => this.send(chunk),
      close: async () => {
        await this.close(1000);
      },
      abort: async () => {
        await this.close(1001);
      },
    });
  }

  /** Hands a received message to the listener, a waiting `receive()`, or the queue. */
  protected deliver(message: Message): void {
    const listener = this.listener;
    const onMessage = listener.message;
    if (onMessage !== undefined) {
      callSafely(onMessage, message, listener);
      return;
    }
    const extras = this.#more;
    const waiters = extras.waiters;
    if (waiters.length > 0 && !this.#hasQueued()) {
      waiters[0]!.resolve(message);
      return;
    }
    extras.queue.push(message);
    extras.queuedBytes += message.length;
  }

  /** The error for operations after the end: a ClosedError if clean, else what ended it. */
  protected endError(): Error {
    const result = this.#result!;
    if (result.error !== undefined) return result.error;
    return new ClosedError(result.code, result.reason, "The WebSocket is closed");
  }

  /** Records how the connection ended and settles everything waiting; runs once. */
  protected settle(result: ConnectionCloseInfo): void {
    if (this.#result !== null) return;
    this.#result = result;
    const extras = this.#extras;
    if (extras !== null && extras.waiters.length > 0) {
      const ended = this.endError();
      for (const waiter of extras.waiters.splice(0)) waiter.reject(ended);
    }
    extras?.closed?.resolve(result);
    callSafely(this.listener.close, result, this.listener);
  }

  #hasQueued(): boolean {
    const extras = this.#extras;
    return extras !== null && extras.queueHead < extras.queue.length;
  }

  #dequeue(): Message {
    const extras = this.#extras!;
    const queue = extras.queue;
    const message = queue[extras.queueHead]!;
    queue[extras.queueHead++] = undefined;
    if (extras.queueHead === queue.length) {
      queue.length = 0; // lets go of the storage, however long the queue grew
      extras.queueHead = 0;
    } else if (extras.queueHead > 1024 && extras.queueHead * 2 > queue.length) {
      extras.queue = queue.slice(extras.queueHead);
      extras.queueHead = 0;
    }
    extras.queuedBytes -= message.length;
    this.onDrained();
    return message;
  }
}

/** The parts of a {@linkcode BaseConnection} made only when used. */
class Extras {
  /** Received messages not yet consumed, from queueHead on. */
  queue: (Message | undefined)[] = [];
  queueHead = 0;
  queuedBytes = 0;
  /** receive() calls waiting for a message. */
  waiters: Waiter[] = [];
  opened: PromiseWithResolvers<void> | null = null;
  closed: PromiseWithResolvers<ConnectionCloseInfo> | null = null;
  readable: ReadableStream<Message> | undefined = undefined;
  writable: WritableStream<SendData> | undefined = undefined;
}

interface PendingPing {
  payload: Uint8Array;
  sentAt: number;
  resolve: (rtt: number) => void;
  reject: (error: Error) => void;
}

/** A connection's limits and timeouts: connections left at the defaults share one object. */
interface Limits {
  readonly maxMessageSize: number | undefined;
  readonly maxFragments: number | undefined;
  readonly fragmentSize: number | undefined;
  readonly closeTimeout: number;
  readonly highWaterMark: number;
  readonly receiveHighWaterMark: number;
}

const DEFAULT_LIMITS: Limits = Object.freeze({
  maxMessageSize: undefined,
  maxFragments: undefined,
  fragmentSize: undefined,
  closeTimeout: 5_000,
  highWaterMark: 16 * 1024,
  receiveHighWaterMark: 1024 * 1024,
});

function limitsOf(options: ConnectionOptions): Limits {
  const { maxMessageSize, maxFragments, fragmentSize, closeTimeout } = options;
  const { highWaterMark, receiveHighWaterMark } = options;
  if (
    maxMessageSize === undefined && maxFragments === undefined && fragmentSize === undefined &&
    closeTimeout === undefined && highWaterMark === undefined && receiveHighWaterMark === undefined
  ) {
    return DEFAULT_LIMITS;
  }
  return {
    maxMessageSize,
    maxFragments,
    fragmentSize,
    closeTimeout: closeTimeout ?? DEFAULT_LIMITS.closeTimeout,
    highWaterMark: highWaterMark ?? DEFAULT_LIMITS.highWaterMark,
    receiveHighWaterMark: receiveHighWaterMark ?? DEFAULT_LIMITS.receiveHighWaterMark,
  };
}

/** Options for {@linkcode SocketConnection}. */
export interface SocketConnectionOptions extends ConnectionOptions {
  /** The side this end plays. */
  role: Role;
  /** The connection's URL. */
  url: string;
}

/**
 * The {@linkcode WebSocketConnection} of Duplex's own client and server: a
 * codec {@linkcode Protocol} over a `Deno.Conn`. It is created `CONNECTING`
 * and opened by {@linkcode SocketConnection.open} once the handshake is done.
 */
export class SocketConnection extends BaseConnection {
  /** The side this end plays. */
  readonly role: Role;
  /** The URL. */
  readonly url: string;

  readonly #limits: Limits;
  #keepalive: KeepaliveOptions | undefined;

  #protocol: Protocol | null = null;
  #conn: Deno.Conn | null = null;
  #state: ReadyState = ReadyState.CONNECTING;
  #subprotocol = "";
  #extensions = "";
  #headers: Headers | string | null = null;

  // Reading: the buffer the next read fills (null once reading is over), its
  // step in READ_SIZES, how many reads in a row would have fit the step below,
  // and whether reading waits for the application (receive-side backpressure).
  #readBuffer: Uint8Array | null = null;
  // Whether the pending read goes straight into a large payload's buffer.
  #direct = false;
  #readLevel = 0;
  #fitBelow = 0;
  #paused = false;
  #receivedSinceCheck = false;

  // Sending: the promise for bytes queued but not yet taken, and the bytes being written.
  #batch: PromiseWithResolvers<void> | null = null;
  #flushQueued = false;
  #writing = false;
  #inFlight = 0;
  #afterDrain: (() => void)[] | null = null;
  #onEnd: ((connection: SocketConnection) => void) | null = null;

  // Closing.
  #error: Error | undefined;
  // After a failure, writes wait one turn so replies to earlier messages go first.
  #holdingForReplies = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  // Pings and keepalive (ticked by a clock shared with every connection of the same period).
  #pings: PendingPing[] | null = null;
  #pingCount = 0;
  #clock: KeepaliveClock | null = null;
  #lastActive = 0;
  #pongDeadline = 0;

  // Connections with frames to write, flushed together in one microtask.
  static #toFlush: SocketConnection[] = [];
  static #spare: SocketConnection[] = [];

  // Connections whose next read waits for that microtask: a reply's write
  // goes out before the read after it is started.
  static #toRead: SocketConnection[] = [];
  static #spareReaders: SocketConnection[] = [];

  static #flushAll(): void {
    const connections = SocketConnection.#toFlush;
    // Flushes may queue more: those go to the other list, and the next microtask.
    SocketConnection.#toFlush = SocketConnection.#spare;
    for (let i = 0; i < connections.length; i++) connections[i]!.#flush();
    connections.length = 0;
    SocketConnection.#spare = connections;
    const readers = SocketConnection.#toRead;
    SocketConnection.#toRead = SocketConnection.#spareReaders;
    for (let i = 0; i < readers.length; i++) readers[i]!.#read();
    readers.length = 0;
    SocketConnection.#spareReaders = readers;
  }

  /**
   * Creates a connection in the `CONNECTING` state.
   *
   * @param options The role, URL and connection options.
   * @throws {RangeError} For a keepalive interval that is not positive.
   */
  constructor(options: SocketConnectionOptions) {
    super();
    this.role = options.role;
    this.url = options.url;
    this.#limits = limitsOf(options);
    this.#keepalive = options.keepalive;
    if (this.#keepalive !== undefined && !(this.#keepalive.pingInterval > 0)) {
      throw new RangeError("Cannot create connection: keepalive.pingInterval must be positive");
    }
  }

  get readyState(): ReadyState {
    return this.#state;
  }

  get protocol(): string {
    return this.#subprotocol;
  }

  get extensions(): string {
    return this.#extensions;
  }

  get headers(): Headers {
    const headers = this.#headers;
    if (headers instanceof Headers) return headers;
    return this.#headers = headers === null ? new Headers() : parseRequestText(headers).headers;
  }

  get bufferedAmount(): number {
    return (this.#protocol?.bufferedAmount ?? 0) + this.#inFlight;
  }

  /**
   * Opens the connection over `conn` once the handshake is done.
   *
   * @param conn The transport.
   * @param leftover Bytes read past the handshake: the first frames.
   * @param info What the handshake settled.
   */
  open(conn: Deno.Conn, leftover: Uint8Array, info: OpenInfo): void {
    if (this.#state !== ReadyState.CONNECTING) {
      conn.close();
      return;
    }
    this.#conn = conn;
    this.#protocol = new Protocol({
      role: this.role,
      maxMessageSize: this.#limits.maxMessageSize,
      maxFragments: this.#limits.maxFragments,
      fragmentSize: this.#limits.fragmentSize,
      compression: info.compression,
    });
    this.#subprotocol = info.protocol;
    this.#extensions = info.extensions;
    this.#headers = info.headers;
    this.#state = ReadyState.OPEN;
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // Not TCP (a Unix socket, TLS): nothing to tune.
    }
    this.#startTimer();
    this.markOpened();
    callSafely(this.listener.open, undefined, this.listener);
    this.#startReading(leftover);
  }

  /**
   * Ends a connection that never opened (its handshake failed or was
   * abandoned): `opened` rejects and `closed` resolves with 1006 and `error`.
   *
   * @param error Why it never opened.
   */
  fail(error: Error): void {
    if (this.#state !== ReadyState.CONNECTING) return;
    this.markNeverOpened(error);
    this.#teardown({ code: 1006, reason: "", wasClean: false, closedByPeer: false }, error);
  }

  send(data: SendData): Promise<void> {
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("send"));
    if (typeof data === "string") protocol.sendText(data);
    else if (data instanceof Uint8Array) protocol.sendBinary(data);
    else if (data instanceof ArrayBuffer) protocol.sendBinary(new Uint8Array(data));
    else if (ArrayBuffer.isView(data)) {
      protocol.sendBinary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else {throw new TypeError(
        "Cannot send: data must be a string, an ArrayBuffer or an ArrayBufferView",
      );}
    return this.#queued();
  }

  ping(data?: Uint8Array | string): Promise<number> {
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("ping"));
    let payload: Uint8Array;
    if (data === undefined) {
      // A payload of our own, so that the pong can be matched to this ping.
      payload = new Uint8Array(8);
      new DataView(payload.buffer).setFloat64(0, ++this.#pingCount);
    } else {
      payload = toBytes(data).slice();
    }
    protocol.ping(payload); // throws RangeError over 125 bytes
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    (this.#pings ??= []).push({ payload, sentAt: performance.now(), resolve, reject });
    this.#queued();
    return handled(promise);
  }

  pong(data?: Uint8Array | string): Promise<void> {
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("pong"));
    protocol.pong(data === undefined ? undefined : toBytes(data));
    return this.#queued();
  }

  close(code?: number, reason?: string): Promise<ConnectionCloseInfo> {
    if (this.#state === ReadyState.CONNECTING) {
      this.fail(new ClosedError(1006, "", "The WebSocket was closed before it opened"));
      return this.closed;
    }
    const protocol = this.#openProtocol();
    if (protocol === null || this.result !== null) return this.closed;
    protocol.close(code, reason); // throws RangeError for a code or reason that cannot be sent
    this.#state = ReadyState.CLOSING;
    this.#startCloseTimer();
    this.#queued();
    if (this.#paused) {
      // Reading waited for the application, which is done: read on, to the peer's close frame.
      this.#paused = false;
      this.#read();
    }
    return this.closed;
  }

  /**
   * Calls `callback` with this connection once it has ended; for a server's
   * own bookkeeping, without making the `closed` promise (one callback can
   * serve every connection).
   */
  whenEnded(callback: (connection: SocketConnection) => void): void {
    if (this.result !== null) callback(this);
    else this.#onEnd = callback;
  }

  /** Turns off this connection's own keepalive before it opens (a hub keeps all alive with one timer). */
  disableKeepalive(): void {
    this.#keepalive = undefined;
  }

  terminate(error?: Error): void {
    const reason = error ?? new ConnectionError("TERMINATED", "The WebSocket was terminated");
    if (this.#state === ReadyState.CONNECTING) {
      this.fail(reason);
      return;
    }
    this.#end(() => reason);
  }

  /**
   * Queues bytes that are already complete frames, such as a broadcast
   * framed once for many connections with `encodeFrame()`.
   *
   * @param frames Unmasked frames (this is for servers); not copied when large.
   * @returns As for `send()`.
   */
  sendEncoded(frames: Uint8Array): Promise<void> {
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("send"));
    protocol.sendEncoded(frames);
    return this.#queued();
  }

  protected override onDrained(): void {
    if (this.#paused && this.queuedBytes < this.#limits.receiveHighWaterMark) {
      this.#paused = false;
      this.#read();
    }
  }

  /** The protocol if messages may be sent, else null. */
  #openProtocol(): Protocol | null {
    const protocol = this.#protocol;
    if (protocol === null || this.result !== null) return null;
    // Open, or just failed with replies to earlier messages still allowed
    // ahead of the close frame (see #onProtocolClosed).
    return (this.#state === ReadyState.OPEN && protocol.state === ReadyState.OPEN) ||
        (this.#holdingForReplies && protocol.canSend)
      ? protocol
      : null;
  }

  #notOpen(what: string): Error {
    if (this.#state === ReadyState.CONNECTING) {
      return new DOMException(
        `Cannot ${what}: the WebSocket is still connecting`,
        "InvalidStateError",
      );
    }
    const info = this.result ?? this.#protocol?.closeInfo;
    return new ClosedError(
      info?.code ?? 1006,
      info?.reason ?? "",
      `Cannot ${what}: the WebSocket is closing or closed`,
    );
  }

  /** Starts reading: `leftover` holds what came in with the handshake, the first frames. */
  #startReading(leftover: Uint8Array): void {
    if (leftover.length > 0) {
      try {
        this.#receive(leftover);
      } catch (error) {
        this.#onReadError(error);
        return;
      }
    }
    this.#readBuffer = new Uint8Array(READ_SIZES[0]!);
    this.#read();
  }

  // Reading is a chain of callbacks rather than an async loop: an idle
  // connection then holds one pending read and one small function, not a
  // suspended generator with its registers, promise and await closures.
  #read(): void {
    if (this.result !== null) {
      this.#readBuffer = null;
      return;
    }
    if (
      this.queuedBytes >= this.#limits.receiveHighWaterMark &&
      this.listener.message === undefined &&
      this.#protocol!.state === ReadyState.OPEN
    ) {
      // Receive-side backpressure: onDrained() reads again once the application catches up.
      this.#paused = true;
      return;
    }
    // Never throws: it runs from callbacks and microtasks that have no one to
    // throw to (a failure, even to allocate, ends this connection alone).
    try {
      // The rest of a large payload is read straight into the message's buffer.
      const direct = this.#protocol!.receiveTarget(DIRECT_READ_MIN);
      this.#direct = direct !== undefined;
      this.#conn!.read(direct ?? this.#readBuffer!).then(this.#onRead, this.#onRead);
    } catch (error) {
      this.#onReadError(error);
    }
  }

  // One function takes both outcomes of a read (one closure per connection,
  // not two): a byte count, null at the end of the stream, or the error a
  // failed read rejects with (Deno's are Error objects, never a number).
  readonly #onRead = (result: unknown): void => {
    try {
      if (typeof result !== "number") {
        if (result === null) {
          this.#readBuffer = null;
          this.#onEof();
        } else {
          this.#onReadError(result);
        }
        return;
      }
      this.#receivedSinceCheck = true;
      if (this.#direct) {
        this.#direct = false;
        this.#handleEvents(this.#protocol!, this.#protocol!.receiveWritten(result));
      } else {
        const buffer = this.#readBuffer!;
        this.#receive(buffer.subarray(0, result));
        this.#resizeReadBuffer(result, buffer.length);
      }
    } catch (error) {
      this.#onReadError(error);
      return;
    }
    // Replies to what was just read are about to be written: read after that.
    if (this.#flushQueued) SocketConnection.#toRead.push(this);
    else this.#read();
  };

  #onReadError(error: unknown): void {
    this.#readBuffer = null;
    if (this.result === null) this.#onTransportError(error, "Cannot read from the WebSocket");
  }

  /** A read that filled the buffer moves a size up; a run that would have fit the size below, down. */
  #resizeReadBuffer(n: number, size: number): void {
    const level = this.#readLevel;
    if (n === size) {
      if (level < READ_SIZES.length - 1) {
        this.#readBuffer = new Uint8Array(READ_SIZES[this.#readLevel = level + 1]!);
        this.#fitBelow = 0;
      }
    } else if (level > 0) {
      if (n > READ_SIZES[level - 1]!) {
        this.#fitBelow = 0;
      } else if (++this.#fitBelow >= SHRINK_AFTER) {
        this.#readBuffer = new Uint8Array(READ_SIZES[this.#readLevel = level - 1]!);
        this.#fitBelow = 0;
      }
    }
  }

  #receive(bytes: Uint8Array): void {
    const protocol = this.#protocol!;
    this.#handleEvents(protocol, protocol.receive(bytes));
  }

  #handleEvents(protocol: Protocol, events: ProtocolEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      switch (event.type) {
        case "message":
          this.deliver(event.data);
          break;
        case "ping":
          callSafely(this.listener.ping, event.data, this.listener);
          break;
        case "pong":
          this.#onPong(event.data);
          break;
        case "error":
          this.#error ??= event.error;
          callSafely(this.listener.error, event.error as Error, this.listener);
          break;
        case "close":
          this.#onProtocolClosed();
          break;
      }
    }
    // Replies go out in a microtask, together with whatever else this turn
    // sends. Flushing here at once was measured: p50 latency ~8% lower, but
    // pipelined peers fall into one write per message (64 connections:
    // 1.4M -> 0.9M messages/s), so the batch wins.
    if (protocol.bufferedAmount > 0) this.#queued();
  }

  #onPong(data: Uint8Array): void {
    const pings = this.#pings;
    const index = pings === null ? -1 : pings.findIndex((ping) => sameBytes(ping.payload, data));
    if (pings !== null && index >= 0) {
      // A pong answers its ping and every ping sent before it (RFC 6455
      // §5.5.3: a peer may answer only the most recent one).
      const now = performance.now();
      for (const ping of pings.splice(0, index + 1)) ping.resolve(now - ping.sentAt);
    }
    this.#pongDeadline = 0;
    callSafely(this.listener.pong, data, this.listener);
  }

  /** The protocol reached CLOSED: send what is owed, then end the transport. */
  #onProtocolClosed(): void {
    this.#state = ReadyState.CLOSING;
    this.#startCloseTimer();
    if (this.#error !== undefined) {
      // We failed the connection. Messages that arrived before the violation
      // have been delivered; give the application one turn of the event loop
      // (every pending promise reaction runs first) to reply to them, then
      // send the replies and the close frame together, the close frame last.
      this.#holdingForReplies = true;
      setTimeout(() => {
        this.#holdingForReplies = false;
        if (this.result === null) this.#sendAndHalfClose();
      }, 0);
      return;
    }
    this.#sendAndHalfClose();
  }

  /** Writes what is owed (the close frame last), then half-closes as the role requires. */
  #sendAndHalfClose(): void {
    this.#queued();
    this.#whenDrained(() => {
      if (this.result !== null) return;
      // RFC 6455 §7.1.1: the server closes the TCP connection first; the
      // client waits for it. A half-close lets the peer read our close frame
      // before the connection goes away; the read loop then sees its EOF.
      if (this.role === "server" || this.#error !== undefined) {
        this.#conn!.closeWrite().catch(() => this.#finish());
      }
    });
  }

  #onEof(): void {
    this.#end(() =>
      new ConnectionError(
        "CONNECTION_CLOSED",
        "The peer closed the connection without a close frame",
      )
    );
  }

  /**
   * The transport is going away: a clean end if the closing handshake is
   * over, else an abnormal one (1006) with the error `why` makes.
   */
  #end(why: () => Error): void {
    const protocol = this.#protocol!;
    if (protocol.state === ReadyState.CLOSED) {
      this.#finish();
      return;
    }
    protocol.receiveEof();
    this.#teardown(protocol.closeInfo!, why());
  }

  #onTransportError(error: unknown, what: string): void {
    const protocol = this.#protocol!;
    if (
      protocol.state === ReadyState.CLOSED && this.#error === undefined &&
      protocol.closeInfo!.wasClean
    ) {
      // The handshake was over: a reset now loses nothing.
      this.#finish();
      return;
    }
    protocol.receiveEof();
    this.#teardown(protocol.closeInfo!, this.#error ?? transportError(error, what));
  }

  /** Ends the transport after the protocol closed. */
  #finish(): void {
    this.#teardown(this.#protocol!.closeInfo!, this.#error);
  }

  #startCloseTimer(): void {
    if (this.#closeTimer !== undefined) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      // Clean if the handshake completed and the peer only kept TCP open.
      this.#end(() =>
        new TimeoutError(
          "CLOSE_TIMEOUT",
          `The closing handshake took longer than ${this.#limits.closeTimeout} ms`,
        )
      );
    }, this.#limits.closeTimeout);
  }

  /**
   * Keepalive: a ping goes out once nothing has arrived for `pingInterval`;
   * no pong within `pongTimeout` ends the connection. A busy connection is
   * never pinged. One timer per period serves every connection.
   */
  #startTimer(): void {
    const keepalive = this.#keepalive;
    if (keepalive === undefined) return;
    this.#lastActive = performance.now();
    const period = Math.max(
      1,
      Math.min(keepalive.pingInterval, keepalive.pongTimeout ?? keepalive.pingInterval) / 4,
    );
    this.#clock = KeepaliveClock.join(this, period, SocketConnection.#tickOne);
  }

  static #tickOne = (connection: SocketConnection, now: number): void => connection.#tick(now);

  #tick(now: number): void {
    const keepalive = this.#keepalive;
    if (this.#state !== ReadyState.OPEN || keepalive === undefined) return;
    if (this.#receivedSinceCheck) {
      this.#receivedSinceCheck = false;
      this.#lastActive = now;
    }
    const pongTimeout = keepalive.pongTimeout ?? keepalive.pingInterval;
    if (this.#pongDeadline !== 0) {
      if (now < this.#pongDeadline) return;
      this.#end(() =>
        new TimeoutError("PONG_TIMEOUT", `No pong within ${pongTimeout} ms of a keepalive ping`)
      );
      return;
    }
    if (now - this.#lastActive >= keepalive.pingInterval) {
      this.#pongDeadline = now + pongTimeout;
      this.ping();
    }
  }

  /** Notes that frames were queued; returns the promise `send()` hands out. */
  #queued(): Promise<void> {
    if (!this.#flushQueued && !this.#writing) {
      this.#flushQueued = true;
      const toFlush = SocketConnection.#toFlush;
      if (toFlush.length === 0) queueMicrotask(SocketConnection.#flushAll);
      toFlush.push(this);
    }
    if (this.bufferedAmount <= this.#limits.highWaterMark) return RESOLVED;
    return (this.#batch ??= handledResolvers()).promise;
  }

  #whenDrained(callback: () => void): void {
    if (!this.#writing && !this.#flushQueued && (this.#protocol?.bufferedAmount ?? 0) === 0) {
      callback();
    } else (this.#afterDrain ??= []).push(callback);
  }

  /** The write loop: everything queued so far, in as few writes as the encoder allows. */
  async #flush(): Promise<void> {
    this.#flushQueued = false;
    const conn = this.#conn;
    const protocol = this.#protocol;
    if (this.#writing || conn === null || protocol === null || this.result !== null) return;
    if (this.#holdingForReplies) return; // #onProtocolClosed flushes when the turn is over
    this.#writing = true;
    try {
      while (true) {
        const batch = this.#batch;
        this.#batch = null;
        const chunks = protocol.dataToSend();
        if (chunks.length === 0) {
          batch?.resolve();
          break;
        }
        let total = 0;
        for (let i = 0; i < chunks.length; i++) total += chunks[i]!.length;
        this.#inFlight = total;
        for (let i = 0; i < chunks.length; i++) {
          const chunk = chunks[i]!;
          // One await in the common case; the loop only for a partial write.
          const written = await conn.write(chunk);
          if (written < chunk.length) await writeAll(conn, chunk.subarray(written));
        }
        this.#inFlight = 0;
        batch?.resolve();
      }
    } catch (error) {
      this.#inFlight = 0;
      this.#writing = false;
      if (this.result === null) this.#onTransportError(error, "Cannot write to the WebSocket");
      return;
    }
    this.#writing = false;
    const callbacks = this.#afterDrain;
    if (callbacks !== null) {
      this.#afterDrain = null;
      for (const callback of callbacks) callback();
    }
  }

  /** Closes the transport and settles every promise; runs once. */
  #teardown(info: CloseInfo, error?: Error): void {
    if (this.result !== null) return;
    this.#state = ReadyState.CLOSED;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#clock?.leave(this);
    this.#clock = null;
    this.#closeTimer = undefined;
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    const result: ConnectionCloseInfo = error === undefined || info.wasClean
      ? { ...info }
      : { ...info, error };
    if (result.error !== undefined && !(result.error instanceof ProtocolError)) {
      // A protocol error was reported when it happened.
      callSafely(this.listener.error, result.error, this.listener);
    }
    this.settle(result);
    const ended = this.endError();
    this.#batch?.reject(ended);
    this.#batch = null;
    if (this.#pings !== null) { for (const ping of this.#pings.splice(0)) ping.reject(ended); }
    this.#afterDrain = null;
    const onEnd = this.#onEnd;
    this.#onEnd = null;
    onEnd?.(this);
    if (this.#paused) {
      this.#paused = false;
      this.#readBuffer = null;
    }
  }
}

/**
 * One interval timer for every open connection whose keepalive ticks at the
 * same period, instead of one timer each; it stops when the last leaves.
 */
class KeepaliveClock {
  static readonly #clocks = new Map<number, KeepaliveClock>();
  readonly #period: number;
  readonly #tickOne: (connection: SocketConnection, now: number) => void;
  readonly #members = new Set<SocketConnection>();
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(period: number, tick: (connection: SocketConnection, now: number) => void) {
    this.#period = period;
    this.#tickOne = tick;
  }

  static join(
    connection: SocketConnection,
    period: number,
    tick: (connection: SocketConnection, now: number) => void,
  ): KeepaliveClock {
    let clock = KeepaliveClock.#clocks.get(period);
    if (clock === undefined) {
      clock = new KeepaliveClock(period, tick);
      KeepaliveClock.#clocks.set(period, clock);
    }
    clock.#members.add(connection);
    clock.#timer ??= setInterval(() => clock.#tick(), period);
    return clock;
  }

  leave(connection: SocketConnection): void {
    this.#members.delete(connection);
    if (this.#members.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    KeepaliveClock.#clocks.delete(this.#period);
  }

  #tick(): void {
    const now = performance.now();
    for (const connection of this.#members) this.#tickOne(connection, now);
  }
}

function handledResolvers(): PromiseWithResolvers<void> {
  const resolvers = Promise.withResolvers<void>();
  handled(resolvers.promise);
  return resolvers;
}
