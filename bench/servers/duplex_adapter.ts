// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Duplex's upgradeWebSocket() inside Deno.serve (the
// adapter over Deno's native socket). Prints "ready PORT".
import { upgradeWebSocket } from "../../mod.ts";

const port = Number(Deno.args[0] ?? 0);
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request) => {
    const { connection, response } = upgradeWebSocket(request, { idleTimeout: 0 });
    connection.listen({ message: (message) => connection.send(message) });
    return response;
  },
);
