// Copyright 2026 the Duplex authors. MIT license.
/**
 * The `Deno.serve` adapter: the {@linkcode WebSocketConnection} interface
 * over Deno's native WebSocket, for apps that stay on `Deno.serve`.
 * `upgradeWebSocket()` uses it when the request did not come through
 * Duplex's own server, so that handler code and the hub work on both.
 * Internal: the public face is server.ts.
 *
 * What Deno's socket cannot do, this cannot either: it has no receive
 * backpressure (messages queue until read), and no API to send a ping or an
 * unsolicited pong (`ping()` and `pong()` reject with `NotSupportedError`;
 * liveness comes from `Deno.upgradeWebSocket`'s `idleTimeout`).
 *
 * @module
 */

import { acceptUpgrade, CloseCode, ClosedError, PreparedMessage, ReadyState } from "./codec/mod.ts";
import { truncateReason } from "./codec/close.ts";
import { ConnectionError } from "./errors.ts";
import { BaseConnection } from "./_base_connection.ts";
import type {
  ConnectionCloseInfo,
  MessageWriter,
  MessageWriterOptions,
  SendData,
  SendMessageOptions,
  WebSocketConnection,
} from "./connection.ts";
import type { UpgradeOptions, UpgradeResult } from "./server.ts";
import { concatBytes, rejected, webSocketUrl } from "./_util.ts";

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
  #writer = false;
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
        socket.close(CloseCode.MessageTooBig, "message too big");
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
        this.markNeverOpened(error ?? new ClosedError(CloseCode.AbnormalClosure, ""));
      }
      const info: ConnectionCloseInfo = {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        closedByPeer: !this.#closing,
      };
      if (this.#terminated !== undefined) {
        info.code = CloseCode.AbnormalClosure;
        info.wasClean = false;
        info.error = this.#terminated;
      } else if (!event.wasClean) {
        // Deno's socket reports a peer gone without a close frame as code 0.
        if (info.code === 0) info.code = CloseCode.AbnormalClosure;
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

  send(data: SendData | PreparedMessage, _options?: SendMessageOptions): Promise<void> {
    // Deno's socket frames every message itself, and compresses none.
    if (data instanceof PreparedMessage) data = data.data;
    const state = this.#socket.readyState;
    if (state === WebSocket.CONNECTING) {
      return Promise.reject(
        new DOMException("Cannot send: the WebSocket is still connecting", "InvalidStateError"),
      );
    }
    if (state !== WebSocket.OPEN || this.#closing) {
      const result = this.result;
      const error = new ClosedError(
        result?.code ?? CloseCode.AbnormalClosure,
        result?.reason ?? "",
        "Cannot send: the WebSocket is closing or closed",
      );
      return rejected(error);
    }
    this.#socket.send(data as string | ArrayBufferLike | ArrayBufferView<ArrayBuffer>);
    if (this.#socket.bufferedAmount <= this.#highWaterMark) return Promise.resolve();
    return this.#drained();
  }

  writer(options: MessageWriterOptions = {}): MessageWriter {
    if (this.#writer) {
      throw new TypeError("Cannot open a message writer: another one is open on this connection");
    }
    const binary = options.binary ?? false;
    if (typeof binary !== "boolean") {
      throw new TypeError(`Cannot open a message writer: binary must be a boolean, got ${binary}`);
    }
    // Deno's socket sends whole messages only: the pieces are joined, and
    // end() sends them.
    this.#writer = true;
    const pieces: (string | Uint8Array)[] = [];
    let done = false;
    const check = (chunk: unknown): Error | undefined => {
      if (done) return new TypeError("Cannot write: the message writer has ended");
      if (binary ? !(chunk instanceof Uint8Array) : typeof chunk !== "string") {
        return new TypeError(
          `Cannot write: a ${binary ? "binary" : "text"} writer takes ${
            binary ? "Uint8Array" : "string"
          } chunks`,
        );
      }
    };
    const finish = () => {
      done = true;
      this.#writer = false;
    };
    return {
      write: (chunk) => {
        const error = check(chunk);
        if (error !== undefined) return Promise.reject(error);
        pieces.push(binary ? (chunk as Uint8Array).slice() : chunk);
        return Promise.resolve();
      },
      end: (chunk) => {
        const error = check(chunk ?? (binary ? new Uint8Array(0) : ""));
        if (error !== undefined) return Promise.reject(error);
        if (chunk !== undefined) pieces.push(chunk);
        finish();
        return this.send(binary ? concatBytes(pieces as Uint8Array[]) : pieces.join(""));
      },
      abort: (reason = "message aborted") => {
        if (done) return;
        finish();
        this.close(CloseCode.InternalError, truncateReason(reason)).catch(() => {});
      },
    };
  }

  sendPrepared(message: PreparedMessage): Promise<void> {
    // Deno's socket frames every message itself.
    return this.send(message.data);
  }

  ping(): Promise<number> {
    return rejected(
      new DOMException(
        "Cannot ping: Deno's native WebSocket has no ping API (use idleTimeout)",
        "NotSupportedError",
      ),
    );
  }

  pong(): Promise<void> {
    return rejected(
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

/**
 * upgradeWebSocket() inside a real Deno.serve handler: the same validation
 * and policy as Duplex's own server (acceptUpgrade), then Deno's socket.
 */
export function upgradeNative(request: Request, options: UpgradeOptions): UpgradeResult {
  if (options.receiveHighWaterMark !== undefined) {
    throw new TypeError(
      "Cannot upgrade: receiveHighWaterMark needs Duplex's own server; Deno's socket has no receive backpressure",
    );
  }
  if (options.clock !== undefined) {
    throw new TypeError(
      "Cannot upgrade: clock needs Duplex's own server; Deno's socket keeps its own time",
    );
  }
  // The same checks and choices as on Duplex's own server; Deno's socket
  // negotiates no extension, so compression is left out.
  const { protocol } = acceptUpgrade(request, {
    protocol: options.protocol,
    allowedOrigins: options.allowedOrigins,
  });
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
