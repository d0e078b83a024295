// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Duplex's serve(). `/` echoes; `/broadcast` joins a hub
// that sends every message to every member. Prints "ready PORT".
import { Hub, serve, upgradeWebSocket } from "../../mod.ts";

// DUPLEX_COMPRESSION: the compression option as JSON (bench/compression.ts); default off.
const compression = JSON.parse(Deno.env.get("DUPLEX_COMPRESSION") ?? "null") ?? undefined;
const hub = new Hub({
  pingInterval: 0,
  maxBackpressure: 64 * 1024 * 1024,
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
    // Push delivery: each message is echoed as it is decoded, and the replies
    // to one read go out together in the next write.
    connection.listen({ message: (message) => connection.send(message) });
    return response;
  },
);
