// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: a raw TCP echo on node:net, to set beside bench/servers/tcp.ts
// (Deno.listen) when weighing node:net as a transport. Prints "ready PORT".
import { createServer } from "node:net";

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("error", () => socket.destroy());
});
server.listen(Number(Deno.args[0] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  console.log(`ready ${typeof address === "object" && address !== null ? address.port : 0}`);
});
