// Copyright 2026 the Duplex authors. MIT license.
/**
 * A WHATWG-compatible `WebSocket` on Duplex's core: code written for the
 * browser or Deno's global `WebSocket` runs unchanged, with Duplex's
 * validation, limits and typed errors underneath, and the richer
 * {@linkcode WebSocketConnection} one property away.
 *
 * @module
 */

import { type Message, ReadyState, utf8Length } from "./codec/mod.ts";
import { type ConnectOptions, startClient } from "./_client.ts";
import { checkConnectOptions } from "./_options.ts";
import type { ConnectionCloseInfo, ConnectionListener, WebSocketConnection } from "./connection.ts";
import { Adoption } from "./_adopt.ts";

/** Options for the {@linkcode WebSocket} constructor: Deno's, plus all of `connect()`'s. */
export interface WebSocketOptions extends Omit<ConnectOptions, "protocols"> {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | string[];
}

/**
 * A WebSocket with the WHATWG interface: `onopen`, `onmessage`, `onclose`,
 * `onerror`, `addEventListener`, `binaryType`, `send`, `close`, `readyState`,
 * `bufferedAmount`. The constructor also takes Deno's and Duplex's options,
 * such as `headers`, `caCerts` and `maxMessageSize`.
 *
 * Errors follow the standard: an invalid URL or subprotocol throws a
 * `SyntaxError` `DOMException`, `send()` while connecting throws an
 * `InvalidStateError`, and a failure fires `error` then `close` with code
 * 1006. The `error` event is an `ErrorEvent` whose `error` is the typed
 * Duplex error (a `HandshakeError` with the refusal's status, a
 * `ProtocolError`, a `ConnectionError`…).
 *
 * @example
 * ```ts ignore
 * import { WebSocket } from "@duplex/websocket";
 *
 * const socket = new WebSocket("wss://example.com/chat", { headers: { authorization: "Bearer t0ken" } });
 * socket.onopen = () => socket.send("hello");
 * socket.onmessage = (event) => console.log(event.data);
 * socket.onclose = (event) => console.log(event.code, event.reason);
 * ```
 */
export class WebSocket extends EventTarget {
  /** The state before the connection opens. */
  static readonly CONNECTING = 0;
  /** The state in which messages flow. */
  static readonly OPEN = 1;
  /** The state while the closing handshake runs. */
  static readonly CLOSING = 2;
  /** The state after the connection closed. */
  static readonly CLOSED = 3;
  /** The state before the connection opens. */
  readonly CONNECTING = 0;
  /** The state in which messages flow. */
  readonly OPEN = 1;
  /** The state while the closing handshake runs. */
  readonly CLOSING = 2;
  /** The state after the connection closed. */
  readonly CLOSED = 3;

  /** The richer API underneath: awaited sends, pings with round-trip times, streams. */
  readonly connection: WebSocketConnection;

  #url: string;
  // MessageEvent.origin: the same for every message, so computed once, when first needed.
  #origin: string | null = null;
  #binaryType: BinaryType;
  #discarded = 0;
  #pendingBlobBytes = 0;
  #sendChain: Promise<void> | null = null;
  #closeRequested = false;
  // The on* handlers, made when one is first set.
  #handlers: Map<string, EventListener> | null = null;

  /**
   * Opens a connection to `url`.
   *
   * @param url A `ws:`, `wss:`, `http:` or `https:` URL.
   * @param protocolsOrOptions Subprotocols, or options.
   * @throws {DOMException} `SyntaxError` for an invalid URL or subprotocol.
   */
  constructor(url: string | URL, protocolsOrOptions?: string | string[] | WebSocketOptions) {
    super();
    if (protocolsOrOptions instanceof Adoption) {
      this.connection = protocolsOrOptions.connection;
      this.#binaryType = protocolsOrOptions.binaryType;
      this.#url = this.connection.url;
    } else {
      const options: ConnectOptions =
        typeof protocolsOrOptions === "string" || Array.isArray(protocolsOrOptions)
          ? { protocols: protocolsOrOptions }
          : { ...protocolsOrOptions };
      // A bad option is the RangeError or TypeError it is, not a DOMException.
      checkConnectOptions(options, "create WebSocket");
      try {
        this.connection = startClient(url, options);
      } catch (error) {
        throw new DOMException(
          (error as Error).message,
          error instanceof SyntaxError ? "SyntaxError" : "TypeError",
        );
      }
      this.#binaryType = "blob";
      this.#url = this.connection.url;
    }
    const connection = this.connection;
    connection.listen(new WebSocket.#Listener(this));
    if (connection.readyState === ReadyState.OPEN) {
      // Adopted after it opened: announce it once listeners can be attached.
      queueMicrotask(() => this.dispatchEvent(new Event("open")));
    }
  }

  /** The URL, as resolved. */
  get url(): string {
    return this.#url;
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
  get readyState(): number {
    return this.connection.readyState;
  }

  /** Bytes queued by `send()` and not yet written, plus those sent after closing. */
  get bufferedAmount(): number {
    return this.connection.bufferedAmount + this.#pendingBlobBytes + this.#discarded;
  }

  /** The subprotocol the server chose; empty if none. */
  get protocol(): string {
    return this.connection.protocol;
  }

  /** The extensions the server accepted; empty if none. */
  get extensions(): string {
    return this.connection.extensions;
  }

  /** How binary messages are delivered: `"blob"` or `"arraybuffer"`. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // WHATWG: other values are ignored.
    if (value === "blob" || value === "arraybuffer") this.#binaryType = value;
  }

  /** Called on `open`. */
  get onopen(): ((this: WebSocket, event: Event) => unknown) | null {
    return this.#getHandler("open") as ((this: WebSocket, event: Event) => unknown) | null;
  }
  set onopen(handler: ((this: WebSocket, event: Event) => unknown) | null) {
    this.#setHandler("open", handler);
  }
  /** Called on `message`. */
  get onmessage(): ((this: WebSocket, event: MessageEvent) => unknown) | null {
    return this.#getHandler("message") as
      | ((this: WebSocket, event: MessageEvent) => unknown)
      | null;
  }
  set onmessage(handler: ((this: WebSocket, event: MessageEvent) => unknown) | null) {
    this.#setHandler("message", handler);
  }
  /** Called on `close`. */
  get onclose(): ((this: WebSocket, event: CloseEvent) => unknown) | null {
    return this.#getHandler("close") as ((this: WebSocket, event: CloseEvent) => unknown) | null;
  }
  set onclose(handler: ((this: WebSocket, event: CloseEvent) => unknown) | null) {
    this.#setHandler("close", handler);
  }
  /** Called on `error`. */
  get onerror(): ((this: WebSocket, event: Event) => unknown) | null {
    return this.#getHandler("error") as ((this: WebSocket, event: Event) => unknown) | null;
  }
  set onerror(handler: ((this: WebSocket, event: Event) => unknown) | null) {
    this.#setHandler("error", handler);
  }

  /**
   * Sends a message. Data sent after `close()` is discarded, as the
   * standard says, and counted in `bufferedAmount`.
   *
   * @param data Text, binary data, or a Blob.
   * @throws {DOMException} `InvalidStateError` while connecting.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    const state = this.readyState;
    if (state === ReadyState.CONNECTING) {
      throw new DOMException("Cannot send: the WebSocket is still connecting", "InvalidStateError");
    }
    if (state !== ReadyState.OPEN || this.#closeRequested) {
      this.#discarded += typeof data === "string"
        ? utf8Length(data)
        : data instanceof Blob
        ? data.size
        : data.byteLength;
      return;
    }
    if (data instanceof Blob || this.#sendChain !== null) {
      // A Blob is read asynchronously; later sends wait for it to keep order.
      const size = typeof data === "string"
        ? utf8Length(data)
        : data instanceof Blob
        ? data.size
        : data.byteLength;
      this.#pendingBlobBytes += size;
      const previous = this.#sendChain ?? Promise.resolve();
      const next = previous.then(async () => {
        const bytes = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : data;
        this.#pendingBlobBytes -= size;
        if (this.connection.readyState === ReadyState.OPEN) await this.#sendNow(bytes);
        else this.#discarded += size;
      });
      this.#sendChain = next;
      next.then(() => {
        if (this.#sendChain === next) this.#sendChain = null;
      }, () => {});
      return;
    }
    this.#sendNow(data);
  }

  #sendNow(data: string | ArrayBufferLike | ArrayBufferView): Promise<void> {
    const payload = typeof data === "string" || ArrayBuffer.isView(data)
      ? data
      : new Uint8Array(data);
    return this.connection.send(payload).catch(() => {
      // Failures surface as error and close events.
    });
  }

  /**
   * Starts the closing handshake.
   *
   * @param code 1000 or 3000–4999.
   * @param reason At most 123 bytes of UTF-8.
   * @throws {DOMException} `InvalidAccessError` for another code,
   * `SyntaxError` for a longer reason.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(
        `Cannot close: ${code} is neither 1000 nor in 3000-4999`,
        "InvalidAccessError",
      );
    }
    if (reason !== undefined && utf8Length(reason) > 123) {
      throw new DOMException("Cannot close: the reason is longer than 123 bytes", "SyntaxError");
    }
    const state = this.readyState;
    if (state === ReadyState.CLOSING || state === ReadyState.CLOSED || this.#closeRequested) return;
    this.#closeRequested = true;
    if (this.#sendChain !== null) {
      // Let pending Blob sends go first.
      this.#sendChain.finally(() =>
        this.connection.close(code ?? (reason ? 1000 : undefined), reason ?? "")
      );
    } else {
      this.connection.close(code ?? (reason ? 1000 : undefined), reason ?? "");
    }
  }

  #onMessage(data: Message): void {
    // WHATWG: messages that arrive once closing has begun are not delivered.
    if (this.readyState !== ReadyState.OPEN || this.#closeRequested) return;
    let payload: string | ArrayBuffer | Blob;
    if (typeof data === "string") {
      payload = data;
    } else if (this.#binaryType === "blob") {
      payload = new Blob([data as Uint8Array<ArrayBuffer>]);
    } else {
      payload = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? data.buffer as ArrayBuffer
        : data.slice().buffer;
    }
    this.dispatchEvent(
      new MessageEvent("message", {
        data: payload,
        origin: this.#origin ??= new URL(this.#url).origin,
      }),
    );
  }

  #onClose(info: ConnectionCloseInfo): void {
    if (!info.wasClean) {
      const error = info.error;
      this.dispatchEvent(
        new ErrorEvent("error", {
          message: error?.message ?? "The WebSocket closed abnormally",
          ...(error !== undefined ? { error } : {}),
        }),
      );
    }
    // WHATWG: without a close frame from the peer the code is 1006.
    const clean = info.wasClean;
    this.dispatchEvent(
      new CloseEvent("close", {
        wasClean: clean,
        code: clean ? info.code : 1006,
        reason: clean ? info.reason : "",
      }),
    );
  }

  #getHandler(type: string): EventListener | null {
    return this.#handlers?.get(type) ?? null;
  }

  #setHandler(type: string, handler: unknown): void {
    const previous = this.#handlers?.get(type);
    if (previous !== undefined) this.removeEventListener(type, previous);
    if (typeof handler === "function") {
      const listener = handler as EventListener;
      (this.#handlers ??= new Map()).set(type, listener);
      this.addEventListener(type, listener);
    } else {
      this.#handlers?.delete(type);
    }
  }

  /** The connection's listener: one object with methods, not a closure per event. */
  static readonly #Listener = class SocketListener implements ConnectionListener {
    readonly #socket: WebSocket;

    constructor(socket: WebSocket) {
      this.#socket = socket;
    }

    open(): void {
      this.#socket.dispatchEvent(new Event("open"));
    }

    message(data: Message): void {
      this.#socket.#onMessage(data);
    }

    close(info: ConnectionCloseInfo): void {
      this.#socket.#onClose(info);
    }
  };
}
