// Copyright 2026 the Duplex authors. MIT license.
// Memory per idle connection: 5,000 connections joined to a hub (/broadcast) or plain
// (/), RSS delta after a second, for Duplex and for Deno native with a Set.
// Usage: deno run -A bench/idle_hub.ts
import { openMany } from "./load.ts";
for (
  const [server, path] of [["duplex", "/broadcast"], ["duplex", "/"], ["deno_native", "/broadcast"]]
) {
  for (let run = 0; run < 2; run++) {
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
    await new Promise((r) => setTimeout(r, 300));
    const before = rss();
    const conns = await openMany("127.0.0.1", port, 5000, false, path);
    await new Promise((r) => setTimeout(r, 1000));
    console.log(
      `${server} ${path}: ${((rss() - before) / 5000).toFixed(1)} KiB per idle connection`,
    );
    for (const c of conns) c.close();
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  }
}
