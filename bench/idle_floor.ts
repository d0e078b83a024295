// Copyright 2026 the Duplex authors. MIT license.
// Memory per idle WebSocket connection, and the floor under it: server RSS
// growth per connection over the first 5,000 idle connections (the peer
// benchmark's figure) and over 5,000 more (the marginal cost, once the
// runtime's fixed costs, such as V8's young generation, have been paid).
// Servers: Duplex serve (the pull-based echo), Deno native, Bun, and two that
// do nothing but answer the handshake and keep a read pending, on Deno.listen
// and on node:net. Connections come from bench/wsload.c (connect mode); the
// server runs pinned to CPU 1, the generator to CPU 0.
// Usage: deno run -A bench/idle_floor.ts [--runs N] [--servers a,b]
import { parseArgs } from "node:util";
import { rssKiB, runWsload, startPeer } from "./load.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "2" },
    servers: { type: "string", default: "floor_listen,floor_node_net,duplex,deno_native,bun" },
  },
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));

/** Opens 5,000 connections and holds them; resolves once they are open. */
async function open(port: number): Promise<() => Promise<void>> {
  const release = Promise.withResolvers<void>();
  const opened = Promise.withResolvers<void>();
  const running = runWsload(
    ["connect", "--port", String(port), "--connections", "5000", "--concurrency", "64"],
    { cpu: "0", hold: release.promise, onReport: () => opened.resolve() },
  );
  await Promise.race([opened.promise, running]);
  return async () => {
    release.resolve();
    await running;
  };
}

console.log("| server | KiB/connection, first 5,000 | KiB/connection, next 5,000 |");
console.log("|---|---:|---:|");
for (let run = 0; run < Number(args.runs); run++) {
  for (const server of args.servers.split(",")) {
    const peer = await startPeer(server, true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = rssKiB(peer.pid);
    const closeFirst = await open(peer.port);
    await settle();
    const middle = rssKiB(peer.pid);
    const closeSecond = await open(peer.port);
    await settle();
    const end = rssKiB(peer.pid);
    console.log(
      `| ${server} | ${((middle - start) / 5000).toFixed(1)} | ${
        ((end - middle) / 5000).toFixed(1)
      } |`,
    );
    await closeFirst();
    await closeSecond();
    await peer.stop();
  }
}
