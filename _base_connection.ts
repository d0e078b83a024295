// Copyright 2026 the Duplex authors. MIT license.
// What every WebSocketConnection shares, whatever carries its frames: the
// receive queue, the listener, iteration, streams, and settling `closed`
// once. SocketConnection (_socket.ts) and NativeConnection (_native.ts)
// extend it. Internal: the public face is connection.ts.

import { ClosedError, type Message, type PreparedMessage, type ReadyState } from "./codec/mod.ts";
import { TimeoutError } from "./errors.ts";
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
import { handled, rejected } from "./_util.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";

/** Calls a listener's callback as its method (`this` is the listener); reports what it throws. */
export function callSafely<A>(
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
  abstract send(data: SendData | PreparedMessage, options?: SendMessageOptions): Promise<void>;
  abstract sendPrepared(message: PreparedMessage): Promise<void>;
  abstract writer(options?: MessageWriterOptions): MessageWriter;
  abstract ping(data?: Uint8Array | string): Promise<number>;
  abstract pong(data?: Uint8Array | string): Promise<void>;
  abstract close(code?: number, reason?: string): Promise<ConnectionCloseInfo>;
  abstract terminate(error?: Error): void;

  /** The clock of `receive()`'s timeouts: the system's unless the options gave one. */
  protected get clock(): Clock {
    return SYSTEM_CLOCK;
  }

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

  /**
   * Called when the application waits for a message and none is queued: it
   * has taken everything, so replies it made meanwhile may go out.
   */
  protected onWaiting(): void {}

  listen(listener: ConnectionListener): void {
    this.listener = listener;
    if (listener.message !== undefined) {
      // Hand over anything already queued; from now on messages go straight there.
      while (this.hasQueued()) callSafely(listener.message, this.#dequeue(), listener);
      this.onDrained();
    }
  }

  receive(options: ReceiveOptions = {}): Promise<Message> {
    if (this.hasQueued()) return Promise.resolve(this.#dequeue());
    if (this.#result !== null) return rejected(this.endError());
    if (this.listener.message !== undefined) {
      return rejected(
        new TypeError("Cannot receive: messages go to the listener set with listen()"),
      );
    }
    const { signal, timeout } = options;
    if (signal?.aborted) return rejected(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<Message>();
    let timer: unknown;
    const clock = this.clock;
    const onAbort = () => settle(undefined, signal!.reason);
    const settle = (message: Message | undefined, error?: Error) => {
      const index = waiters.indexOf(waiter);
      if (index >= 0) waiters.splice(index, 1);
      if (timer !== undefined) clock.clearTimeout(timer);
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
      timer = clock.setTimeout(
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
    this.onWaiting();
    return handled(promise);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    const next = (): Promise<IteratorResult<Message>> =>
      // A queued message is handed over without a receive() promise to chain on.
      this.hasQueued()
        ? Promise.resolve({ value: this.#dequeue(), done: false })
        : this.receive().then(
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
    if (waiters.length > 0 && !this.hasQueued()) {
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

  /** Whether received messages wait to be consumed. */
  protected hasQueued(): boolean {
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
