// Copyright 2026 the Duplex authors. MIT license.
// The server that tests/attack_test.ts attacks, run as a subprocess so that
// its memory can be measured on its own and its file descriptors limited
// (`ulimit -n`) without limiting the test's.
//
// Usage: deno run --allow-net tests/_attack_server.ts --mode echo|hub [--request-timeout MS]
//
// It prints one JSON line, {"port": N}, once listening; then each line it
// reads on stdin is a command: "status" prints one JSON line with what the
// test asserts on (see Status), "quit" exits. Nothing else goes to stdout.
// It stays alive after `server.finished` resolves, so that a test can ask
// whether it did: the old accept loop ended on the first accept error.

import { parseArgs } from "node:util";
import { Hub, serve, type ServeHandler, upgradeWebSocket } from "../mod.ts";

/** What "status" prints. */
export interface Status {
  /** Whether `server.finished` has resolved. */
  finished: boolean;
  /** The errors passed to `onError`, counted by `name: message`. */
  errors: Record<string, number>;
  /** Pings received on every WebSocket. */
  pings: number;
  /** `Deno.memoryUsage().rss`, in bytes. */
  rss: number;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mode: { type: "string", default: "echo" },
    "request-timeout": { type: "string", default: "10000" },
  },
});

// Deno sets up its signal handling on first use and panics if it finds no
// file descriptor then (ext/signals, Deno 2.9.6): set it up while some are
// free, before the EMFILE test takes them all.
const noop = () => {};
Deno.addSignalListener("SIGUSR2", noop);

const errors: Record<string, number> = {};
let pings = 0;
let finished = false;

/** A plain echo: every message comes back; plain requests are answered with their body's size. */
const echo: ServeHandler = async (request) => {
  if (request.headers.get("upgrade") === null) {
    const body = await request.arrayBuffer();
    return new Response(`got ${body.byteLength}`);
  }
  const { connection, response } = upgradeWebSocket(request);
  connection.listen({ ping: () => pings++ });
  (async () => {
    for await (const message of connection) await connection.send(message);
  })().catch(() => {
    // A connection that failed is closed already; the attack tests expect many.
  });
  return response;
};

function hubHandler(): ServeHandler {
  const hub = new Hub();
  hub.on("message", (member, message) => member.send(message));
  hub.on("ping", () => pings++);
  return hub.handler;
}

const server = serve({
  hostname: "127.0.0.1",
  port: 0,
  requestTimeout: Number(values["request-timeout"]),
  onListen({ port }) {
    console.log(JSON.stringify({ port }));
  },
  onError(error) {
    // Accept errors come here too once the accept loop survives them; the
    // return value only matters for a handler's exception.
    const key = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    errors[key] = (errors[key] ?? 0) + 1;
    return new Response("Internal Server Error", { status: 500 });
  },
}, values.mode === "hub" ? hubHandler() : echo);
server.finished.then(() => finished = true);

const decoder = new TextDecoder();
let pending = "";
const buffer = new Uint8Array(1024);
// Deno.stdin.read, not a stream: a read needs no new file descriptor, so the
// test can ask for status while the server has none left (EMFILE).
for (let n; (n = await Deno.stdin.read(buffer)) !== null;) {
  pending += decoder.decode(buffer.subarray(0, n), { stream: true });
  let newline;
  while ((newline = pending.indexOf("\n")) >= 0) {
    const command = pending.slice(0, newline).trim();
    pending = pending.slice(newline + 1);
    if (command === "quit") Deno.exit(0);
    if (command === "status") {
      const status: Status = { finished, errors, pings, rss: Deno.memoryUsage().rss };
      console.log(JSON.stringify(status));
    }
  }
}
Deno.exit(0);
