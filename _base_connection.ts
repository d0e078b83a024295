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

/**
 * A `receive()` or an iterator's `next()` waiting for a message: the
 * promise's own resolvers, and only what else it needs. An idle connection
 * in a `for await` loop holds one of these and little more.
 */
interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** An iterator's `next()`: it resolves with an iterator result, and ends with `done`. */
  iterator?: boolean;
  /** Stops a timeout or an abort listener (receive() with options). */
  cleanup?: () => void;
}

const DONE: IteratorResult<Message> = Object.freeze({ value: undefined, done: true });
const NO_LISTENER: ConnectionListener = Object.freeze({});

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

  /** The callbacks set with `listen()`; one shared empty object until then. */
  protected listener: ConnectionListener = NO_LISTENER;

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
    const refused = this.#refuseWait("receive");
    if (refused !== null) return rejected(refused);
    const { signal, timeout } = options;
    if (signal?.aborted) return rejected(signal.reason);
    const resolvers = Promise.withResolvers<Message>();
    const waiter = resolvers as unknown as Waiter;
    if (signal !== undefined || timeout !== undefined) this.#bound(waiter, signal, timeout);
    this.#wait(waiter);
    return handled(resolvers.promise);
  }

  /** Ends a waiter early: a timeout or an abort. */
  #bound(waiter: Waiter, signal: AbortSignal | undefined, timeout: number | undefined): void {
    let timer: unknown;
    const clock = this.clock;
    const fail = (error: Error) => {
      this.#more.remove(waiter);
      waiter.cleanup!();
      waiter.reject(error);
    };
    const onAbort = () => fail(signal!.reason);
    waiter.cleanup = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    if (timeout !== undefined) {
      timer = clock.setTimeout(
        () => fail(new TimeoutError("RECEIVE_TIMEOUT", `No message arrived within ${timeout} ms`)),
        timeout,
      );
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  }

  #refuseWait(what: string): Error | null {
    return this.listener.message === undefined
      ? null
      : new TypeError(`Cannot ${what}: messages go to the listener set with listen()`);
  }

  #wait(waiter: Waiter): void {
    this.#more.add(waiter);
    this.onDrained();
    this.onWaiting();
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    const next = (): Promise<IteratorResult<Message>> => {
      // A queued message is handed over at once; otherwise one promise
      // waits, resolved with the iterator result itself (no chain of them).
      if (this.hasQueued()) return Promise.resolve({ value: this.#dequeue(), done: false });
      if (this.#result !== null) {
        const ended = this.endError();
        return ended instanceof ClosedError ? Promise.resolve(DONE) : Promise.reject(ended);
      }
      const refused = this.#refuseWait("iterate");
      if (refused !== null) return Promise.reject(refused);
      const resolvers = Promise.withResolvers<IteratorResult<Message>>();
      const waiter = resolvers as unknown as Waiter;
      waiter.iterator = true;
      this.#wait(waiter);
      return resolvers.promise;
    };
    return { next, return: () => Promise.resolve(DONE) };
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
    if (extras.waiter !== null && !this.hasQueued()) {
      const waiter = extras.take()!;
      waiter.cleanup?.();
      waiter.resolve(waiter.iterator === true ? { value: message, done: false } : message);
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
    if (extras !== null && extras.waiter !== null) {
      const ended = this.endError();
      const clean = ended instanceof ClosedError;
      for (let waiter = extras.take(); waiter !== null; waiter = extras.take()) {
        waiter.cleanup?.();
        if (waiter.iterator === true && clean) waiter.resolve(DONE);
        else waiter.reject(ended);
      }
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
  /**
   * receive() calls waiting for a message, in order: the first, and the
   * others (rare) in an array of their own, so that the usual single
   * waiter costs no array.
   */
  waiter: Waiter | null = null;
  #others: Waiter[] | null = null;
  opened: PromiseWithResolvers<void> | null = null;
  closed: PromiseWithResolvers<ConnectionCloseInfo> | null = null;
  readable: ReadableStream<Message> | undefined = undefined;
  writable: WritableStream<SendData> | undefined = undefined;

  add(waiter: Waiter): void {
    if (this.waiter === null) this.waiter = waiter;
    else (this.#others ??= []).push(waiter);
  }

  /** The first waiter, removed; null if none. */
  take(): Waiter | null {
    const first = this.waiter;
    const others = this.#others;
    this.waiter = others !== null && others.length > 0 ? others.shift()! : null;
    return first;
  }

  remove(waiter: Waiter): void {
    if (this.waiter === waiter) {
      this.take();
      return;
    }
    const others = this.#others;
    const index = others === null ? -1 : others.indexOf(waiter);
    if (index >= 0) others!.splice(index, 1);
  }
}
