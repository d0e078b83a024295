// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: a raw Deno.listen TCP echo, the ceiling for any
// TypeScript WebSocket server on Deno. Prints "ready PORT".
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
console.log(`ready ${listener.addr.port}`);
for await (const conn of listener) {
  (async () => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        for (let offset = 0; offset < n;) offset += await conn.write(buffer.subarray(offset, n));
      }
    } catch {
      // The client went away.
    } finally {
      conn.close();
    }
  })();
}
