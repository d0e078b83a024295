// Copyright 2026 the Duplex authors. MIT license.
// What the testing kit's in-memory pair costs next to loopback TCP, in one
// process and one run: the same Duplex client and server connections, the
// same echo, only the transport differs. Two loads: a window of 64 echoes
// in flight (throughput) and one at a time (round trip). Runs alternate
// between the transports so that noise falls on both.
//
// Usage: deno run -A bench/pair.ts [--runs 5] [--messages 200000] [--size 32]
import { parseArgs } from "node:util";
import { acceptWebSocket, connect, type WebSocketConnection } from "../mod.ts";
import { createPair } from "../testing.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    messages: { type: "string", default: "200000" },
    size: { type: "string", default: "32" },
  },
});
const RUNS = Number(values.runs);
const MESSAGES = Number(values.messages);
const SIZE = Number(values.size);
const WINDOW = 64;

type Ends = { client: WebSocketConnection; server: WebSocketConnection };

async function tcp(): Promise<Ends> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept().then((conn) => acceptWebSocket(conn));
  const client = await connect(`ws://127.0.0.1:${listener.addr.port}/`);
  const server = await accepted;
  listener.close();
  return { client, server };
}

async function memory(): Promise<Ends> {
  return await createPair();
}

/** Echoes `count` messages with `window` in flight; returns messages per second. */
async function echo(ends: Ends, count: number, window: number): Promise<number> {
  const { client, server } = ends;
  server.listen({ message: (data) => server.send(data) });
  const payload = new Uint8Array(SIZE);
  const start = performance.now();
  let sent = 0;
  for (; sent < Math.min(window, count); sent++) client.send(payload);
  for (let received = 0; received < count; received++) {
    await client.receive();
    if (sent < count) {
      client.send(payload);
      sent++;
    }
  }
  return count / ((performance.now() - start) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const results: Record<string, { window: number[]; single: number[] }> = {
  tcp: { window: [], single: [] },
  memory: { window: [], single: [] },
};
for (let run = 0; run < RUNS; run++) {
  for (const [name, make] of [["tcp", tcp], ["memory", memory]] as const) {
    for (const load of ["window", "single"] as const) {
      const ends = await make();
      // A short warm-up on the same connection.
      await echo(ends, 2_000, load === "window" ? WINDOW : 1);
      const count = load === "window" ? MESSAGES : Math.floor(MESSAGES / 10);
      results[name]![load].push(await echo(ends, count, load === "window" ? WINDOW : 1));
      await ends.client.close(1000);
      await ends.server.closed;
    }
  }
}

const k = (n: number) => `${Math.round(n / 1000)}k`;
console.log(`${SIZE}-byte echoes, ${RUNS} runs (median, min-max), messages per second:`);
for (const load of ["window", "single"] as const) {
  const label = load === "window" ? `${WINDOW} in flight` : "1 in flight";
  const cells = (["tcp", "memory"] as const).map((name) => {
    const values = results[name]![load];
    return `${name} ${k(median(values))} (${k(Math.min(...values))}-${k(Math.max(...values))})`;
  });
  const ratio = median(results.memory![load]) / median(results.tcp![load]);
  console.log(`  ${label}: ${cells.join(", ")}; memory/tcp ${ratio.toFixed(2)}x`);
}
