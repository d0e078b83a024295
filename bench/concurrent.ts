// Copyright 2026 the Duplex authors. MIT license.
// 1,000 concurrent echoing connections (32 B text, 10 in flight each): messages/s and
// server RSS, Duplex serve against Deno native, 3 runs each.
// Usage: deno run -A bench/concurrent.ts
import { openMany, runLoad } from "./load.ts";
for (const server of ["duplex", "deno_native"]) {
  for (let run = 0; run < 3; run++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(`./servers/${server}.ts`, import.meta.url).pathname, "0"],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/ready \d+/.test(out)) out += (await reader.read()).value;
    const port = Number(/ready (\d+)/.exec(out)![1]);
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`))![1]);
    const base = rss();
    const conns = await openMany("127.0.0.1", port, 1000);
    const r = await runLoad({
      hostname: "127.0.0.1",
      port,
      connections: 1000,
      size: 32,
      binary: false,
      window: 10,
      duration: 5000,
    }, conns);
    const peak = rss();
    console.log(
      `${server} run ${run + 1}: ${(r.messages / r.seconds / 1000).toFixed(0)}k msg/s, server RSS ${
        (peak / 1024).toFixed(0)
      } MiB (${((peak - base) / 1000).toFixed(1)} KiB/connection under load)`,
    );
    for (const c of conns) c.close();
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  }
}
