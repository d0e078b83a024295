// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer for bench/idle_floor.ts: the same floor as floor_listen.ts,
// on node:net instead of Deno.listen. Prints "ready PORT".
import net from "node:net";
const RESPONSE = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
  "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
const server = net.createServer((socket) => {
  socket.on("error", () => {});
  socket.once("data", () => {
    socket.write(RESPONSE);
    socket.on("data", () => {});
  });
});
server.listen(Number(Deno.args[0] ?? 0), "127.0.0.1", () => {
  console.log(`ready ${(server.address() as net.AddressInfo).port}`);
});
