// Copyright 2026 the Duplex authors. MIT license.
/**
 * The {@linkcode WebSocketConnection} interface over Deno's native
 * WebSocket, for apps that stay on `Deno.serve`: `upgradeWebSocket()` uses
 * it when the request did not come through Duplex's own server, so that
 * handler code and the hub work on both.
 *
 * What Deno's socket cannot do, this cannot either: it has no receive
 * backpressure (messages queue until read), and no API to send a ping or an
 * unsolicited pong (`ping()` and `pong()` reject with `NotSupportedError`;
 * liveness comes from `Deno.upgradeWebSocket`'s `idleTimeout`).
 *
 * @module
 */

import { ClosedError, ConnectionError, ReadyState } from "./codec/mod.ts";
import { BaseConnection, type ConnectionCloseInfo, type SendData } from "./connection.ts";

/** Options for {@linkcode NativeConnection}. */
export interface NativeConnectionOptions {
  /** The connection's URL. */
  url: string;
  /** The request's headers. */
  headers: Headers;
  /** `send()` resolves at once while no more than this many bytes are buffered. Default 16 KiB. */
  highWaterMark?: number;
  /** Close with 1009 when a message larger than this arrives. Default: Deno's own limit. */
  maxMessageSize?: number;
}

// How often a send over the high-water mark checks whether the socket drained
// (Deno's socket has no drain event).
const DRAIN_POLL_MS = 5;

/** A {@linkcode WebSocketConnection} over a socket from `Deno.upgradeWebSocket`. */
export class NativeConnection extends BaseConnection {
  /** The URL. */
  readonly url: string;
  /** The request's headers. */
  readonly headers: Headers;
  readonly #socket: WebSocket;
  readonly #highWaterMark: number;
  readonly #maxMessageSize: number;
  #closing = false;
  #terminated: Error | undefined;

  /**
   * Adapts a native socket.
   *
   * @param socket The socket `Deno.upgradeWebSocket` returned.
   * @param options URL, headers and limits.
   */
  constructor(socket: WebSocket, options: NativeConnectionOptions) {
    super();
    this.#socket = socket;
    this.url = options.url;
    this.headers = options.headers;
    this.#highWaterMark = options.highWaterMark ?? 16 * 1024;
    this.#maxMessageSize = options.maxMessageSize ?? Infinity;
    socket.binaryType = "arraybuffer";
    let error: Error | undefined;
    socket.addEventListener("open", () => {
      this.markOpened();
      this.listener.open?.();
    });
    socket.addEventListener("message", (event) => {
      const data = event.data;
      const message = typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer);
      if (message.length > this.#maxMessageSize) {
        socket.close(1009, "message too big");
        return;
      }
      this.deliver(message);
    });
    socket.addEventListener("error", (event) => {
      error = new ConnectionError(
        "CONNECTION_RESET",
        (event as ErrorEvent).message || "The WebSocket failed",
        { cause: (event as ErrorEvent).error },
      );
      this.listener.error?.(error);
    });
    socket.addEventListener("close", (event) => {
      if (this.readyState === ReadyState.CONNECTING) {
        this.markNeverOpened(error ?? new ClosedError(1006, ""));
      }
      const info: ConnectionCloseInfo = {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        closedByPeer: !this.#closing,
      };
      if (this.#terminated !== undefined) {
        info.code = 1006;
        info.wasClean = false;
        info.error = this.#terminated;
      } else if (!event.wasClean) {
        info.error = error ??
          new ConnectionError("CONNECTION_CLOSED", "The WebSocket closed abnormally");
      }
      this.settle(info);
    });
    if (socket.readyState === WebSocket.OPEN) this.markOpened();
  }

  get readyState(): ReadyState {
    return this.#socket.readyState as ReadyState;
  }

  get protocol(): string {
    return this.#socket.protocol;
  }

  get extensions(): string {
    return this.#socket.extensions;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  send(data: SendData): Promise<void> {
    const state = this.#socket.readyState;
    if (state === WebSocket.CONNECTING) {
      return Promise.reject(
        new DOMException("Cannot send: the WebSocket is still connecting", "InvalidStateError"),
      );
    }
    if (state !== WebSocket.OPEN || this.#closing) {
      const result = this.result;
      const error = new ClosedError(
        result?.code ?? 1006,
        result?.reason ?? "",
        "Cannot send: the WebSocket is closing or closed",
      );
      return handledRejection(error);
    }
    this.#socket.send(data as string | ArrayBufferLike | ArrayBufferView<ArrayBuffer>);
    if (this.#socket.bufferedAmount <= this.#highWaterMark) return Promise.resolve();
    return this.#drained();
  }

  ping(): Promise<number> {
    return handledRejection(
      new DOMException(
        "Cannot ping: Deno's native WebSocket has no ping API (use idleTimeout)",
        "NotSupportedError",
      ),
    );
  }

  pong(): Promise<void> {
    return handledRejection(
      new DOMException("Cannot pong: Deno's native WebSocket has no pong API", "NotSupportedError"),
    );
  }

  close(code?: number, reason?: string): Promise<ConnectionCloseInfo> {
    const state = this.#socket.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) {
      this.#closing = true;
      this.#socket.close(code, reason);
    }
    return this.closed;
  }

  /**
   * Closes at once. Deno's socket has no abort, so this starts a closing
   * handshake (1001) and reports the connection as terminated.
   */
  terminate(error?: Error): void {
    this.#closing = true;
    this.#terminated = error ?? new ConnectionError("TERMINATED", "The WebSocket was terminated");
    const state = this.#socket.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) {
      this.#socket.close(1001, "terminated");
    }
  }

  /** Waits until the socket's buffer is back under the high-water mark, or it closes. */
  #drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        if (
          this.#socket.bufferedAmount <= this.#highWaterMark ||
          this.#socket.readyState !== WebSocket.OPEN
        ) {
          resolve();
        } else {
          setTimeout(check, DRAIN_POLL_MS);
        }
      };
      setTimeout(check, DRAIN_POLL_MS);
    });
  }
}

function handledRejection<T>(error: Error): Promise<T> {
  const promise = Promise.reject(error);
  promise.catch(() => {});
  return promise;
}
