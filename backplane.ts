// Copyright 2026 the Duplex authors. MIT license.
/**
 * Backplanes: what lets one {@linkcode Hub} span several workers, processes
 * or machines. Each node (a `Hub` with a backplane) delivers a broadcast to
 * its own members and publishes it once on the backplane; every other node
 * subscribed to the room's channel delivers it to its members.
 *
 * The semantics are those of Redis pub/sub, and the same for every
 * backplane:
 *
 * - **At most once, no history.** A node that is not subscribed when a
 *   message is published (it had no member in the room, or its link was
 *   down) never sees it. Nothing is stored or replayed.
 * - **Order per publishing node.** Messages one node publishes to a room
 *   reach every other node in the order they were published. Messages of
 *   different nodes have no order between them.
 * - **Never twice.** A node delivers its own broadcasts to its members once,
 *   directly; it ignores its own publications when the backplane echoes them
 *   back.
 * - **Subscribed while occupied.** A node subscribes to a room's channel
 *   when its first local member joins and unsubscribes when its last one
 *   leaves, so a node hears only the rooms it has members in. It hears
 *   room-less broadcasts while it has any connection.
 *
 * Two backplanes come with Duplex: {@linkcode BroadcastChannelBackplane}
 * here, for Workers of one process (`deno serve --parallel` among them), and
 * `RedisBackplane` in `@duplex/websocket/redis`, for processes and machines.
 * Any pub/sub engine can be one: implement {@linkcode Backplane}.
 *
 * @example Two hubs, one room
 * ```ts
 * import { BroadcastChannelBackplane, Hub, serve } from "@duplex/websocket";
 * import { connect } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const start = () => {
 *   const hub = new Hub({ backplane: new BroadcastChannelBackplane({ namespace: "doc" }) });
 *   hub.on("open", (connection) => connection.join("news"));
 *   hub.on("message", (connection, message) => hub.broadcast(message, { room: "news", except: connection }));
 *   const server = serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, hub.handler);
 *   return { hub, server };
 * };
 * const a = start();
 * const b = start();
 * const alice = await connect(`ws://127.0.0.1:${a.server.addr.port}/`);
 * const bob = await connect(`ws://127.0.0.1:${b.server.addr.port}/`);
 * while (a.hub.roomSize("news") + b.hub.roomSize("news") < 2) {
 *   await new Promise((resolve) => setTimeout(resolve, 5));
 * }
 * await alice.send("hello from a");
 * assert.equal(await bob.receive(), "hello from a");
 * await Promise.all([alice.close(), bob.close()]);
 * await Promise.all([a.hub.close(), b.hub.close()]);
 * await Promise.all([a.server.shutdown(), b.server.shutdown()]);
 * ```
 *
 * @module
 */

import { BatchReader, BatchWriter, checkNamespace } from "./_backplane.ts";

/**
 * Where a backplane hands what it receives: the {@linkcode Hub} that
 * attached it.
 */
export interface BackplaneReceiver {
  /**
   * A publication arrived on a subscribed channel (perhaps the node's own,
   * echoed back: the hub ignores those).
   *
   * @param channel The channel, as subscribed (without the namespace).
   * @param payload The bytes published, exactly.
   */
  message(channel: string, payload: Uint8Array): void;
  /**
   * The link to the engine was lost, or could not be made: called once per
   * outage, not once per message or retry.
   *
   * @param error What went wrong.
   */
  error(error: Error): void;
}

/** A backplane's own figures; {@linkcode Hub.stats} adds the hub's. */
export interface BackplaneStats {
  /** Publications handed to the engine. */
  published: number;
  /** Publications that could not be made: buffer full, or lost with the link. */
  dropped: number;
  /** Times the link came back after it was lost. */
  reconnects: number;
  /** Whether the link is up now. */
  connected: boolean;
  /**
   * Publications of other nodes known to have been lost on the way to this
   * one (gaps in their sequence), where the backplane can tell.
   */
  lost?: number;
}

/**
 * A pub/sub link between the nodes of one logical hub. A `Hub` calls it;
 * applications only construct one and pass it as the hub's `backplane`,
 * and the hub closes it in {@linkcode Hub.close}.
 *
 * Channels are plain names made by the hub (`"all"`, `"room:<name>"`); a
 * backplane may prefix them with a namespace of its own. Publishing never
 * blocks and never throws: a backplane buffers a bounded amount while its
 * link is down, and counts what it has to drop.
 *
 * @example A backplane over an in-process event target (the shape to follow)
 * ```ts
 * import { type Backplane, type BackplaneReceiver, type BackplaneStats, Hub } from "@duplex/websocket";
 *
 * const bus = new EventTarget();
 * class BusBackplane implements Backplane {
 *   #receiver: BackplaneReceiver | undefined;
 *   #listeners = new Map<string, EventListener>();
 *   #published = 0;
 *   attach(receiver: BackplaneReceiver): void {
 *     this.#receiver = receiver;
 *   }
 *   subscribe(channel: string): void {
 *     const listener = (event: Event) =>
 *       this.#receiver?.message(channel, (event as CustomEvent<Uint8Array>).detail);
 *     this.#listeners.set(channel, listener);
 *     bus.addEventListener(channel, listener);
 *   }
 *   unsubscribe(channel: string): void {
 *     bus.removeEventListener(channel, this.#listeners.get(channel)!);
 *     this.#listeners.delete(channel);
 *   }
 *   publish(channel: string, payload: Uint8Array): boolean {
 *     this.#published++;
 *     bus.dispatchEvent(new CustomEvent(channel, { detail: payload.slice() }));
 *     return true;
 *   }
 *   stats(): BackplaneStats {
 *     return { published: this.#published, dropped: 0, reconnects: 0, connected: true };
 *   }
 *   close(): Promise<void> {
 *     for (const channel of [...this.#listeners.keys()]) this.unsubscribe(channel);
 *     return Promise.resolve();
 *   }
 * }
 * const hub = new Hub({ backplane: new BusBackplane() });
 * await hub.close();
 * ```
 */
export interface Backplane {
  /**
   * Called once, by the hub the backplane is given to.
   *
   * @param receiver Where publications and outages go.
   * @throws {TypeError} If a hub is attached already: one backplane serves one hub.
   */
  attach(receiver: BackplaneReceiver): void;
  /**
   * Starts hearing a channel. The hub calls it once per channel, and again
   * only after {@linkcode Backplane.unsubscribe}; a backplane whose link
   * drops subscribes again on its own when it comes back.
   *
   * @param channel The channel.
   */
  subscribe(channel: string): void;
  /**
   * Stops hearing a channel.
   *
   * @param channel The channel.
   */
  unsubscribe(channel: string): void;
  /**
   * Publishes bytes to a channel's subscribers on the other nodes (and
   * perhaps back to this one). The bytes are the caller's: copy them if
   * they are kept past the call.
   *
   * @param channel The channel.
   * @param payload The bytes.
   * @returns `false` if the publication was dropped (and counted).
   */
  publish(channel: string, payload: Uint8Array): boolean;
  /** The backplane's figures. */
  stats(): BackplaneStats;
  /** Unsubscribes everything and releases the link; resolves once it has. */
  close(): Promise<void>;
}

/** Options for {@linkcode BroadcastChannelBackplane}. */
export interface BroadcastChannelBackplaneOptions {
  /**
   * Prefixes every channel's name, so that several hubs share a process
   * without hearing each other. Default `"duplex"`.
   */
  namespace?: string;
}

// Channels kept open to publish to rooms this node has no member in: the
// most recently used, so a node that speaks to many rooms does not open a
// channel per message.
const MAX_PUBLISHERS = 64;

/**
 * A backplane on the built-in `BroadcastChannel`: every Worker of a process
 * (the Workers of `deno serve --parallel`, or your own `new Worker(…)`s)
 * that makes a `Hub` with one in the same namespace joins the same logical
 * hub. No dependency and no service; it does not reach other processes
 * (use `RedisBackplane` from `@duplex/websocket/redis` for that).
 *
 * What Deno's `BroadcastChannel` does, and what this does about it:
 *
 * - It is a bounded queue per receiver: a Worker that falls behind by more
 *   than it holds **loses** the messages it missed, silently. Posting 1,000
 *   small messages in one turn to a Worker busy for 200 ms delivered 256 of
 *   them (Deno 2.9.6; 100 delivered 100). So this backplane posts all of
 *   a turn's publications to a channel as **one** message (up to 1 MiB),
 *   which keeps a burst of broadcasts to a few posts, and numbers its posts
 *   per channel, so that a receiver counts what it lost (`lost` in the
 *   stats) instead of not knowing.
 * - Every Worker's isolate receives every channel's messages and drops the
 *   names it has no `BroadcastChannel` for, so subscribing per room saves
 *   work in JavaScript but not the copy.
 * - Messages are structured-cloned: copied once per Worker.
 *
 * The link never drops: `dropped` and `reconnects` stay 0.
 *
 * @example One hub across the workers of `deno serve --parallel`
 * ```ts ignore
 * // server.ts: DENO_JOBS=4 deno serve --parallel --allow-net server.ts
 * import { BroadcastChannelBackplane, Hub } from "@duplex/websocket";
 *
 * const hub = new Hub({ backplane: new BroadcastChannelBackplane() });
 * hub.on("open", (connection) => connection.join("lobby"));
 * hub.on("message", (_connection, message) => hub.broadcast(message, { room: "lobby" }));
 * export default { fetch: hub.handler } satisfies Deno.ServeDefaultExport;
 * ```
 */
export class BroadcastChannelBackplane implements Backplane {
  readonly #namespace: string;
  readonly #subscribed = new Map<string, BroadcastChannel>();
  readonly #publishers = new Map<string, BroadcastChannel>();
  readonly #writer = new BatchWriter((channel, batch) => this.#channel(channel).postMessage(batch));
  readonly #reader = new BatchReader();
  #receiver: BackplaneReceiver | undefined;
  #published = 0;
  #closed = false;

  /**
   * Makes a backplane; it opens channels once a hub attaches and subscribes.
   *
   * @param options The namespace.
   * @throws {TypeError} For a namespace that is not a string, or when the
   * runtime has no `BroadcastChannel`.
   */
  constructor(options: BroadcastChannelBackplaneOptions = {}) {
    this.#namespace = checkNamespace(options);
    if (typeof BroadcastChannel !== "function") {
      throw new TypeError("Cannot create backplane: this runtime has no BroadcastChannel");
    }
  }

  /** {@inheritDoc Backplane.attach} */
  attach(receiver: BackplaneReceiver): void {
    if (this.#receiver !== undefined) {
      throw new TypeError("Cannot attach backplane: it serves a hub already");
    }
    this.#receiver = receiver;
  }

  /** {@inheritDoc Backplane.subscribe} */
  subscribe(channel: string): void {
    if (this.#closed || this.#subscribed.has(channel)) return;
    // A channel kept for publishing becomes the subscription: a
    // BroadcastChannel never hears what it posts itself.
    const bc = this.#publishers.get(channel) ?? new BroadcastChannel(this.#name(channel));
    this.#publishers.delete(channel);
    const deliver = (payload: Uint8Array) => this.#receiver?.message(channel, payload);
    bc.onmessage = (event: MessageEvent) => {
      const data = event.data;
      if (data instanceof Uint8Array) this.#reader.read(channel, data, deliver);
    };
    this.#subscribed.set(channel, bc);
  }

  /** {@inheritDoc Backplane.unsubscribe} */
  unsubscribe(channel: string): void {
    const bc = this.#subscribed.get(channel);
    if (bc === undefined) return;
    this.#subscribed.delete(channel);
    this.#reader.forget(channel);
    bc.close();
  }

  /** {@inheritDoc Backplane.publish} */
  publish(channel: string, payload: Uint8Array): boolean {
    if (this.#closed) return false;
    this.#writer.add(channel, payload);
    this.#published++;
    return true;
  }

  /** {@inheritDoc Backplane.stats} */
  stats(): BackplaneStats {
    return {
      published: this.#published,
      dropped: 0,
      reconnects: 0,
      connected: !this.#closed,
      lost: this.#reader.lost,
    };
  }

  /** {@inheritDoc Backplane.close} */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#writer.flush();
    this.#closed = true;
    for (const bc of this.#subscribed.values()) bc.close();
    for (const bc of this.#publishers.values()) bc.close();
    this.#subscribed.clear();
    this.#publishers.clear();
    return Promise.resolve();
  }

  #name(channel: string): string {
    return `${this.#namespace}:${channel}`;
  }

  /** The channel to post on: the subscription, or one kept for publishing. */
  #channel(channel: string): BroadcastChannel {
    const subscribed = this.#subscribed.get(channel);
    if (subscribed !== undefined) return subscribed;
    let bc = this.#publishers.get(channel);
    if (bc === undefined) {
      if (this.#publishers.size >= MAX_PUBLISHERS) {
        const [oldest, old] = this.#publishers.entries().next().value!;
        this.#publishers.delete(oldest);
        old.close();
      }
      bc = new BroadcastChannel(this.#name(channel));
    } else {
      this.#publishers.delete(channel); // re-inserted as the most recent
    }
    this.#publishers.set(channel, bc);
    return bc;
  }
}
