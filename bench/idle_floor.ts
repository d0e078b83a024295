// Copyright 2026 the Duplex authors. MIT license.
// Memory per idle WebSocket connection, and the floor under it: server RSS
// growth per connection over the first 5,000 idle connections (the peer
// benchmark's figure) and over 5,000 more (the marginal cost, once the
// runtime's fixed costs, such as V8's young generation, have been paid).
// Servers: Duplex serve, Deno native, and two that do nothing but answer the
// handshake and keep a read pending, on Deno.listen and on node:net.
// Usage: deno run -A bench/idle_floor.ts [--runs N]
import { parseArgs } from "node:util";
import { openMany, rssKiB, startPeer } from "./load.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "2" } },
});
const SERVERS = ["floor_listen", "floor_node_net", "duplex", "deno_native"];
const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));

console.log("| server | KiB/connection, first 5,000 | KiB/connection, next 5,000 |");
console.log("|---|---:|---:|");
for (let run = 0; run < Number(args.runs); run++) {
  for (const server of SERVERS) {
    const peer = await startPeer(server);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = rssKiB(peer.pid);
    const first = await openMany("127.0.0.1", peer.port, 5000);
    await settle();
    const middle = rssKiB(peer.pid);
    const second = await openMany("127.0.0.1", peer.port, 5000);
    await settle();
    const end = rssKiB(peer.pid);
    console.log(
      `| ${server} | ${((middle - start) / 5000).toFixed(1)} | ${
        ((end - middle) / 5000).toFixed(1)
      } |`,
    );
    for (const conn of [...first, ...second]) conn.close();
    await peer.stop();
  }
}
