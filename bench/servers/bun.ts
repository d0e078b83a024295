// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Bun's WebSocket server (uWebSockets inside), run by the
// `bun` binary from the npm package of that name. `/` echoes; `/broadcast`
// subscribes to one topic and every message is published to it (Bun's own
// chat benchmark does this). Prints "ready PORT". Not type-checked by Deno
// (bench/peers.ts runs it with bun; `Bun` is Bun's global).
// deno-lint-ignore-file no-explicit-any
export {};
declare const Bun: any;
declare const process: any;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  fetch(request: Request, server: any) {
    const broadcast = new URL(request.url).pathname === "/broadcast";
    if (server.upgrade(request, { data: { broadcast } })) return undefined;
    return new Response("WebSocket only", { status: 426 });
  },
  websocket: {
    idleTimeout: 0,
    perMessageDeflate: false,
    open(ws: any) {
      if (ws.data.broadcast) ws.subscribe("room");
    },
    message(ws: any, message: string | Uint8Array) {
      if (ws.data.broadcast) server.publish("room", message);
      else ws.send(message);
    },
  },
});
console.log(`ready ${server.port}`);
