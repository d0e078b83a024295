// Copyright 2026 the Duplex authors. MIT license.
/**
 * An echo server: every text or binary message comes back unchanged, with
 * the same type, on any path.
 *
 * Usage: deno run -A examples/echo_server.ts --port N [--hostname H]
 *
 * It prints its URL once listening and shuts down gracefully (1001 Going
 * Away to every client) on SIGINT or SIGTERM.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { serve, upgradeWebSocket } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8080" },
    hostname: { type: "string", default: "127.0.0.1" },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`echo_server: --port must be a port number, got ${values.port}`);
  Deno.exit(2);
}

const server = serve({
  port,
  hostname: values.hostname,
  onListen({ hostname, port }) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    console.log(`ws://${host}:${port}/`);
  },
}, (request) => {
  if (request.headers.get("upgrade") === null) {
    return new Response("This is a WebSocket echo server.\n", {
      status: 426,
      headers: { upgrade: "websocket" },
    });
  }
  const { connection, response } = upgradeWebSocket(request);
  (async () => {
    // Pull-based: a client that does not read its echoes slows its own
    // messages down instead of growing the server's memory.
    for await (const message of connection) await connection.send(message);
  })().catch(() => {
    // A connection that failed (a protocol violation, a reset) is closed
    // already, with the right close code sent to the client.
  });
  return response;
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    server.shutdown().then(() => Deno.exit(0));
  });
}
await server.finished;
