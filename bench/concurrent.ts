// Copyright 2026 the Duplex authors. MIT license.
// 1,000 concurrent echoing connections (32 B text, 10 in flight each): messages/s and
// server RSS, Duplex serve against Deno native, 3 runs each.
// Usage: deno run -A bench/concurrent.ts
import { openMany, rssKiB, runLoad, startPeer } from "./load.ts";
for (const server of ["duplex", "deno_native"]) {
  for (let run = 0; run < 3; run++) {
    const peer = await startPeer(server);
    const base = rssKiB(peer.pid);
    const conns = await openMany("127.0.0.1", peer.port, 1000);
    const r = await runLoad({
      hostname: "127.0.0.1",
      port: peer.port,
      connections: 1000,
      size: 32,
      binary: false,
      window: 10,
      duration: 5000,
    }, conns);
    const peak = rssKiB(peer.pid);
    console.log(
      `${server} run ${run + 1}: ${(r.messages / r.seconds / 1000).toFixed(0)}k msg/s, server RSS ${
        (peak / 1024).toFixed(0)
      } MiB (${((peak - base) / 1000).toFixed(1)} KiB/connection under load)`,
    );
    for (const c of conns) c.close();
    await peer.stop();
  }
}
