// Copyright 2026 the Duplex authors. MIT license.
// Memory per idle connection: 5,000 connections joined to a hub (/broadcast) or plain
// (/), RSS delta after a second, for Duplex and for Deno native with a Set.
// Usage: deno run -A bench/idle_hub.ts
import { openMany, rssKiB, startPeer } from "./load.ts";
for (
  const [server, path] of [["duplex", "/broadcast"], ["duplex", "/"], ["deno_native", "/broadcast"]]
) {
  for (let run = 0; run < 2; run++) {
    const peer = await startPeer(server!);
    await new Promise((r) => setTimeout(r, 300));
    const before = rssKiB(peer.pid);
    const conns = await openMany("127.0.0.1", peer.port, 5000, false, path);
    await new Promise((r) => setTimeout(r, 1000));
    console.log(
      `${server} ${path}: ${
        ((rssKiB(peer.pid) - before) / 5000).toFixed(1)
      } KiB per idle connection`,
    );
    for (const c of conns) c.close();
    await peer.stop();
  }
}
