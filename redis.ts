// Copyright 2026 the Duplex authors. MIT license.
/**
 * A {@linkcode Backplane} on Redis pub/sub, through the official client
 * (`npm:redis`): one logical `Hub` across processes and machines. This is
 * the one module of Duplex with a dependency, and nothing else loads it.
 *
 * - **Two connections**: one publishes, one subscribes (a subscribed Redis
 *   connection can do nothing else).
 * - **Binary-safe**: envelopes travel as bytes, so text and binary
 *   messages arrive byte for byte.
 * - **Batched**: a turn's broadcasts to a room are one `PUBLISH`, numbered,
 *   so that a node counts what it missed (`lost`).
 * - **Outages**: Redis down at start or lost later, the hub goes on serving
 *   its own members. The backplane reconnects with exponential backoff and
 *   jitter (`minDelay` to `maxDelay`), reports one `backplaneError` per
 *   outage, holds at most `maxBuffered` bytes of publications meanwhile
 *   (default 8 MiB; past it, publications are dropped and counted) and
 *   sends them in order when the link is back, and subscribes again to
 *   every room the node still has members in. What other nodes published
 *   while this one was away is gone: Redis pub/sub keeps no history.
 *
 * @example Two processes, one chat
 * ```ts ignore
 * // Run it twice, with PORT=8001 and PORT=8002: a message to one reaches the other's members.
 * import { Hub, serve } from "@duplex/websocket";
 * import { RedisBackplane } from "@duplex/websocket/redis";
 *
 * const hub = new Hub({ backplane: new RedisBackplane({ url: "redis://127.0.0.1:6379" }) });
 * hub.on("open", (connection) => connection.join("lobby"));
 * hub.on("message", (_connection, message) => hub.broadcast(message, { room: "lobby" }));
 * hub.on("backplaneError", (error) => console.warn(error.message));
 * serve({ port: Number(Deno.env.get("PORT")) }, hub.handler);
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient } from "npm:redis@^6.4.0";
import type { Backplane, BackplaneReceiver, BackplaneStats } from "./backplane.ts";
import {
  ALL_CHANNEL,
  BATCH_HEADER,
  BatchReader,
  BatchWriter,
  checkNamespace,
  roomChannel,
} from "./_backplane.ts";
import { ConnectionError } from "./errors.ts";

export type { Backplane, BackplaneReceiver, BackplaneStats };

/** Options for {@linkcode RedisBackplane}. */
export interface RedisBackplaneOptions {
  /** The server, as `redis://[user:password@]host[:port][/db]` or `rediss://…` for TLS. Default `"redis://127.0.0.1:6379"`. */
  url?: string;
  /** Prefixes every channel (`namespace:room:lobby`), so that several apps share a Redis. Default `"duplex"`. */
  namespace?: string;
  /**
   * The most bytes of publications held while Redis is slow or away:
   * waiting to be sent, or sent and not yet acknowledged. Past it, a
   * publication is dropped and counted. Default 8 MiB.
   */
  maxBuffered?: number;
  /** The first reconnection delay, in milliseconds; it doubles on each failure. Default 100. */
  minDelay?: number;
  /** The longest reconnection delay, in milliseconds. Default 5,000. */
  maxDelay?: number;
  /** How long one connection attempt may take, in milliseconds. Default 5,000. */
  connectTimeout?: number;
}

/**
 * What this module uses of a node-redis client: typed here, because the
 * client's own generic types do not check under `exactOptionalPropertyTypes`.
 */
interface RedisClient {
  readonly isReady: boolean;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  connect(): Promise<unknown>;
  publish(channel: string, message: Buffer): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(
    channel: string,
    listener: (message: Buffer) => void,
    bufferMode: true,
  ): Promise<unknown>;
  unsubscribe(
    channel: string,
    listener: ((message: Buffer) => void) | undefined,
    bufferMode: true,
  ): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
}

/** Publications waiting for the link. */
interface Waiting {
  channel: string;
  batch: Uint8Array;
  count: number;
}

function positiveNumber(options: RedisBackplaneOptions, name: keyof RedisBackplaneOptions) {
  const value = options[name];
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new (typeof value === "number" ? RangeError : TypeError)(
      `Cannot create backplane: ${name} must be a positive number, got ${JSON.stringify(value)}`,
    );
  }
}

/** The URL without its password, for messages. */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`;
}

/**
 * A backplane on Redis pub/sub. Give it to one `Hub` as its `backplane`; it
 * connects when the hub attaches it, and the hub's `close()` closes it.
 *
 * Its figures (in `hub.stats().backplane`): `published` counts publications
 * Redis acknowledged; `dropped` those refused for the buffer cap or lost
 * with the link; `reconnects` the outages it came back from; `lost` the
 * publications of other nodes that never reached this one.
 *
 * @example A hub on Redis, tested without one
 * ```ts
 * import { Hub } from "@duplex/websocket";
 * import { RedisBackplane } from "@duplex/websocket/redis";
 * import assert from "node:assert/strict";
 *
 * // Options are checked at once, before any connection is made.
 * assert.throws(() => new RedisBackplane({ url: "http://example.com" }), TypeError);
 * const hub = new Hub({ backplane: new RedisBackplane({ url: "redis://127.0.0.1:1", minDelay: 50, maxDelay: 50 }) });
 * hub.on("backplaneError", () => {}); // nothing listens on port 1: one error, then retries
 * assert.equal(hub.stats().backplane?.connected, false);
 * await hub.close();
 * ```
 */
export class RedisBackplane implements Backplane {
  readonly #url: URL;
  readonly #namespace: string;
  readonly #maxBuffered: number;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #connectTimeout: number;
  #receiver: BackplaneReceiver | undefined;
  #publisher: RedisClient | undefined;
  #subscriber: RedisClient | undefined;
  // Each connection's state by its own events: a client's isReady may not
  // be true yet while its "ready" listeners run.
  #publisherUp = false;
  #subscriberUp = false;
  readonly #writer = new BatchWriter((channel, batch, count) => this.#send(channel, batch, count));
  readonly #reader = new BatchReader();
  // Channels the hub wants, and those Redis has confirmed, with their listeners.
  readonly #wanted = new Set<string>();
  readonly #active = new Set<string>();
  readonly #listeners = new Map<string, (message: Buffer) => void>();
  readonly #waiting: Waiting[] = [];
  #held = 0;
  #published = 0;
  #dropped = 0;
  #reconnects = 0;
  #connected = false;
  #everConnected = false;
  #outage = false;
  #closed = false;
  #ready: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | null =
    null;

  /**
   * Makes a backplane; it connects once a hub attaches it.
   *
   * @param options The server, the namespace, the buffer cap and the backoff.
   * @throws {TypeError} For a URL that is not `redis:` or `rediss:`, or an option of the wrong type.
   * @throws {RangeError} For a number out of range.
   */
  constructor(options: RedisBackplaneOptions = {}) {
    this.#namespace = checkNamespace(options);
    const url = options.url ?? "redis://127.0.0.1:6379";
    if (typeof url !== "string" || !URL.canParse(url)) {
      throw new TypeError(`Cannot create backplane: url must be a Redis URL, got ${String(url)}`);
    }
    this.#url = new URL(url);
    if (this.#url.protocol !== "redis:" && this.#url.protocol !== "rediss:") {
      throw new TypeError(
        `Cannot create backplane: url must be redis: or rediss:, got ${this.#url.protocol}`,
      );
    }
    for (const name of ["maxBuffered", "minDelay", "maxDelay", "connectTimeout"] as const) {
      positiveNumber(options, name);
    }
    this.#maxBuffered = options.maxBuffered ?? 8 * 1024 * 1024;
    this.#minDelay = options.minDelay ?? 100;
    this.#maxDelay = options.maxDelay ?? 5_000;
    this.#connectTimeout = options.connectTimeout ?? 5_000;
    if (this.#minDelay > this.#maxDelay) {
      throw new RangeError(
        `Cannot create backplane: minDelay (${this.#minDelay}) is over maxDelay (${this.#maxDelay})`,
      );
    }
  }

  /**
   * Resolves once both connections are up for the first time; rejects if
   * the backplane is closed before.
   *
   * @returns A promise of the link.
   */
  ready(): Promise<void> {
    if (this.#everConnected) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#ready === null) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      this.#ready = { promise, resolve, reject };
    }
    return this.#ready.promise;
  }

  /**
   * A cluster-wide figure, as Redis counts it: how many nodes have members
   * in `room` now, or, without a room, how many nodes hold any connection
   * (each such node subscribes once to the room's channel). One round trip
   * to Redis (`PUBSUB NUMSUB`).
   *
   * @example Nodes in a room
   * ```ts ignore
   * const backplane = new RedisBackplane({ url: "redis://127.0.0.1:6379" });
   * const hub = new Hub({ backplane });
   * await backplane.ready();
   * console.log(`${await backplane.nodes("lobby")} nodes have lobby members`);
   * ```
   *
   * @param room A room's name; none for every node with a connection.
   * @returns The number of nodes.
   * @throws {TypeError} For a room that is not a string.
   * @throws {ConnectionError} `BACKPLANE_DOWN` while Redis is away, `BACKPLANE_CLOSED` once closed.
   */
  async nodes(room?: string): Promise<number> {
    if (room !== undefined && typeof room !== "string") {
      throw new TypeError(`Cannot count nodes: room must be a string, got ${typeof room}`);
    }
    if (this.#closed) {
      throw new ConnectionError("BACKPLANE_CLOSED", "Cannot count nodes: the backplane is closed");
    }
    if (!this.#publisherUp) {
      throw new ConnectionError("BACKPLANE_DOWN", `Cannot reach Redis at ${shown(this.#url)}`);
    }
    const channel = `${this.#namespace}:${room === undefined ? ALL_CHANNEL : roomChannel(room)}`;
    let reply: unknown;
    try {
      reply = await this.#publisher!.sendCommand(["PUBSUB", "NUMSUB", channel]);
    } catch (cause) {
      throw new ConnectionError(
        "BACKPLANE_DOWN",
        `Cannot count nodes on Redis at ${shown(this.#url)}: ${(cause as Error).message}`,
        { cause },
      );
    }
    // [channel, count]
    return Number((reply as unknown[])[1]);
  }

  /** {@inheritDoc Backplane.attach} */
  attach(receiver: BackplaneReceiver): void {
    if (this.#receiver !== undefined) {
      throw new TypeError("Cannot attach backplane: it serves a hub already");
    }
    this.#receiver = receiver;
    if (this.#closed) return;
    this.#publisher = this.#client((up) => this.#publisherUp = up);
    this.#subscriber = this.#client((up) => this.#subscriberUp = up);
  }

  /** {@inheritDoc Backplane.subscribe} */
  subscribe(channel: string): void {
    if (this.#closed || this.#wanted.has(channel)) return;
    this.#wanted.add(channel);
    if (this.#subscriberUp) this.#redisSubscribe(channel);
  }

  /** {@inheritDoc Backplane.unsubscribe} */
  unsubscribe(channel: string): void {
    if (!this.#wanted.delete(channel)) return;
    this.#reader.forget(channel);
    if (this.#subscriberUp && this.#active.has(channel)) this.#redisUnsubscribe(channel);
  }

  /** {@inheritDoc Backplane.publish} */
  publish(channel: string, payload: Uint8Array): boolean {
    if (this.#closed) return false;
    const size = 4 + payload.length;
    if (this.#held + size > this.#maxBuffered) {
      this.#dropped++;
      return false;
    }
    this.#held += size;
    this.#writer.add(channel, payload);
    return true;
  }

  /** {@inheritDoc Backplane.stats} */
  stats(): BackplaneStats {
    return {
      published: this.#published,
      dropped: this.#dropped,
      reconnects: this.#reconnects,
      connected: this.#connected,
      lost: this.#reader.lost,
    };
  }

  /**
   * {@inheritDoc Backplane.close}
   *
   * With the link up, what was published is sent first; with it down, what
   * waits for it is dropped and counted.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#writer.flush();
    this.#closed = true;
    this.#connected = false;
    for (const waiting of this.#waiting.splice(0)) this.#dropped += waiting.count;
    this.#ready?.reject(this.#closedError());
    this.#ready = null;
    await Promise.all([this.#publisher, this.#subscriber].map(async (client) => {
      if (client === undefined) return;
      try {
        if (client.isReady) await client.close();
        else client.destroy();
      } catch {
        // Closing a connection that failed meanwhile: nothing more to release.
        try {
          client.destroy();
        } catch { /* gone already */ }
      }
    }));
  }

  #closedError(): ConnectionError {
    return new ConnectionError("BACKPLANE_CLOSED", "The backplane was closed before it connected");
  }

  #client(state: (up: boolean) => void): RedisClient {
    const client = (createClient as (options: unknown) => unknown)({
      url: this.#url.href,
      // Fail at once while the link is down: the backplane keeps its own,
      // bounded, buffer instead of the client's unbounded one.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: this.#connectTimeout,
        reconnectStrategy: (retries: number) => {
          if (this.#closed) return false;
          const delay = Math.min(this.#maxDelay, this.#minDelay * 2 ** Math.min(retries, 20));
          return Math.round(delay / 2 + Math.random() * delay / 2);
        },
      },
    }) as RedisClient;
    // node-redis emits "error" on every failed attempt: without a listener,
    // Node's EventEmitter would throw it and end the process.
    client.on("error", (error: Error) => {
      state(false);
      this.#linkDown(error);
    });
    client.on("ready", () => {
      state(true);
      this.#linkUp();
    });
    client.connect().catch(() => {
      // Rejected only when the client is closed while connecting.
    });
    return client;
  }

  #linkDown(cause: Error): void {
    this.#connected = false;
    if (this.#closed) return;
    if (this.#outage) return;
    this.#outage = true;
    this.#receiver?.error(
      new ConnectionError(
        "BACKPLANE_DOWN",
        `Cannot reach Redis at ${shown(this.#url)}: ${cause.message}; reconnecting`,
        { cause },
      ),
    );
  }

  #linkUp(): void {
    if (this.#closed) return;
    if (!this.#publisherUp || !this.#subscriberUp) {
      // One of the two is back: resubscribe or resend with that one now.
      if (this.#subscriberUp) this.#reconcile();
      if (this.#publisherUp) this.#resend();
      return;
    }
    this.#connected = true;
    if (this.#outage && this.#everConnected) this.#reconnects++;
    this.#outage = false;
    this.#everConnected = true;
    this.#ready?.resolve();
    this.#ready = null;
    this.#reconcile();
    this.#resend();
  }

  /**
   * Subscribes to what the hub wants and Redis lacks, and the reverse.
   * Channels confirmed before an outage stay in `#active` through it:
   * node-redis keeps its listeners and sends one SUBSCRIBE for all of them
   * when its connection is back. What this adds is what changed meanwhile:
   * rooms joined while the link was down (never sent) and rooms left
   * (node-redis would bring them back).
   */
  #reconcile(): void {
    for (const channel of this.#wanted) {
      if (!this.#active.has(channel)) this.#redisSubscribe(channel);
    }
    for (const channel of this.#active) {
      if (!this.#wanted.has(channel)) this.#redisUnsubscribe(channel);
    }
  }

  #redisSubscribe(channel: string): void {
    let listener = this.#listeners.get(channel);
    if (listener === undefined) {
      const deliver = (payload: Uint8Array) => this.#receiver?.message(channel, payload);
      listener = (message: Buffer) => {
        if (this.#wanted.has(channel)) this.#reader.read(channel, message, deliver);
      };
      this.#listeners.set(channel, listener);
    }
    this.#subscriber!.subscribe(`${this.#namespace}:${channel}`, listener, true).then(() => {
      this.#active.add(channel);
      // Left while the subscription was on its way.
      if (!this.#wanted.has(channel) && this.#subscriberUp) {
        this.#redisUnsubscribe(channel);
      }
    }, () => {
      // The link dropped meanwhile: #reconcile() tries again when it is back.
    });
  }

  #redisUnsubscribe(channel: string): void {
    const listener = this.#listeners.get(channel);
    this.#subscriber!.unsubscribe(`${this.#namespace}:${channel}`, listener, true).then(() => {
      this.#active.delete(channel);
      if (!this.#wanted.has(channel)) this.#listeners.delete(channel);
    }, () => {
      // As above: reconciled when the link is back.
    });
  }

  #send(channel: string, batch: Uint8Array, count: number): void {
    if (this.#closed) {
      this.#dropped += count;
      this.#held -= batch.length - BATCH_HEADER;
      return;
    }
    if (this.#waiting.length > 0 || !this.#publisherUp) {
      this.#waiting.push({ channel, batch, count });
      return;
    }
    this.#issue(channel, batch, count);
  }

  /** Sends, in order, what waited for the link. */
  #resend(): void {
    while (this.#waiting.length > 0 && this.#publisherUp) {
      const { channel, batch, count } = this.#waiting.shift()!;
      this.#issue(channel, batch, count);
    }
  }

  #issue(channel: string, batch: Uint8Array, count: number): void {
    const bytes = Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    this.#publisher!.publish(`${this.#namespace}:${channel}`, bytes).then(() => {
      this.#published += count;
    }, () => {
      // Lost with the link (Redis may or may not have taken it: at most once).
      this.#dropped += count;
    }).finally(() => {
      this.#held -= batch.length - BATCH_HEADER;
    });
  }
}
