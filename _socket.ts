// Copyright 2026 the Duplex authors. MIT license.
// The Deno.Conn driver: one codec Protocol over one transport. It moves
// bytes and keeps time, and obeys the Protocol on every protocol decision
// (what to send, when the close frame goes, when to half-close, when the
// close deadline starts). Reading is a chain of callbacks, writing one
// coalescing loop, keepalive a shared clock (_keepalive.ts). Internal: the
// public face is connection.ts.

import {
  CloseCode,
  ClosedError,
  type CloseInfo,
  encodeUtf8,
  Keepalive,
  PreparedMessage,
  Protocol,
  type ProtocolCompression,
  ProtocolError,
  type ProtocolEvent,
  ReadyState,
  type Role,
  utf8Length,
} from "./codec/mod.ts";
import { parseRequestText } from "./codec/_head_text.ts";
import { truncateReason } from "./codec/close.ts";
import { ConnectionError, TimeoutError } from "./errors.ts";
import { BaseConnection, callSafely } from "./_base_connection.ts";
import type {
  Clock,
  ConnectionCloseInfo,
  ConnectionOptions,
  MessageWriter,
  MessageWriterOptions,
  SendData,
  SendMessageOptions,
} from "./connection.ts";
import { KeepaliveClock } from "./_keepalive.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";
import {
  closeQuietly,
  handled,
  handledResolvers,
  rejected,
  transportError,
  viewOf,
  writeAll,
} from "./_util.ts";

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
// The most bytes decoded in one Protocol.receive() call (see #receive).
const RECEIVE_SLICE = 4 * 1024;
// Events from one slice that mean small frames: keep slicing.
const MANY_EVENTS = 32;
// The longest a turn of the event loop spends decoding what connections
// read, in milliseconds: past it, the rest waits for the next turn (see
// #receive). Writes, timers and other connections' reads go meanwhile.
const TURN_BUDGET = 10;

const EMPTY = new Uint8Array(0);
const WHOLE = Object.freeze({ fin: true });
const FRAGMENT = Object.freeze({ fin: false });
const COMPRESS = Object.freeze({ fin: true, compress: true });
const DO_NOT_COMPRESS = Object.freeze({ fin: true, compress: false });

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
  readonly clock: Clock;
}

const DEFAULT_LIMITS: Limits = Object.freeze({
  maxMessageSize: undefined,
  maxFragments: undefined,
  fragmentSize: undefined,
  closeTimeout: 5_000,
  highWaterMark: 16 * 1024,
  receiveHighWaterMark: 1024 * 1024,
  clock: SYSTEM_CLOCK,
});

function limitsOf(options: ConnectionOptions): Limits {
  const { maxMessageSize, maxFragments, fragmentSize, closeTimeout } = options;
  const { highWaterMark, receiveHighWaterMark, clock } = options;
  if (
    maxMessageSize === undefined && maxFragments === undefined && fragmentSize === undefined &&
    closeTimeout === undefined && highWaterMark === undefined &&
    receiveHighWaterMark === undefined && clock === undefined
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
    clock: clock ?? SYSTEM_CLOCK,
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
  #url: string;

  readonly #limits: Limits;

  #protocol: Protocol | null = null;
  // A compression session agreed for a connection not yet open.
  #reserved: ProtocolCompression | null = null;
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
  // Read bytes not decoded yet: this turn's budget ran out (see #receive).
  #pendingInput: Uint8Array | null = null;

  // Sending: the promise for bytes queued but not yet taken, and the bytes being written.
  #batch: PromiseWithResolvers<void> | null = null;
  #sending: PromiseWithResolvers<void> | null = null;
  #flushQueued = false;
  // Replies held while a pull consumer works through queued messages (see #queued).
  #flushDeferred = false;
  #writing = false;
  // The open message writer, and the sends that wait for its message to end.
  #writer: MessageWriter | null = null;
  #held: (() => void)[] | null = null;
  #heldBytes = 0;
  #inFlight = 0;
  #written = 0;
  #onEnd: ((connection: SocketConnection) => void) | null = null;

  // Closing.
  #error: Error | undefined;
  // The Protocol holds the close frame it owes (holdCloseReply) until the
  // application has taken the messages before it: then this is set, and
  // onDrained() lets it go.
  #releaseWhenTaken = false;
  #closeTimer: unknown;

  // Pings and keepalive (ticked by a clock shared with every connection of the same period).
  #pings: PendingPing[] | null = null;
  #pingCount = 0;
  #alive: Keepalive | null;
  #clock: KeepaliveClock | null = null;

  // Connections with frames to write, flushed together in one microtask.
  static #toFlush: SocketConnection[] = [];
  static #spare: SocketConnection[] = [];

  // Connections whose next read waits for that microtask: a reply's write
  // goes out before the read after it is started.
  static #toRead: SocketConnection[] = [];
  static #spareReaders: SocketConnection[] = [];

  // Work for the next macrotask, under one timer: replies held for a pull
  // consumer that stopped mid-queue (see #queued), then input left over by
  // a turn that spent its budget (see #receive).
  static #deferred: SocketConnection[] = [];
  static #stalled: SocketConnection[] = [];
  static #laterTimer: ReturnType<typeof setTimeout> | undefined;
  // When this turn began decoding; -1 between turns.
  static #turnStart = -1;

  static #later(): void {
    SocketConnection.#laterTimer ??= setTimeout(SocketConnection.#runLater, 0);
  }

  static #runLater(): void {
    SocketConnection.#laterTimer = undefined;
    const deferred = SocketConnection.#deferred;
    SocketConnection.#deferred = [];
    for (let i = 0; i < deferred.length; i++) deferred[i]!.#releaseFlush();
    const stalled = SocketConnection.#stalled;
    SocketConnection.#stalled = [];
    for (let i = 0; i < stalled.length; i++) stalled[i]!.#resumeInput();
  }

  static #endTurn(): void {
    SocketConnection.#turnStart = -1;
  }

  /** Whether this turn has spent its decoding budget; the first call starts the turn's clock. */
  static #overBudget(): boolean {
    const now = performance.now();
    if (SocketConnection.#turnStart < 0) {
      SocketConnection.#turnStart = now;
      // Queued behind every read completion of this turn: it runs once they have.
      queueMicrotask(SocketConnection.#endTurn);
      return false;
    }
    return now - SocketConnection.#turnStart > TURN_BUDGET;
  }

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
    this.#url = options.url;
    this.#limits = limitsOf(options);
    this.#alive = options.keepalive === undefined
      ? null
      : new Keepalive(options.keepalive, this.#limits.clock.now());
  }

  protected override get clock(): Clock {
    return this.#limits.clock;
  }

  /** The URL: where the handshake went, after any redirect. */
  get url(): string {
    return this.#url;
  }

  /**
   * A redirect was followed: the URL is now `url`.
   *
   * @param url Where the handshake goes now.
   */
  redirected(url: string): void {
    this.#url = url;
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
    return (this.#protocol?.bufferedAmount ?? 0) + this.#inFlight + this.#heldBytes;
  }

  /** Bytes handed to the transport so far: how the hub tells a slow peer from a stalled one. */
  get bytesWritten(): number {
    return this.#written;
  }

  /**
   * Opens the connection over `conn` once the handshake is done.
   *
   * @param conn The transport.
   * @param leftover Bytes read past the handshake: the first frames.
   * @param info What the handshake settled.
   */
  open(conn: Deno.Conn, leftover: Uint8Array, info: OpenInfo): void {
    try {
      this.#open(conn, leftover, info);
    } catch (error) {
      // Something the application supplied failed (a clock, say): the
      // connection ends at once, so that no one waits on it forever.
      const reason = error instanceof Error ? error : new Error(String(error));
      if (this.#state === ReadyState.CONNECTING) {
        closeQuietly(conn);
        this.fail(reason);
      } else {
        this.terminate(reason);
      }
    }
  }

  #open(conn: Deno.Conn, leftover: Uint8Array, info: OpenInfo): void {
    this.#reserved = null;
    if (this.#state !== ReadyState.CONNECTING) {
      info.compression?.compressor.close?.();
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
      // The close frame owed to the peer waits until the application has
      // taken the messages that came before it (see #onProtocolClosed).
      holdCloseReply: true,
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
   * Holds the permessage-deflate session agreed for this connection until
   * it opens (its Protocol then owns it); if it never opens, the session's
   * state is freed when it ends.
   *
   * @param compression The agreed session.
   */
  reserve(compression: ProtocolCompression): void {
    this.#reserved = compression;
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
    this.#teardown({
      code: CloseCode.AbnormalClosure,
      reason: "",
      wasClean: false,
      closedByPeer: false,
    }, error);
  }

  send(data: SendData | PreparedMessage, options?: SendMessageOptions): Promise<void> {
    if (this.#writer !== null) {
      if (typeof data === "string") {
        return this.#hold(() => this.send(data, options), utf8Length(data));
      }
      if (data instanceof PreparedMessage) {
        return this.#hold(() => this.send(data), data.payload.length);
      }
      // A copy: the caller may reuse its buffer once send() returns, as it may
      // when the bytes are framed at once.
      const copy = viewOf(data).slice();
      return this.#hold(() => this.send(copy, options), copy.length);
    }
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("send"));
    const flags = options?.compress === undefined
      ? WHOLE
      : options.compress
      ? COMPRESS
      : DO_NOT_COMPRESS;
    if (typeof data === "string") protocol.sendText(data, flags);
    else if (data instanceof PreparedMessage) protocol.sendPrepared(data);
    else protocol.sendBinary(viewOf(data), flags);
    return this.#queued(true);
  }

  sendPrepared(message: PreparedMessage): Promise<void> {
    if (this.#writer !== null) {
      return this.#hold(() => this.sendPrepared(message), message.payload.length);
    }
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("send"));
    protocol.sendPrepared(message);
    return this.#queued(true);
  }

  writer(options: MessageWriterOptions = {}): MessageWriter {
    if (this.#writer !== null) {
      throw new TypeError("Cannot open a message writer: another one is open on this connection");
    }
    const binary = options.binary ?? false;
    if (typeof binary !== "boolean") {
      throw new TypeError(`Cannot open a message writer: binary must be a boolean, got ${binary}`);
    }
    const writer = new SocketConnection.#Writer(this, binary);
    this.#writer = writer;
    return writer;
  }

  /**
   * A send made while a writer is open: it waits for the message to end,
   * and its `size` bytes count in `bufferedAmount` meanwhile.
   */
  #hold(send: () => Promise<void>, size: number): Promise<void> {
    this.#heldBytes += size;
    return new Promise<void>((resolve, reject) => {
      (this.#held ??= []).push(() => {
        this.#heldBytes -= size;
        send().then(resolve, reject);
      });
    });
  }

  /** The writer is done: the sends held meanwhile go, in order. */
  #writerDone(): void {
    this.#writer = null;
    const held = this.#held;
    this.#held = null;
    if (held === null) return;
    for (let i = 0; i < held.length && this.#writer === null; i++) held[i]!();
  }

  static readonly #Writer = class Writer implements MessageWriter {
    #done = false;
    // A high surrogate at the end of a text chunk, waiting for its pair.
    #surrogate = "";

    constructor(readonly connection: SocketConnection, readonly binary: boolean) {}

    write(chunk: string | Uint8Array): Promise<void> {
      return this.#send(chunk, false);
    }

    end(chunk?: string | Uint8Array): Promise<void> {
      return this.#send(chunk ?? (this.binary ? EMPTY : ""), true);
    }

    abort(reason = "message aborted"): void {
      if (this.#done) return;
      this.#done = true;
      const connection = this.connection;
      const protocol = connection.#openProtocol();
      // RFC 6455 §7.4.1: 1011, "an unexpected condition that prevented it
      // from fulfilling the request". A close frame between fragments ends
      // the message unfinished: no peer may take it as whole.
      if (protocol !== null) {
        connection.close(CloseCode.InternalError, truncateReason(reason)).catch(() => {});
      }
      connection.#writerDone();
    }

    #send(chunk: string | Uint8Array, fin: boolean): Promise<void> {
      const connection = this.connection;
      if (this.#done) {
        return rejected(new TypeError("Cannot write: the message writer has ended"));
      }
      if (this.binary ? !(chunk instanceof Uint8Array) : typeof chunk !== "string") {
        return rejected(
          new TypeError(
            `Cannot write: a ${this.binary ? "binary" : "text"} writer takes ${
              this.binary ? "Uint8Array" : "string"
            } chunks`,
          ),
        );
      }
      const protocol = connection.#openProtocol();
      if (protocol === null) {
        this.#done = true;
        connection.#writerDone();
        return rejected(connection.#notOpen("write"));
      }
      const flags = fin ? WHOLE : FRAGMENT;
      if (this.binary) {
        const bytes = chunk as Uint8Array;
        if (bytes.length === 0 && !fin) return RESOLVED;
        protocol.sendBinary(bytes, flags);
      } else {
        let text = this.#surrogate + (chunk as string);
        this.#surrogate = "";
        const last = text.charCodeAt(text.length - 1);
        if (!fin && last >= 0xd800 && last <= 0xdbff) {
          this.#surrogate = text.slice(-1);
          text = text.slice(0, -1);
        }
        if (text.length === 0 && !fin) return RESOLVED;
        protocol.sendText(text, flags);
      }
      const sent = connection.#queued();
      if (fin) {
        this.#done = true;
        connection.#writerDone();
      }
      return sent;
    }
  };

  ping(data?: Uint8Array | string): Promise<number> {
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("ping"));
    let payload: Uint8Array;
    if (data === undefined) {
      // A payload of our own, so that the pong can be matched to this ping.
      payload = new Uint8Array(8);
      new DataView(payload.buffer).setFloat64(0, ++this.#pingCount);
    } else {
      payload = typeof data === "string" ? encodeUtf8(data) : data.slice();
    }
    protocol.ping(payload); // throws RangeError over 125 bytes
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    (this.#pings ??= []).push({ payload, sentAt: this.#limits.clock.now(), resolve, reject });
    this.#queued();
    return handled(promise);
  }

  pong(data?: Uint8Array | string): Promise<void> {
    const protocol = this.#openProtocol();
    if (protocol === null) return rejected(this.#notOpen("pong"));
    protocol.pong(data);
    return this.#queued();
  }

  close(code?: number, reason?: string): Promise<ConnectionCloseInfo> {
    if (this.#state === ReadyState.CONNECTING) {
      this.fail(
        new ClosedError(CloseCode.AbnormalClosure, "", "The WebSocket was closed before it opened"),
      );
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
   * Closes with `code` at once, for a peer that does not read: what was
   * queued and not yet handed to the socket is dropped, so the close frame
   * waits only behind the write in progress. Sends waiting on backpressure
   * reject with `ClosedError`: their messages were dropped. For the hub's
   * slow-consumer policy.
   */
  closeDiscarding(code: number, reason: string): Promise<ConnectionCloseInfo> {
    const protocol = this.#openProtocol();
    if (protocol === null || this.result !== null || this.#state !== ReadyState.OPEN) {
      return this.close(code, reason);
    }
    protocol.closeDiscarding(code, reason);
    const batch = this.#batch;
    this.#batch = null;
    batch?.reject(
      new ClosedError(
        code,
        reason,
        "Cannot send: the connection was closed and the message dropped",
      ),
    );
    this.#state = ReadyState.CLOSING;
    this.#startCloseTimer();
    this.#queued();
    return this.closed;
  }

  /**
   * Resolves once every byte queued so far has been handed to the socket
   * (at once when nothing is queued), or when the connection ends.
   */
  written(): Promise<void> {
    if (this.result !== null || this.bufferedAmount === 0) return RESOLVED;
    this.#queued();
    const batch = this.#batch ??= handledResolvers();
    return batch.promise.catch(() => {});
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

  terminate(error?: Error): void {
    const reason = error ?? new ConnectionError("TERMINATED", "The WebSocket was terminated");
    if (this.#state === ReadyState.CONNECTING) {
      this.fail(reason);
      return;
    }
    this.#abort(reason);
  }

  protected override onWaiting(): void {
    if (this.#flushDeferred) this.#releaseFlush();
  }

  protected override onDrained(): void {
    if (this.#releaseWhenTaken && !this.hasQueued()) {
      this.#releaseWhenTaken = false;
      this.#releaseCloseAfterTurn();
    }
    if (this.#paused && this.queuedBytes < this.#limits.receiveHighWaterMark) {
      this.#paused = false;
      this.#read();
    }
  }

  /** The protocol if messages may be sent, else null. */
  #openProtocol(): Protocol | null {
    const protocol = this.#protocol;
    if (protocol === null || this.result !== null) return null;
    // Open, or owing the peer a close frame, which replies to earlier
    // messages may still go ahead of (see #onProtocolClosed).
    return protocol.canSend ? protocol : null;
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
      info?.code ?? CloseCode.AbnormalClosure,
      info?.reason ?? "",
      `Cannot ${what}: the WebSocket is closing or closed`,
    );
  }

  /** Starts reading: `leftover` holds what came in with the handshake, the first frames. */
  #startReading(leftover: Uint8Array): void {
    this.#readBuffer = new Uint8Array(READ_SIZES[0]!);
    if (leftover.length > 0) {
      try {
        if (!this.#receive(leftover)) return;
      } catch (error) {
        this.#onReadError(error);
        return;
      }
    }
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
      this.#alive?.activity();
      if (this.#direct) {
        this.#direct = false;
        this.#handleEvents(this.#protocol!, this.#protocol!.receiveWritten(result));
      } else {
        const buffer = this.#readBuffer!;
        this.#resizeReadBuffer(result, buffer.length);
        // The rest waits for the next turn: read again once it is decoded.
        if (!this.#receive(buffer.subarray(0, result))) return;
      }
    } catch (error) {
      this.#onReadError(error);
      return;
    }
    this.#readNext();
  };

  /** Reads on; replies to what was just read are about to be written: after that. */
  #readNext(): void {
    if (this.#flushQueued) SocketConnection.#toRead.push(this);
    else this.#read();
  }

  /** Decodes what waited for this turn, then reads on. */
  #resumeInput(): void {
    const bytes = this.#pendingInput;
    this.#pendingInput = null;
    if (bytes === null || this.result !== null) return;
    try {
      if (!this.#receive(bytes)) return;
    } catch (error) {
      this.#onReadError(error);
      return;
    }
    this.#readNext();
  }

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

  /**
   * Decodes what was read and handles its events. Returns `false` if this
   * turn of the event loop has spent its decoding budget first: the rest is
   * kept, and decoded in a later turn, before this connection reads again.
   * A burst to a hub (every client's read, each message broadcast to every
   * client) is then handled a budget at a time, with writes, timers and the
   * other connections' turns in between, rather than in one turn that holds
   * every reply unwritten and starves everything else.
   */
  #receive(bytes: Uint8Array): boolean {
    if (SocketConnection.#overBudget()) {
      this.#stash(bytes);
      return false;
    }
    const protocol = this.#protocol!;
    if (bytes.length <= RECEIVE_SLICE) {
      this.#handleEvents(protocol, protocol.receive(bytes));
      return true;
    }
    // A large read of small frames is decoded in slices, each one's events
    // handled before the next is decoded: a 256 KiB read of empty pings
    // would otherwise hold 43,000 events and their payloads at once, long
    // enough for the garbage collector to promote them (+150 MB RSS per
    // million pings). A slice that brings few events means large frames:
    // the rest goes in one call, as slicing them only adds copies.
    let at = 0;
    let size = RECEIVE_SLICE;
    while (at < bytes.length && this.result === null) {
      if (at > 0 && SocketConnection.#overBudget()) {
        this.#stash(bytes.subarray(at));
        return false;
      }
      const events = protocol.receive(bytes.subarray(at, at + size));
      at += size;
      if (events.length < MANY_EVENTS) size = bytes.length;
      this.#handleEvents(protocol, events);
    }
    return true;
  }

  /** Keeps `bytes` for a later turn (see #receive). */
  #stash(bytes: Uint8Array): void {
    this.#pendingInput = bytes;
    SocketConnection.#stalled.push(this);
    SocketConnection.#later();
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
    // sends: flushing here at once lowers latency a little, but pipelined
    // peers then fall into one write per message, which costs far more
    // (bench/RESULTS.md, "Design measurements").
    if (protocol.bufferedAmount > 0) this.#queued();
  }

  #onPong(data: Uint8Array): void {
    const pings = this.#pings;
    const index = pings === null ? -1 : pings.findIndex((ping) => sameBytes(ping.payload, data));
    if (pings !== null && index >= 0) {
      // A pong answers its ping and every ping sent before it (RFC 6455
      // §5.5.3: a peer may answer only the most recent one).
      const now = this.#limits.clock.now();
      for (const ping of pings.splice(0, index + 1)) ping.resolve(now - ping.sentAt);
    }
    this.#alive?.pong();
    callSafely(this.listener.pong, data, this.listener);
  }

  /**
   * The protocol reached CLOSED. The close deadline starts; a close frame
   * the protocol owes the peer goes once the application has had its turn:
   * after a failure, one turn of the event loop (every pending reaction
   * runs first) to answer the messages delivered before the violation;
   * after the peer's close, once the messages before it have been taken,
   * then a turn (RFC 6455 §5.5.1 allows the delay; `closeTimeout` bounds it).
   */
  #onProtocolClosed(): void {
    this.#state = ReadyState.CLOSING;
    this.#startCloseTimer();
    if (!this.#protocol!.closeHeld) {
      this.#queued();
    } else if (this.#error === undefined && this.hasQueued()) {
      this.#releaseWhenTaken = true;
    } else {
      this.#releaseCloseAfterTurn();
    }
  }

  #releaseCloseAfterTurn(): void {
    setTimeout(() => {
      if (this.result !== null) return;
      this.#protocol!.releaseClose();
      this.#queued();
    }, 0);
  }

  /** The peer closed the transport: a clean end if the closing handshake is over, else a 1006. */
  #onEof(): void {
    const protocol = this.#protocol!;
    if (protocol.state === ReadyState.CLOSED) {
      this.#finish();
      return;
    }
    protocol.receiveEof();
    this.#teardown(
      protocol.closeInfo!,
      new ConnectionError(
        "CONNECTION_CLOSED",
        "The peer closed the connection without a close frame",
      ),
    );
  }

  /**
   * This end gives up on the transport (terminate(), a deadline): a clean
   * end if the closing handshake is over, else a 1006 with `error`.
   */
  #abort(error: Error): void {
    const protocol = this.#protocol!;
    if (protocol.state === ReadyState.CLOSED) {
      this.#finish();
      return;
    }
    protocol.abort();
    this.#teardown(protocol.closeInfo!, error);
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

  /** Starts the close deadline once the protocol expects the transport to close. */
  #startCloseTimer(): void {
    if (this.#closeTimer !== undefined || !this.#protocol!.closeExpected()) return;
    this.#closeTimer = this.#limits.clock.setTimeout(() => {
      this.#closeTimer = undefined;
      // Clean if the handshake completed and the peer only kept TCP open.
      this.#abort(
        new TimeoutError(
          "CLOSE_TIMEOUT",
          `The closing handshake took longer than ${this.#limits.closeTimeout} ms`,
        ),
      );
    }, this.#limits.closeTimeout);
  }

  /** Keepalive: joins the clock shared by every connection of the same period. */
  #startTimer(): void {
    if (this.#alive !== null) {
      this.#clock = KeepaliveClock.join(this, this.#alive.period, this.#limits.clock);
    }
  }

  /** For the keepalive clock: ping a quiet peer, give up on a silent one. */
  keepaliveTick(now: number): void {
    const alive = this.#alive;
    if (this.#state !== ReadyState.OPEN || alive === null) return;
    const action = alive.check(now);
    if (action === "ping") {
      this.ping();
    } else if (action === "timeout") {
      this.#abort(
        new TimeoutError(
          "PONG_TIMEOUT",
          `No pong within ${alive.pongTimeout} ms of a keepalive ping`,
        ),
      );
    }
  }

  /**
   * Notes that frames were queued; returns the promise `send()` hands out.
   *
   * They are written in a microtask, with whatever else this turn queues.
   * A reply (`mayDefer`) made while a pull consumer (`for await`,
   * `receive()`) still has messages queued waits instead until it has taken
   * them all: its next send with none left, or its next wait for a message,
   * lets every reply go in one write. Without this, `for await (const m of
   * connection) await connection.send(m)` wrote once per message, because
   * the flush's microtask runs before the loop's next turn. The wait ends at
   * once past `highWaterMark`, and after one macrotask if the consumer stops
   * mid-queue to wait on something else.
   */
  #queued(mayDefer = false): Promise<void> {
    if (!this.#flushQueued && !this.#writing) {
      if (
        mayDefer && this.hasQueued() && this.listener.message === undefined &&
        this.bufferedAmount <= this.#limits.highWaterMark
      ) {
        if (!this.#flushDeferred) {
          this.#flushDeferred = true;
          SocketConnection.#deferred.push(this);
          SocketConnection.#later();
        }
        return RESOLVED;
      }
      this.#flushDeferred = false;
      this.#flushQueued = true;
      const toFlush = SocketConnection.#toFlush;
      if (toFlush.length === 0) queueMicrotask(SocketConnection.#flushAll);
      toFlush.push(this);
    }
    if (this.bufferedAmount <= this.#limits.highWaterMark) return RESOLVED;
    return (this.#batch ??= handledResolvers()).promise;
  }

  /** Writes the replies held for a pull consumer (see #queued). */
  #releaseFlush(): void {
    if (!this.#flushDeferred) return;
    this.#flushDeferred = false;
    if (this.result === null) this.#queued();
  }

  /** The write loop: everything queued so far, in as few writes as the encoder allows. */
  async #flush(): Promise<void> {
    this.#flushQueued = false;
    const conn = this.#conn;
    const protocol = this.#protocol;
    if (this.#writing || conn === null || protocol === null || this.result !== null) return;
    this.#writing = true;
    try {
      while (true) {
        // The batch being written stays where teardown rejects it, should the
        // write never finish (terminate(), a deadline, the peer gone).
        const batch = this.#sending = this.#batch;
        this.#batch = null;
        const chunks = protocol.dataToSend();
        if (chunks.length === 0) {
          this.#sending = null;
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
          this.#written += chunk.length;
        }
        this.#inFlight = 0;
        this.#sending = null;
        batch?.resolve();
      }
    } catch (error) {
      this.#inFlight = 0;
      this.#writing = false;
      // The teardown (now, or before the write failed) settled the batch.
      if (this.result === null) this.#onTransportError(error, "Cannot write to the WebSocket");
      return;
    }
    this.#writing = false;
    // Everything is written: half-close if the protocol says so (RFC 6455
    // §7.1.1); the read loop then sees the peer's EOF, or the close timer fires.
    if (protocol.takeEof()) conn.closeWrite().catch(() => this.#finish());
  }

  /** Closes the transport and settles every promise; runs once. */
  #teardown(info: CloseInfo, error?: Error): void {
    if (this.result !== null) return;
    this.#state = ReadyState.CLOSED;
    if (this.#closeTimer !== undefined) this.#limits.clock.clearTimeout(this.#closeTimer);
    this.#reserved?.compressor.close?.();
    this.#reserved = null;
    this.#clock?.leave(this);
    this.#clock = null;
    this.#closeTimer = undefined;
    closeQuietly(this.#conn);
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
    this.#sending?.reject(ended);
    this.#sending = null;
    if (this.#pings !== null) { for (const ping of this.#pings.splice(0)) ping.reject(ended); }
    // Sends held for a writer that never ended: they fail as any send now would.
    if (this.#held !== null) this.#writerDone();
    const onEnd = this.#onEnd;
    this.#onEnd = null;
    onEnd?.(this);
    if (this.#paused) {
      this.#paused = false;
      this.#readBuffer = null;
    }
  }
}
