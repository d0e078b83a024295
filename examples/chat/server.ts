// Copyright 2026 the Duplex authors. MIT license.
/**
 * The chat demo: one HTML page and a WebSocket endpoint at `/ws`, on a
 * Duplex {@linkcode Hub}. Nicknames, rooms (`/join name`), join and leave
 * notices, the last 50 messages of a room replayed to a newcomer, and the
 * list of who is in the room. No external service, no build step.
 *
 * Usage:
 *
 * ```sh
 * # one process, no external service (deno task start)
 * deno run --allow-net --allow-read examples/chat/server.ts --port 8080
 * # N Workers on one port (SO_REUSEPORT), one chat over BroadcastChannel
 * deno run -A --unstable-net examples/chat/server.ts --port 8080 --workers 2
 * # one node of a chat that spans processes and machines, over Redis
 * deno run -A examples/chat/server.ts --port 8080 --redis redis://127.0.0.1:6379
 * # every core, the Deno way (examples/chat/serve.ts)
 * DENO_JOBS=2 deno serve --parallel -A --port 8080 examples/chat/serve.ts
 * ```
 *
 * On a backplane, a line said on one node reaches the room's members on
 * every node. Each node keeps its own history and lists its own members
 * (the `members` message is local); the `joined` message names the node.
 *
 * {@linkcode createChat} makes the hub and the request handler without
 * listening, so that `tests/chat_test.ts` runs them through the testing kit
 * with no sockets; {@linkcode startChat} serves them.
 *
 * The wire protocol is JSON. The page sends `{ "type": "say", "text": … }`,
 * `{ "type": "join", "room": … }` and `{ "type": "nick", "nick": … }`; the
 * server sends `joined`, `history`, `message`, `notice` and `members`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type Backplane,
  Hub,
  type HubConnection,
  serve,
  type ServeHandlerInfo,
  type Server,
} from "../../mod.ts";

/** One chat line, as kept in a room's history. */
export interface ChatMessage {
  /** The sender's nickname. */
  nick: string;
  /** The text. */
  text: string;
  /** When it was said, in milliseconds since the epoch. */
  at: number;
}

/** What the hub keeps of each connection. */
export interface Member {
  /** The nickname. */
  nick: string;
  /** The room it is in. */
  room: string;
}

/** Options for {@linkcode createChat}. */
export interface ChatSetup {
  /** The time a message is stamped with, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Joins this chat to others on a backplane, as one chat. Default: none. */
  backplane?: Backplane;
  /** This node's name in `joined` messages. Default: a random one. */
  node?: string;
}

/** The chat's request handler: for `serve()` and for `Deno.serve`. */
export type ChatHandler = (
  request: Request,
  info?: ServeHandlerInfo | Deno.ServeHandlerInfo,
) => Response;

/** The chat without a server: its hub, and the handler for every request. */
export interface ChatApp {
  /** The hub behind `/ws`. */
  hub: Hub<Member>;
  /** Serves `/` (the page), `/ws` (the WebSocket) and `/stats`. */
  handler: ChatHandler;
}

/** Options for {@linkcode startChat}. */
export interface ChatOptions extends ChatSetup {
  /** The port; 0 picks a free one. Default 8080. */
  port?: number;
  /** The address to listen on. Default `"127.0.0.1"`. */
  hostname?: string;
  /** Called once listening. Default: print the URL. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Listen with `SO_REUSEPORT` (needs `--unstable-net`). Default `false`. */
  reusePort?: boolean;
}

/** A running chat server. */
export interface Chat {
  /** The HTTP server. */
  server: Server;
  /** The hub behind `/ws`. */
  hub: Hub<Member>;
}

const HISTORY = 50;
const MAX_TEXT = 2000;
const page = await Deno.readTextFile(new URL("./index.html", import.meta.url));

/** Keeps names short and printable. */
function clean(value: unknown, fallback: string, max = 24): string {
  if (typeof value !== "string") return fallback;
  // deno-lint-ignore no-control-regex
  const text = value.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, max);
  return text === "" ? fallback : text;
}

/**
 * Makes the chat's hub and request handler, without listening.
 *
 * @param setup The clock of the messages' time stamps.
 * @returns The hub and the handler.
 */
export function createChat(setup: ChatSetup = {}): ChatApp {
  const now = setup.now ?? Date.now;
  const node = setup.node ?? crypto.randomUUID().slice(0, 8);
  const history = new Map<string, ChatMessage[]>();
  let guests = 0;
  const hub = new Hub<Member>({
    maxMessageSize: 16 * 1024,
    maxBackpressure: 256 * 1024,
    backpressure: "close",
    ...(setup.backplane ? { backplane: setup.backplane } : {}),
    data: (request) => {
      const url = new URL(request.url);
      return {
        nick: clean(url.searchParams.get("nick"), `guest-${++guests}`),
        room: clean(url.searchParams.get("room"), "lobby"),
      };
    },
  });

  const send = (connection: HubConnection<Member>, message: unknown) =>
    connection.send(JSON.stringify(message));
  const toRoom = (room: string, message: unknown, except?: HubConnection<Member>) =>
    hub.broadcast(JSON.stringify(message), { room, ...(except ? { except } : {}) });
  // This node's members only: a backplane would carry one node's list to
  // the others.
  const sendMembers = (room: string) =>
    hub.broadcast(
      JSON.stringify({
        type: "members",
        room,
        nicks: hub.members(room).map((member) => member.data.nick).sort(),
      }),
      { room, local: true },
    );

  const enter = (connection: HubConnection<Member>, room: string) => {
    const { nick } = connection.data;
    const previous = connection.rooms.has(connection.data.room) ? connection.data.room : undefined;
    if (previous === room) return;
    if (previous !== undefined) {
      connection.leave(previous);
      toRoom(previous, { type: "notice", room: previous, text: `${nick} left` });
      sendMembers(previous);
    }
    connection.data.room = room;
    connection.join(room);
    send(connection, { type: "joined", room, nick, node });
    send(connection, { type: "history", room, messages: history.get(room) ?? [] });
    toRoom(room, { type: "notice", room, text: `${nick} joined` });
    sendMembers(room);
  };

  hub.on("open", (connection) => enter(connection, connection.data.room));
  hub.on("message", (connection, data) => {
    if (typeof data !== "string") return;
    let command: { type?: unknown; text?: unknown; room?: unknown; nick?: unknown };
    try {
      command = JSON.parse(data);
    } catch {
      return;
    }
    const { room, nick } = connection.data;
    if (command.type === "say") {
      const text = clean(command.text, "", MAX_TEXT);
      if (text === "") return;
      const message: ChatMessage = { nick, text, at: now() };
      const lines = history.get(room) ?? [];
      lines.push(message);
      if (lines.length > HISTORY) lines.shift();
      history.set(room, lines);
      toRoom(room, { type: "message", room, ...message });
    } else if (command.type === "join") {
      enter(connection, clean(command.room, "lobby"));
    } else if (command.type === "nick") {
      const renamed = clean(command.nick, nick);
      if (renamed === nick) return;
      connection.data.nick = renamed;
      toRoom(room, { type: "notice", room, text: `${nick} is now ${renamed}` });
      sendMembers(room);
    }
  });
  hub.on("close", (connection) => {
    const { nick, room } = connection.data;
    toRoom(room, { type: "notice", room, text: `${nick} left` });
    sendMembers(room);
  });

  const handler: ChatHandler = (request, info) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/ws") return hub.handler(request, info);
    if (pathname === "/" || pathname === "/index.html") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (pathname === "/stats") return Response.json(hub.stats());
    return new Response("Not found\n", { status: 404 });
  };
  return { hub, handler };
}

/**
 * Starts the chat server.
 *
 * @param options Where to listen.
 * @returns The server and its hub.
 */
export function startChat(options: ChatOptions = {}): Chat {
  const { hub, handler } = createChat(options);
  const server = serve({
    ...(options.reusePort ? { reusePort: true } : {}),
    port: options.port ?? 8080,
    hostname: options.hostname ?? "127.0.0.1",
    onListen: options.onListen ??
      (({ hostname, port }) => console.log(`Chat on http://${hostname}:${port}/`)),
  }, handler);
  return { server, hub };
}

/** What `--redis` and `--workers` ask for: see {@linkcode runChat}. */
export interface ChatCommand {
  /** The port. */
  port: number;
  /** The address to listen on. */
  hostname: string;
  /** A Redis URL to join a chat across processes, or none. */
  redis?: string;
  /** Listen with `SO_REUSEPORT`, on the `BroadcastChannel` backplane unless `redis`. */
  worker?: boolean;
}

/**
 * Starts one chat node as a command line asks: on Redis (loaded only then)
 * with `redis`, on `BroadcastChannel` as one of several Workers, or alone.
 *
 * @param command The port, the address, and the backplane.
 * @returns The server and its hub.
 */
export async function runChat(command: ChatCommand): Promise<Chat> {
  let backplane: Backplane | undefined;
  if (command.redis !== undefined) {
    const { RedisBackplane } = await import("../../redis.ts");
    backplane = new RedisBackplane({ url: command.redis, namespace: "chat" });
  } else if (command.worker) {
    const { BroadcastChannelBackplane } = await import("../../mod.ts");
    backplane = new BroadcastChannelBackplane({ namespace: "chat" });
  }
  return startChat({
    port: command.port,
    hostname: command.hostname,
    ...(command.worker ? { reusePort: true } : {}),
    ...(backplane ? { backplane } : {}),
  });
}

/** Closes the hub (1001 to every member), then the server. */
export async function stopChat(chat: Chat): Promise<void> {
  await chat.hub.close(1001, "server shutting down");
  await chat.server.shutdown();
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "8080" },
      hostname: { type: "string", default: "127.0.0.1" },
      redis: { type: "string" },
      workers: { type: "string", default: "1" },
    },
  });
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) {
    console.error(`--workers must be a whole number from 1, got ${values.workers}`);
    Deno.exit(2);
  }
  const command: ChatCommand = {
    port: Number(values.port),
    hostname: values.hostname,
    ...(values.redis !== undefined ? { redis: values.redis } : {}),
  };
  let stop: () => Promise<void>;
  if (workers === 1) {
    const chat = await runChat(command);
    stop = () => stopChat(chat);
  } else {
    // N Workers, each a node listening on the same port (SO_REUSEPORT).
    const spawned = Array.from({ length: workers }, () => {
      const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      const stopped = new Promise<void>((resolve) => {
        worker.onmessage = (event) => {
          if (event.data === "ready") worker.postMessage({ ...command, worker: true });
          if (event.data === "stopped") resolve();
          // A node that cannot start (no --unstable-net, the port taken): say why, in one line.
          if (typeof event.data === "object" && event.data?.error !== undefined) {
            console.error(`chat: ${event.data.error}`);
            Deno.exit(2);
          }
        };
      });
      return { worker, stopped };
    });
    stop = async () => {
      for (const { worker } of spawned) worker.postMessage("stop");
      await Promise.all(spawned.map(({ stopped }) => stopped));
      for (const { worker } of spawned) worker.terminate();
    };
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      stop().then(() => Deno.exit(0));
    });
  }
}
