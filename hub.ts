// Copyright 2026 the Duplex authors. MIT license.
/**
 * The hub: the server-side layer for many connections. Rooms, broadcast,
 * per-connection data and metadata, keepalive, connection limits, and an
 * explicit policy for slow consumers, with figures for logs and metrics.
 *
 * - Broadcast frames a message once and writes the same bytes to every
 *   peer: a turn's broadcasts are framed one after the other into one
 *   buffer, and each peer writes its run of them from there, so a burst to
 *   a thousand peers is held once, not a thousand times. A peer whose
 *   unsent bytes stay over `maxBackpressure` for `backpressureGrace`
 *   without taking any is closed (1008) or skipped and counted, by policy,
 *   so one slow consumer neither grows server memory without bound nor
 *   slows the others, and a burst to a reading peer is not mistaken for
 *   one.
 * - With `compression`, a broadcast is also compressed once (permessage-deflate)
 *   for every peer that negotiated it.
 * - Keepalive is the connections' own (one shared timer for all of them).
 * - It plugs into {@linkcode serve} or a `Deno.serve` handler in one line.
 *
 * @example A chat in a few lines
 * ```ts
 * import { connect, Hub, serve } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const hub = new Hub<{ nick: string }>({ data: () => ({ nick: "anonymous" }) });
 * hub.on("open", (connection) => connection.join("lobby"));
 * hub.on("message", (connection, message) => {
 *   hub.broadcast(`${connection.data.nick}: ${message}`, { room: "lobby", except: connection });
 * });
 * const server = serve({ port: 0, onListen() {} }, hub.handler);
 *
 * const url = `ws://localhost:${server.addr.port}/`;
 * const [alice, bob] = await Promise.all([connect(url), connect(url)]);
 * while (hub.roomSize("lobby") < 2) await new Promise((resolve) => setTimeout(resolve, 5));
 * await alice.send("hi");
 * assert.equal(await bob.receive(), "anonymous: hi");
 * await Promise.all([alice.close(), bob.close()]);
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { checkHubOptions } from "./_options.ts";
import {
  CloseCode,
  HandshakeError,
  type Message,
  PreparedMessage,
  ReadyState,
  utf8Length,
} from "./codec/mod.ts";
import type {
  Clock,
  ConnectionCloseInfo,
  ConnectionListener,
  SendData,
  SendMessageOptions,
  WebSocketConnection,
} from "./connection.ts";
import { SlowConsumerError } from "./errors.ts";
import { type ServeHandlerInfo, type UpgradeOptions, upgradeWebSocket } from "./server.ts";
import { rejectionResponse } from "./_server.ts";
import { viewOf } from "./_util.ts";
import { SocketConnection } from "./_socket.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";
import { FrameArena } from "./codec/_arena.ts";
import { placeInArena } from "./codec/prepared.ts";
import type { Backplane, BackplaneReceiver, BackplaneStats } from "./backplane.ts";
import {
  ALL_CHANNEL,
  decodeEnvelope,
  encodeEnvelope,
  newNodeId,
  publishedBy,
  roomChannel,
} from "./_backplane.ts";

export { SlowConsumerError };

/** What to do with a peer whose unsent bytes exceed `maxBackpressure`. */
export type BackpressurePolicy = "close" | "drop";

/** Options for {@linkcode Hub}. */
export interface HubOptions<T> extends Omit<UpgradeOptions, "keepalive" | "idleTimeout"> {
  /** The most open connections; past it, upgrades are refused with 503. Default: no limit. */
  maxConnections?: number;
  /** Ping a peer after this many milliseconds of silence; `0` disables keepalive. Default 30,000. */
  pingInterval?: number;
  /** Close a peer (1006, `TimeoutError` `"PONG_TIMEOUT"`) whose pong takes longer than this. Default 10,000. */
  pongTimeout?: number;
  /**
   * Unsent bytes a peer may hold for `backpressureGrace` before the
   * backpressure policy applies. A burst queued in one turn of the event
   * loop has not been written yet: over this mark, the peer is given the
   * grace period to take it, and is judged by what is still unsent then,
   * and by whether it took any of it meanwhile (a peer that did is given
   * another period). Past 16 times this mark, the policy applies at once,
   * so that memory stays bounded meanwhile. Default 1 MiB.
   */
  maxBackpressure?: number;
  /**
   * How long, in milliseconds, a peer may stay over `maxBackpressure`
   * without taking any of its bytes before the policy applies. `0` applies
   * it as soon as a send finds the peer over the mark. Default 1,000.
   */
  backpressureGrace?: number;
  /**
   * `"close"`: close the peer with 1008 (a slow consumer breaks the
   * server's policy): what is queued for it and unwritten is dropped, and
   * the close frame follows the write in progress, so a peer that reads
   * again sees 1008; one that never does is cut after `closeTimeout`.
   * `"drop"`: skip messages for that peer while it stays over the mark,
   * and count them. Default `"close"`.
   */
  backpressure?: BackpressurePolicy;
  /** Makes each connection's initial `data` from its upgrade request. */
  data?: (request: Request) => T;
  /**
   * The clock of `backpressureGrace` and of every connection's deadlines
   * (keepalive, `closeTimeout`): a test passes `ManualClock` from
   * `@duplex/websocket/testing`. Default: the system's.
   */
  clock?: Clock;
  /**
   * Makes this hub one node of a logical hub that spans Workers, processes
   * or machines: a broadcast reaches the room's members on every node. A
   * {@linkcode BroadcastChannelBackplane} joins the Workers of one process;
   * `RedisBackplane` (`@duplex/websocket/redis`) joins processes and
   * machines. The semantics (at most once, in order per node, never twice)
   * are in the `backplane.ts` module's documentation. The hub owns it from
   * here: {@linkcode Hub.close} closes it.
   */
  backplane?: Backplane;
}

/** Listeners for the hub's events; see {@linkcode Hub.on}. */
export interface HubEvents<T> {
  /** A connection opened. */
  open: (connection: HubConnection<T>) => void;
  /** A message arrived. */
  message: (connection: HubConnection<T>, data: Message) => void;
  /** A connection closed (it has already left its rooms). */
  close: (connection: HubConnection<T>, code: number, reason: string) => void;
  /** A connection failed; `close` follows. */
  error: (connection: HubConnection<T>, error: Error) => void;
  /** A ping arrived (answered already). */
  ping: (connection: HubConnection<T>, data: Uint8Array) => void;
  /** A pong arrived. */
  pong: (connection: HubConnection<T>, data: Uint8Array) => void;
  /**
   * The backplane's link was lost or could not be made: once per outage.
   * The hub goes on serving its own members meanwhile, and the backplane
   * counts what it could not publish. Without a listener, the hub logs it.
   */
  backplaneError: (error: Error) => void;
}

/** Options for {@linkcode Hub.broadcast}. */
export interface BroadcastOptions<T> {
  /** Send to this room's members only; default: every connection. */
  room?: string;
  /** Leave this connection (or connection id) out, such as the sender. */
  except?: HubConnection<T> | string;
  /**
   * `true` to compress for every peer that negotiated permessage-deflate,
   * `false` never to; default: by each peer's threshold. (A prepared
   * message says so itself.)
   */
  compress?: boolean;
  /**
   * `true` for this node's members only: not published on the backplane.
   * Default `false`.
   */
  local?: boolean;
}

/** A backplane's figures in {@linkcode HubStats}. */
export interface HubBackplaneStats extends BackplaneStats {
  /** Broadcasts received from other nodes (this node's own echoes are not counted). */
  received: number;
  /** Publications received that were not a hub's envelope, or not UTF-8 text. */
  malformed: number;
  /** Channels this node is subscribed to: one per room it has members in, and one for room-less broadcasts. */
  subscriptions: number;
}

/** The hub's figures, as a plain object for logs and metrics. */
export interface HubStats {
  /** Open connections. */
  connections: number;
  /** Rooms and their member counts. */
  rooms: Record<string, number>;
  /** Messages received. */
  messagesIn: number;
  /** Messages sent (each delivery to each peer counts once). */
  messagesOut: number;
  /** Payload bytes received. */
  bytesIn: number;
  /** Payload bytes sent. */
  bytesOut: number;
  /** Messages skipped for slow consumers (the `"drop"` policy). */
  dropped: number;
  /** Upgrades refused because `maxConnections` was reached. */
  refused: number;
  /** Closed connections by close code. */
  closes: Record<string, number>;
  /** The backplane's figures, with one. */
  backplane?: HubBackplaneStats;
}

/**
 * One connection in a {@linkcode Hub}: its id, typed `data`, string
 * metadata, rooms, and sends that respect the hub's backpressure policy.
 */
export class HubConnection<T> {
  /** A unique id within the hub, for {@linkcode Hub.get}. */
  readonly id: string;
  /** Application data, typed by the hub's `T`. */
  data: T;
  /** The connection underneath, with the full API. */
  readonly connection: WebSocketConnection;
  /** The peer's address, when known. */
  readonly remoteAddr: Deno.Addr | undefined;
  /** The upgrade request's URL. */
  readonly url: string;

  readonly #hub: Hub<T>;
  // Made on first set(): most connections never have metadata.
  #metadata: Map<string, string> | null = null;

  /**
   * Made by the hub for each connection it accepts; not for applications.
   *
   * @param hub The hub.
   * @param id The connection's id.
   * @param connection The connection underneath.
   * @param data The initial application data.
   * @param remoteAddr The peer's address, when known.
   */
  constructor(
    hub: Hub<T>,
    id: string,
    connection: WebSocketConnection,
    data: T,
    remoteAddr?: Deno.Addr,
  ) {
    memberStates.set(this, { rooms: NO_ROOMS });
    this.#hub = hub;
    this.id = id;
    this.connection = connection;
    this.data = data;
    this.remoteAddr = remoteAddr;
    this.url = connection.url;
  }

  /** The connection's state (WHATWG numbering). */
  get state(): ReadyState {
    return this.connection.readyState;
  }

  /** The rooms this connection is in. */
  get rooms(): ReadonlySet<string> {
    return stateOf(this).rooms;
  }

  /** Bytes queued for this peer and not yet written. */
  get bufferedAmount(): number {
    return this.connection.bufferedAmount;
  }

  /**
   * Resolves once everything queued for this peer has been written (at
   * once if nothing is), or the connection has closed. A producer that
   * waits for it whenever the peer holds more than it likes never meets
   * the slow-consumer policy, whatever the peer's pace.
   *
   * @example Replay history at the pace the peer reads it
   * ```ts ignore
   * hub.on("open", async (connection) => {
   *   for (const line of history) {
   *     if (connection.bufferedAmount > 64 * 1024) await connection.drained();
   *     connection.send(line);
   *   }
   * });
   * ```
   */
  async drained(): Promise<void> {
    const connection = this.connection;
    while (connection.readyState === ReadyState.OPEN && connection.bufferedAmount > 0) {
      if (connection instanceof SocketConnection) await connection.written();
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Reads a metadata value.
   *
   * @param key The key.
   * @returns The value, if set.
   */
  get(key: string): string | undefined {
    return this.#metadata?.get(key);
  }

  /**
   * Sets a metadata value.
   *
   * @param key The key.
   * @param value The value.
   */
  set(key: string, value: string): void {
    (this.#metadata ??= new Map()).set(key, value);
  }

  /** All metadata, as a plain object. */
  get metadata(): Record<string, string> {
    return this.#metadata === null ? {} : Object.fromEntries(this.#metadata);
  }

  /**
   * Joins a room.
   *
   * @param room The room's name.
   * @returns `false` if it was a member already.
   */
  join(room: string): boolean {
    return this.#hub.join(this, room);
  }

  /**
   * Leaves a room.
   *
   * @param room The room's name.
   * @returns `false` if it was not a member.
   */
  leave(room: string): boolean {
    return this.#hub.leave(this, room);
  }

  /**
   * Whether this connection is in `room`.
   *
   * @param room The room's name.
   * @returns `true` for a member.
   */
  in(room: string): boolean {
    return stateOf(this).rooms.has(room);
  }

  /**
   * Sends a message, subject to the hub's backpressure policy.
   *
   * @param data Text, binary, or a message prepared once for many sends.
   * @param options Whether to compress it (see `WebSocketConnection.send`).
   * @returns `true` if queued; `false` if the connection is not open, or the
   * message was dropped or the connection closed for backpressure.
   */
  send(data: SendData | PreparedMessage, options?: SendMessageOptions): boolean {
    return this.#hub.sendTo(this, data, options);
  }

  /**
   * Closes the connection with a closing handshake.
   *
   * @param code The close code.
   * @param reason The reason.
   * @returns How it ended.
   */
  close(code?: number, reason?: string): Promise<ConnectionCloseInfo> {
    return this.connection.close(code, reason);
  }
}

type Listeners<T> = { [K in keyof HubEvents<T>]: HubEvents<T>[K][] };

/** The hub's own bookkeeping for a connection, kept off its public surface. */
interface MemberState {
  /** The rooms it is in: {@linkcode NO_ROOMS} until it joins one. */
  rooms: Set<string>;
  /** The code and reason the hub cut it with, when it did. */
  closeAs?: { code: number; reason: string };
  /** The grace timer, while the peer is over maxBackpressure. */
  slowTimer?: unknown;
  /** How far the peer had read when the grace period started (see progressOf). */
  slowMark?: number;
  /** Whether it stayed over past the grace: the "drop" policy skips it. */
  dropping?: boolean;
}

// deno-lint-ignore no-explicit-any
const memberStates = new WeakMap<HubConnection<any>, MemberState>();

// Over this many times maxBackpressure, the policy applies without a grace
// period: the bound on what a peer can hold meanwhile.
const HARD_LIMIT = 16;

/**
 * A number that grows as the peer takes bytes: what Duplex's socket has
 * written, or (on Deno's native socket, which does not say) the opposite of
 * what is still buffered.
 */
function progressOf(connection: WebSocketConnection): number {
  return connection instanceof SocketConnection
    ? connection.bytesWritten
    : -connection.bufferedAmount;
}

// Shared by every connection in no room, never modified: an idle member
// should not cost a Set of its own.
const NO_ROOMS: Set<string> = new Set();

// deno-lint-ignore no-explicit-any
function stateOf(member: HubConnection<any>): MemberState {
  return memberStates.get(member)!;
}

/**
 * Connections, rooms and broadcast for a WebSocket server.
 *
 * @example With Deno.serve
 * ```ts ignore
 * import { Hub } from "@duplex/websocket";
 *
 * const hub = new Hub({ maxConnections: 10_000, allowedOrigins: ["https://example.com"] });
 * hub.on("message", (connection, message) => hub.broadcast(message, { except: connection }));
 * Deno.serve((request) => new URL(request.url).pathname === "/ws" ? hub.handler(request) : new Response("ok"));
 * ```
 */
export class Hub<T = Record<string, never>> {
  readonly #options: HubOptions<T>;
  readonly #connections = new Map<string, HubConnection<T>>();
  readonly #rooms = new Map<string, Set<HubConnection<T>>>();
  readonly #listeners: Listeners<T> = {
    open: [],
    message: [],
    close: [],
    error: [],
    ping: [],
    pong: [],
    backplaneError: [],
  };
  readonly #maxBackpressure: number;
  readonly #dropPolicy: boolean;
  readonly #grace: number;
  readonly #clock: Clock;
  readonly #upgradeOptions: UpgradeOptions;
  #pending = 0;
  #nextId = 0;
  #stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0, refused: 0 };
  #closes: Record<string, number> = {};
  readonly #backplane: Backplane | undefined;
  // This node's id in its envelopes, to know its own publications.
  readonly #node: Uint8Array = newNodeId();
  #backplaneStats = { received: 0, malformed: 0, subscriptions: 0 };
  #closing = false;
  readonly #arena = new FrameArena();

  /**
   * Creates a hub.
   *
   * @param options Limits, keepalive, backpressure policy, upgrade options.
   * @throws {TypeError} For an option of the wrong type or an unknown policy.
   * @throws {RangeError} For a number out of range.
   */
  constructor(options: HubOptions<T> = {}) {
    checkHubOptions(options);
    this.#options = options;
    this.#maxBackpressure = options.maxBackpressure ?? 1024 * 1024;
    this.#dropPolicy = (options.backpressure ?? "close") === "drop";
    this.#grace = options.backpressureGrace ?? 1_000;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    const pingInterval = options.pingInterval ?? 30_000;
    const pongTimeout = options.pongTimeout ?? 10_000;
    const {
      maxConnections: _maxConnections,
      pingInterval: _pingInterval,
      pongTimeout: _pongTimeout,
      maxBackpressure: _maxBackpressure,
      backpressure: _backpressure,
      backpressureGrace: _backpressureGrace,
      data: _data,
      backplane,
      ...upgradeOptions
    } = options;
    // Keepalive is the connections' own, which share one timer per period;
    // Deno's native sockets (inside Deno.serve) get Deno's idleTimeout.
    this.#upgradeOptions = pingInterval > 0
      ? { ...upgradeOptions, keepalive: { pingInterval, pongTimeout } }
      : { ...upgradeOptions, idleTimeout: 0 };
    this.#backplane = backplane;
    if (backplane !== undefined) {
      const receiver: BackplaneReceiver = {
        message: (channel, payload) => this.#received(channel, payload),
        error: (error) => {
          if (this.#listeners.backplaneError.length === 0) {
            console.error(`Hub: backplane: ${error.message}`);
          }
          this.#emit("backplaneError", error);
        },
      };
      backplane.attach(receiver);
    }
  }

  /**
   * The request handler: upgrades the request and adds the connection, or
   * answers 503 (full), 403 (origin) or the handshake's error status. Pass it
   * to `serve`, or call it from a `Deno.serve` handler.
   */
  readonly handler = (
    request: Request,
    info?: ServeHandlerInfo | Deno.ServeHandlerInfo,
  ): Response => {
    // Read before upgrading: Deno.serve's info is gone once the request is upgraded.
    const remoteAddr = info?.remoteAddr;
    const limit = this.#options.maxConnections ?? Infinity;
    if (this.#connections.size + this.#pending >= limit) {
      this.#stats.refused++;
      return new Response("Too many connections\n", {
        status: 503,
        headers: { "retry-after": "5", connection: "close" },
      });
    }
    let upgraded;
    try {
      upgraded = upgradeWebSocket(request, this.#upgradeOptions);
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      return rejectionResponse(error);
    }
    const { connection, response } = upgraded;
    this.#pending++;
    const data = this.#options.data?.(request) ?? ({} as T);
    const member = new HubConnection(this, String(++this.#nextId), connection, data, remoteAddr);
    this.#watch(member);
    return response;
  };

  /** Unsent bytes a peer may hold before the slow-consumer policy looks at it. */
  get maxBackpressure(): number {
    return this.#maxBackpressure;
  }

  /** Open connections. */
  get size(): number {
    return this.#connections.size;
  }

  /** Every open connection. */
  get connections(): IterableIterator<HubConnection<T>> {
    return this.#connections.values();
  }

  /**
   * Adds a listener.
   *
   * @param event The event.
   * @param listener Called with the connection and the event's details.
   * @returns A function that removes the listener.
   */
  on<K extends keyof HubEvents<T>>(event: K, listener: HubEvents<T>[K]): () => void {
    // Copy on write: an event being emitted keeps iterating the list it started with.
    const listeners = this.#listeners as unknown as Record<string, unknown[]>;
    listeners[event] = [...listeners[event]!, listener];
    return () => {
      listeners[event] = listeners[event]!.filter((other) => other !== listener);
    };
  }

  /**
   * Finds a connection by id.
   *
   * @param id The id.
   * @returns The connection, if open.
   */
  get(id: string): HubConnection<T> | undefined {
    return this.#connections.get(id);
  }

  /**
   * Adds a connection to a room.
   *
   * @param connection The connection.
   * @param room The room's name.
   * @returns `false` if it was a member already, or is not open.
   */
  join(connection: HubConnection<T>, room: string): boolean {
    if (!this.#connections.has(connection.id) || connection.rooms.has(room)) return false;
    let members = this.#rooms.get(room);
    if (members === undefined) {
      this.#rooms.set(room, members = new Set());
      this.#subscribe(roomChannel(room));
    }
    members.add(connection);
    const state = stateOf(connection);
    if (state.rooms === NO_ROOMS) state.rooms = new Set();
    state.rooms.add(room);
    return true;
  }

  /**
   * Removes a connection from a room; an empty room disappears.
   *
   * @param connection The connection.
   * @param room The room's name.
   * @returns `false` if it was not a member.
   */
  leave(connection: HubConnection<T>, room: string): boolean {
    const members = this.#rooms.get(room);
    if (members === undefined || !members.delete(connection)) return false;
    stateOf(connection).rooms.delete(room);
    if (members.size === 0) {
      this.#rooms.delete(room);
      this.#unsubscribe(roomChannel(room));
    }
    return true;
  }

  /**
   * The number of members of a room.
   *
   * @param room The room's name.
   * @returns The count; 0 for a room that does not exist.
   */
  roomSize(room: string): number {
    return this.#rooms.get(room)?.size ?? 0;
  }

  /**
   * The members of a room.
   *
   * @param room The room's name.
   * @returns The members, in the order they joined.
   */
  members(room: string): HubConnection<T>[] {
    return [...this.#rooms.get(room) ?? []];
  }

  /** The rooms that have members. */
  get rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  /**
   * Sends a message to everyone, or to a room, optionally leaving one
   * connection out. The frame is built once and the same bytes are written
   * to every peer. With a backplane, the message is also published once for
   * the other nodes (unless `local`), which deliver it to their members.
   *
   * @param data Text, binary, or a message prepared once ({@linkcode prepareMessage}).
   * @param options The room and the connection to leave out.
   * @returns The number of this node's peers the message was queued for.
   */
  broadcast(data: SendData | PreparedMessage, options: BroadcastOptions<T> = {}): number {
    const room = options.room;
    const targets = room === undefined
      ? this.#connections.values()
      : this.#rooms.get(room)?.values();
    const backplane = options.local === true || this.#closing ? undefined : this.#backplane;
    if (targets === undefined && backplane === undefined) return 0;
    const except = typeof options.except === "string" ? options.except : options.except?.id;
    // Framed once for every peer, and compressed once for every peer with
    // the same permessage-deflate settings.
    // Hub-made messages are framed into the hub's arena, one after the
    // other: a peer's run of broadcasts is then written from there by
    // reference, one copy for every peer (FrameEncoder.encodeRaw).
    const message = data instanceof PreparedMessage ? data : placeInArena(
      new PreparedMessage(
        typeof data === "string" ? data : viewOf(data),
        options.compress === undefined ? {} : { compress: options.compress },
      ),
      this.#arena,
    );
    // Published first: what this node's peers get synchronously, the other
    // nodes' get as soon as their link carries it.
    backplane?.publish(
      room === undefined ? ALL_CHANNEL : roomChannel(room),
      encodeEnvelope(this.#node, message),
    );
    return targets === undefined ? 0 : this.#broadcastLocal(targets, message, except);
  }

  #broadcastLocal(
    targets: Iterable<HubConnection<T>>,
    message: PreparedMessage,
    except: string | undefined,
  ): number {
    let delivered = 0;
    for (const target of targets) {
      if (target.id === except) continue;
      if (this.#deliver(target, message, message.payload.length)) delivered++;
    }
    return delivered;
  }

  /** A publication from the backplane: another node's broadcast, for this node's members. */
  #received(channel: string, envelope: Uint8Array): void {
    // Redis echoes a subscriber's own publications: delivered already.
    if (publishedBy(envelope, this.#node)) return;
    const targets = channel === ALL_CHANNEL
      ? this.#connections.values()
      : channel.startsWith("room:")
      ? this.#rooms.get(channel.slice(5))?.values()
      : undefined;
    const message = decodeEnvelope(envelope);
    if (message === null) {
      this.#backplaneStats.malformed++;
      return;
    }
    this.#backplaneStats.received++;
    if (targets !== undefined) {
      this.#broadcastLocal(targets, placeInArena(message, this.#arena), undefined);
    }
  }

  #subscribe(channel: string): void {
    if (this.#backplane === undefined || this.#closing) return;
    this.#backplaneStats.subscriptions++;
    this.#backplane.subscribe(channel);
  }

  #unsubscribe(channel: string): void {
    if (this.#backplane === undefined || this.#closing) return;
    this.#backplaneStats.subscriptions--;
    this.#backplane.unsubscribe(channel);
  }

  /**
   * Sends to one connection under the backpressure policy; what
   * {@linkcode HubConnection.send} calls.
   *
   * @param target The connection.
   * @param data Text, binary, or a prepared message.
   * @param options Whether to compress it.
   * @returns Whether the message was queued.
   */
  sendTo(
    target: HubConnection<T>,
    data: SendData | PreparedMessage,
    options?: SendMessageOptions,
  ): boolean {
    const size = typeof data === "string"
      ? utf8Length(data)
      : data instanceof PreparedMessage
      ? data.payload.length
      : viewOf(data).length;
    return this.#deliver(target, data, size, options);
  }

  /** The hub's figures, as a plain object. */
  stats(): HubStats {
    const rooms: Record<string, number> = {};
    for (const [name, members] of this.#rooms) rooms[name] = members.size;
    const stats: HubStats = {
      connections: this.#connections.size,
      rooms,
      ...this.#stats,
      closes: { ...this.#closes },
    };
    if (this.#backplane !== undefined) {
      stats.backplane = { ...this.#backplane.stats(), ...this.#backplaneStats };
    }
    return stats;
  }

  /**
   * Closes every connection and waits for them, then closes the backplane,
   * if any. Broadcasts from here on reach this node's members only.
   *
   * @param code The close code. Default 1001 (going away).
   * @param reason The reason.
   */
  async close(code: number = CloseCode.GoingAway, reason = "hub closing"): Promise<void> {
    const backplane = this.#closing ? undefined : this.#backplane;
    this.#closing = true;
    await Promise.all([...this.#connections.values()].map((member) => member.close(code, reason)));
    if (backplane !== undefined) {
      this.#backplaneStats.subscriptions = 0;
      await backplane.close();
    }
  }

  #deliver(
    target: HubConnection<T>,
    data: SendData | PreparedMessage,
    size: number,
    options?: SendMessageOptions,
  ): boolean {
    const connection = target.connection;
    if (connection.readyState !== ReadyState.OPEN) return false;
    const unsent = connection.bufferedAmount + size;
    if (unsent > this.#maxBackpressure && !this.#admit(target, unsent)) return false;
    if (data instanceof PreparedMessage) connection.sendPrepared(data);
    else connection.send(data, options);
    this.#stats.messagesOut++;
    this.#stats.bytesOut += size;
    return true;
  }

  /**
   * Whether a send that takes `target` over maxBackpressure goes ahead: yes
   * during the grace period, which starts now if it has not; no once the
   * peer stayed over past it ("drop" skips, "close" closes), or past the
   * hard ceiling.
   */
  #admit(target: HubConnection<T>, unsent: number): boolean {
    const state = stateOf(target);
    if (state.dropping || this.#grace === 0 || unsent > HARD_LIMIT * this.#maxBackpressure) {
      this.#applyPolicy(target, state);
      return false;
    }
    if (state.slowTimer === undefined) {
      state.slowMark = progressOf(target.connection);
      state.slowTimer = this.#clock.setTimeout(() => this.#judge(target, state), this.#grace);
    }
    return true;
  }

  /**
   * At the end of the grace period: still over the mark, and nothing taken
   * meanwhile, is slow. A peer that took some is given another period: a
   * burst to many peers can take longer than one to drain, and the hard
   * limit bounds what a peer that reads too slowly can hold.
   */
  #judge(target: HubConnection<T>, state: MemberState): void {
    state.slowTimer = undefined;
    const connection = target.connection;
    if (connection.readyState !== ReadyState.OPEN) return;
    if (connection.bufferedAmount <= this.#maxBackpressure) {
      state.dropping = false;
      return;
    }
    const progress = progressOf(connection);
    if (!state.dropping && progress > state.slowMark!) {
      state.slowMark = progress;
      state.slowTimer = this.#clock.setTimeout(() => this.#judge(target, state), this.#grace);
      return;
    }
    this.#applyPolicy(target, state);
    // A peer skipped by "drop" is looked at again after another period.
    if (state.dropping) {
      state.slowTimer = this.#clock.setTimeout(() => this.#judge(target, state), this.#grace);
    }
  }

  #applyPolicy(target: HubConnection<T>, state: MemberState): void {
    if (this.#dropPolicy) {
      state.dropping = true;
      this.#stats.dropped++;
      return;
    }
    if (state.closeAs !== undefined) return;
    // RFC 6455 §7.4.1: 1008, "a message that violates its policy": here,
    // not reading fast enough.
    state.closeAs = { code: CloseCode.PolicyViolation, reason: "slow consumer" };
    this.#emit("error", target, new SlowConsumerError(this.#maxBackpressure));
    const connection = target.connection;
    if (connection instanceof SocketConnection) {
      // What it has not read is dropped: the close frame goes next.
      connection.closeDiscarding(CloseCode.PolicyViolation, "slow consumer").catch(() => {});
    } else {
      connection.close(CloseCode.PolicyViolation, "slow consumer").catch(() => {});
    }
  }

  #watch(member: HubConnection<T>): void {
    const watcher = new Hub.#Watcher(this, member, stateOf(member));
    member.connection.listen(watcher);
    // A connection adopted after it opened (it cannot be, today) would not fire "open".
    if (member.connection.readyState === ReadyState.OPEN) watcher.open();
  }

  /**
   * A connection's listener: one object with methods, not a closure per
   * event, so that an idle member costs little.
   */
  static readonly #Watcher = class Watcher implements ConnectionListener {
    opened = false;
    constructor(
      // deno-lint-ignore no-explicit-any
      readonly hub: Hub<any>,
      // deno-lint-ignore no-explicit-any
      readonly member: HubConnection<any>,
      readonly state: MemberState,
    ) {}

    open(): void {
      if (this.opened) return;
      this.opened = true;
      const { hub, member } = this;
      hub.#pending--;
      hub.#connections.set(member.id, member);
      if (hub.#connections.size === 1) hub.#subscribe(ALL_CHANNEL);
      hub.#emit("open", member);
    }

    message(data: Message): void {
      const stats = this.hub.#stats;
      stats.messagesIn++;
      stats.bytesIn += typeof data === "string" ? utf8Length(data) : data.length;
      this.hub.#emit("message", this.member, data);
    }

    ping(data: Uint8Array): void {
      this.hub.#emit("ping", this.member, data);
    }

    pong(data: Uint8Array): void {
      this.hub.#emit("pong", this.member, data);
    }

    error(error: Error): void {
      this.hub.#emit("error", this.member, error);
    }

    close(info: ConnectionCloseInfo): void {
      const { hub, member } = this;
      if (!this.opened) {
        hub.#pending--;
        return;
      }
      hub.#connections.delete(member.id);
      if (hub.#connections.size === 0) hub.#unsubscribe(ALL_CHANNEL);
      if (this.state.slowTimer !== undefined) hub.#clock.clearTimeout(this.state.slowTimer);
      for (const room of [...member.rooms]) hub.leave(member, room);
      const { code, reason } = this.state.closeAs ?? info;
      hub.#closes[code] = (hub.#closes[code] ?? 0) + 1;
      hub.#emit("close", member, code, reason);
    }
  };

  #emit<K extends keyof HubEvents<T>>(event: K, ...args: Parameters<HubEvents<T>[K]>): void {
    for (const listener of this.#listeners[event]) {
      try {
        (listener as (...args: Parameters<HubEvents<T>[K]>) => void)(...args);
      } catch (error) {
        reportError(error);
      }
    }
  }
}
