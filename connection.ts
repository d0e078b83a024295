// Copyright 2026 the Duplex authors. MIT license.
/**
 * The connection every Duplex client and server hands out: the
 * {@linkcode WebSocketConnection} interface and its options. Underneath, it
 * is the codec's `Protocol` driven over a `Deno.Conn`, or Deno's native
 * socket behind the same interface when the request came through
 * `Deno.serve`.
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

import type {
  CloseInfo,
  CompressionOptions,
  KeepaliveOptions,
  Message,
  PreparedMessage,
  ReadyState,
} from "./codec/mod.ts";

export type { CompressionOptions, KeepaliveOptions };

/** What {@linkcode WebSocketConnection.send} accepts: text, or binary data. */
export type SendData = string | ArrayBuffer | ArrayBufferView;

/**
 * A source of time and timeouts. Every deadline a connection, a server or a
 * hub keeps (keepalive pings and pong timeouts, the closing handshake, the
 * handshake and request deadlines, `receive()` timeouts, the hub's
 * backpressure grace) runs on the clock given in its options, so a test can
 * move time forward by hand (`ManualClock` in `@duplex/websocket/testing`)
 * instead of waiting for it. The default is the system's: `performance.now()`
 * and the global timers.
 *
 * @example A clock that runs twice as fast as the system's
 * ```ts
 * import type { Clock } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const fast: Clock = {
 *   now: () => performance.now() * 2,
 *   setTimeout: (callback, delay) => setTimeout(callback, delay / 2),
 *   clearTimeout: (handle) => clearTimeout(handle as number),
 * };
 * const fired = await new Promise<boolean>((resolve) => fast.setTimeout(() => resolve(true), 20));
 * assert.equal(fired, true);
 * ```
 */
export interface Clock {
  /** The time in milliseconds, on a scale that never goes back (as `performance.now()`). */
  now(): number;
  /**
   * Calls `callback` once, `delay` milliseconds from now.
   *
   * @returns A handle for {@linkcode Clock.clearTimeout}, of the clock's own kind.
   */
  setTimeout(callback: () => void, delay: number): unknown;
  /** Cancels a timeout that has not fired; a handle already fired or cleared is ignored. */
  clearTimeout(handle: unknown): void;
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
   * Negotiate permessage-deflate (RFC 7692). `true` for the defaults:
   * context takeover both ways (each side's compression window carries over
   * from message to message, so small similar messages compress well),
   * 4 KiB windows, level 6, messages from 16 bytes up; about 43 KiB per
   * connection, made on its first compressed message and freed at close.
   * See {@linkcode CompressionOptions} for the window, takeover and level
   * settings, and the README for what each costs. Default: off. (Not
   * through the `Deno.serve` adapter: Deno's own socket does not negotiate it.)
   *
   * `maxMessageSize` bounds a message's inflated size, checked as it
   * inflates; since a few kilobytes can inflate to megabytes, set it to what
   * the application needs when compression is on.
   */
  compression?: boolean | CompressionOptions;
  /**
   * The clock for the connection's deadlines: keepalive, `closeTimeout`,
   * `receive()` timeouts, `ping()` round-trip times, and (for `connect()`)
   * `handshakeTimeout`. Default: the system's. (Not through the `Deno.serve`
   * adapter: Deno's own socket keeps its own time.)
   */
  clock?: Clock;
}

/**
 * Options for one message of {@linkcode WebSocketConnection.send}.
 *
 * @example Send a token uncompressed, next to compressed chat
 * ```ts
 * import { createPair } from "@duplex/websocket/testing";
 *
 * const { client, server } = await createPair({
 *   client: { compression: true },
 *   server: { compression: true },
 * });
 * await server.send('{"type":"token","value":"s3cr3t"}', { compress: false });
 * await server.send('{"type":"message","text":"hello"}');
 * await client.expectMessage('{"type":"token","value":"s3cr3t"}');
 * await client.expectMessage('{"type":"message","text":"hello"}');
 * await client.close(1000);
 * ```
 */
export interface SendMessageOptions {
  /**
   * With permessage-deflate negotiated: `true` to compress the message
   * whatever the size threshold, `false` to send it as it is (a secret
   * next to attacker-chosen text should not share a compression window
   * with it: RFC 7692 §8). Default: by the threshold. Ignored on the
   * `Deno.serve` adapter, which negotiates no compression.
   */
  compress?: boolean;
}

/** Options for {@linkcode WebSocketConnection.writer}. */
export interface MessageWriterOptions {
  /** A binary message (chunks are bytes) rather than text (chunks are strings). Default `false`. */
  binary?: boolean;
}

/**
 * One message written piece by piece: see {@linkcode WebSocketConnection.writer}.
 * Each `write()` goes out as fragments (of at most `fragmentSize` bytes,
 * if set) while the message is being produced; `end()` finishes it.
 */
export interface MessageWriter {
  /**
   * Sends a piece of the message.
   *
   * @param chunk A string for a text message, bytes for a binary one (not
   * copied when large: leave them alone until the promise resolves).
   * @returns A promise that resolves as `send()`'s does: at once under
   * `highWaterMark`, else once written, so awaiting it is backpressure.
   * @throws {TypeError} (as a rejection) For a chunk of the wrong kind, or
   * after `end()` or `abort()`.
   */
  write(chunk: string | Uint8Array): Promise<void>;
  /**
   * Sends the last piece, if any, and ends the message. A writer that
   * wrote nothing sends an empty message.
   *
   * @returns As for `write()`.
   */
  end(chunk?: string | Uint8Array): Promise<void>;
  /**
   * Gives up on the message: the connection is closed with 1011, and the
   * peer, which has not received the message's last fragment, drops what
   * it got of it. Nothing happens after `end()`.
   *
   * @param reason Why, for the close reason (cut to fit).
   */
  abort(reason?: string): void;
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
   * Sends a message: a string as text, binary data as binary, a
   * {@linkcode PreparedMessage} as it was prepared (a server writes the
   * bytes it was framed into once; see `sendPrepared()`).
   *
   * @returns A promise that resolves at once while the buffered bytes stay
   * under `highWaterMark`, and once the frame is written otherwise; it
   * rejects with a `ClosedError` if the connection is closing or closed.
   * Binary data is not copied when large: leave it alone until then.
   * @param data The message.
   * @param options Whether to compress it (not for a prepared message,
   * which says so itself).
   */
  send(data: SendData | PreparedMessage, options?: SendMessageOptions): Promise<void>;
  /**
   * Sends a message prepared once for many connections (a broadcast): a
   * server writes the frame the message was encoded into once, compressed
   * once per compression setting; otherwise it is sent as `send()` sends.
   *
   * @returns As for `send()`.
   */
  sendPrepared(message: PreparedMessage): Promise<void>;
  /**
   * Writes one message piece by piece, for a message too large or too
   * slow to build in memory: each `write()` is sent at once as fragments,
   * with backpressure. Other sends made meanwhile wait, in order, and go
   * out after the message ends. Fragmented messages are not compressed.
   * (Through the `Deno.serve` adapter, whose socket cannot send fragments,
   * the pieces are joined and sent by `end()`, after the sends made
   * meanwhile.)
   *
   * @param options Text or binary.
   * @returns The writer.
   * @throws {TypeError} If another writer is open on this connection.
   *
   * @example Stream a file as one binary message
   * ```ts ignore
   * const writer = connection.writer({ binary: true });
   * for await (const chunk of file.readable) await writer.write(chunk);
   * await writer.end();
   * ```
   */
  writer(options?: MessageWriterOptions): MessageWriter;
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
