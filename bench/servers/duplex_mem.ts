// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer for memory studies: the pull-based echo of
// examples/echo_server.ts, plus GET /memory (Deno.memoryUsage() as JSON, after
// a full GC when run with --v8-flags=--expose-gc). Prints "ready PORT".
import { serve, upgradeWebSocket } from "../../mod.ts";

const port = Number(Deno.args[0] ?? 0);
serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request) => {
    if (new URL(request.url).pathname === "/memory") {
      (globalThis as { gc?: () => void }).gc?.();
      return Response.json(Deno.memoryUsage());
    }
    const { connection, response } = upgradeWebSocket(request);
    (async () => {
      for await (const message of connection) await connection.send(message);
    })().catch(() => {});
    return response;
  },
);
