// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Duplex's serve() echo server. Prints "ready PORT".
import { serve, upgradeWebSocket } from "../../mod.ts";

const port = Number(Deno.args[0] ?? 0);
serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request) => {
    const { connection, response } = upgradeWebSocket(request, { idleTimeout: 0 });
    // Push delivery: each message is echoed as it is decoded, and replies to
    // one read go out together in the next write.
    connection.listen({ message: (message) => connection.send(message) });
    return response;
  },
);
