// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Duplex's upgradeWebSocket() and Hub inside Deno.serve
// (the adapter over Deno's native socket). Prints "ready PORT".
import { Hub, upgradeWebSocket } from "../../mod.ts";

const hub = new Hub({ pingInterval: 0, maxBackpressure: 64 * 1024 * 1024 });
hub.on("message", (_connection, message) => hub.broadcast(message));

const port = Number(Deno.args[0] ?? 0);
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request, info) => {
    if (new URL(request.url).pathname === "/broadcast") return hub.handler(request, info);
    const { connection, response } = upgradeWebSocket(request, { idleTimeout: 0 });
    connection.listen({ message: (message) => connection.send(message) });
    return response;
  },
);
