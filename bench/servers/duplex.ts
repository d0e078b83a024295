// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Duplex's serve(). `/` echoes with the pull-based loop of
// examples/echo_server.ts (what the docs teach); `/broadcast` joins a hub
// with default options that sends every message to every member (the chat
// scenario). Prints "ready PORT".
import { Hub, serve, upgradeWebSocket } from "../../mod.ts";

// DUPLEX_COMPRESSION: the compression option as JSON (bench/compression.ts); default off.
const compression = JSON.parse(Deno.env.get("DUPLEX_COMPRESSION") ?? "null") ?? undefined;
const hub = new Hub({
  pingInterval: 0,
  ...(compression !== undefined ? { compression } : {}),
});
hub.on("message", (_connection, message) => hub.broadcast(message));

const port = Number(Deno.args[0] ?? 0);
serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request, info) => {
    if (new URL(request.url).pathname === "/broadcast") return hub.handler(request, info);
    const { connection, response } = upgradeWebSocket(request, {
      idleTimeout: 0,
      ...(compression !== undefined ? { compression } : {}),
    });
    (async () => {
      for await (const message of connection) await connection.send(message);
    })().catch(() => {
      // A connection that failed is closed already, with its close code sent.
    });
    return response;
  },
);
