// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer for bench/idle_floor.ts: the least any WebSocket server on
// Deno.listen can hold per idle connection. It answers one request with a
// fixed 101 (right for the load generator's fixed key only), then keeps a
// 512-byte read pending, as an idle connection must. Prints "ready PORT".
const RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
);
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
console.log(`ready ${listener.addr.port}`);
for await (const conn of listener) {
  (async () => {
    try {
      await conn.read(new Uint8Array(4096));
      await conn.write(RESPONSE);
      const buffer = new Uint8Array(512);
      while ((await conn.read(buffer)) !== null);
    } catch {
      // The client went away.
    } finally {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  })();
}
