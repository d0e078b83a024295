// Copyright 2026 the Duplex authors. MIT license.
// The side-by-side benchmark: `deno task bench:peers`.
//
// Each peer is an echo (and broadcast) server in its own process, started
// fresh for each run and pinned to CPU 1; the load comes from bench/wsload.c,
// a generator in C pinned to CPU 0 (compiled with the machine's cc on first
// use), which verifies every byte. Every figure is the median of several
// runs with the min–max, the servers taking turns run by run, and the report
// gives ratios to Deno's native WebSocket and to Bun (from the npm package
// `bun`, installed into bench/results/ on first use) measured in the same run.
//
// Usage: deno run -A bench/peers.ts [--runs 3] [--duration 3000]
//          [--servers tcp,deno_native,bun,duplex,duplex_adapter,ws] [--scenarios latency,small-64,...]
//          [--baseline DIR] [--out bench/results] [--summary bench/RESULTS.md]
//
// --baseline DIR adds "Duplex before": DIR's bench/servers/duplex.ts (a
// checkout of an earlier commit, e.g. `git worktree add /tmp/before HEAD~3`),
// measured in the same rounds, for before-and-after figures.

import { parseArgs } from "node:util";
import { BUN_VERSION, rssKiB, runBroadcast, runWsload, startPeer } from "./load.ts";
import { percentile } from "./load.ts";

interface Metric {
  /** What is measured, with its unit. */
  label: string;
  /** Higher is better? */
  higher: boolean;
  /** The values of each run. */
  values: number[];
}

interface ServerInfo {
  name: string;
  label: string;
  /** A raw TCP echo: no handshake, no broadcast. */
  raw?: boolean;
  /** Has a /broadcast route. */
  broadcast?: boolean;
  /** The server's script, if not bench/servers/NAME.ts. */
  script?: string;
}

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    duration: { type: "string", default: "3000" },
    servers: { type: "string" },
    scenarios: { type: "string" },
    out: { type: "string", default: "bench/results" },
    summary: { type: "string", default: "bench/RESULTS.md" },
    baseline: { type: "string" },
  },
});

const SERVERS: ServerInfo[] = [
  { name: "tcp", label: "raw TCP echo", raw: true },
  { name: "deno_native", label: "Deno native", broadcast: true },
  { name: "bun", label: `Bun ${BUN_VERSION}`, broadcast: true },
  { name: "duplex", label: "Duplex serve", broadcast: true },
  ...(args.baseline === undefined ? [] : [{
    name: "duplex_base",
    label: "Duplex before",
    broadcast: true,
    script: `${args.baseline}/bench/servers/duplex.ts`,
  }]),
  { name: "duplex_adapter", label: "Duplex on Deno.serve", broadcast: true },
  { name: "ws", label: "npm:ws (Deno)", broadcast: true },
];

interface Scenario {
  name: string;
  title: string;
  /** Whether a server takes part. */
  applies(server: ServerInfo): boolean;
  /** One run against a server at `port` (pid for /proc), returning metric values by label. */
  run(port: number, pid: number, server: ServerInfo): Promise<Record<string, number>>;
  metrics: { label: string; higher: boolean }[];
}

const RUNS = Math.max(1, Number(args.runs));
const DURATION = Number(args.duration);
const HOST = "127.0.0.1";

/** CPU time (user + system) of a process, in microseconds. */
function cpuMicros(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * (1_000_000 / 100); // USER_HZ is 100 on Linux
}

const echoScenario = (
  name: string,
  title: string,
  connections: number,
  size: number,
  window: number,
  binary: boolean,
  throughput: "messages" | "bytes",
): Scenario => ({
  name,
  title,
  applies: () => true,
  metrics: [
    throughput === "messages"
      ? { label: "messages/s", higher: true }
      : { label: "MB/s", higher: true },
    { label: "server CPU µs/message", higher: false },
  ],
  async run(port, pid, server) {
    const cpu = cpuMicros(pid);
    const result = await runWsload([
      "echo",
      "--port",
      String(port),
      "--connections",
      String(connections),
      "--size",
      String(size),
      "--window",
      String(window),
      "--duration",
      String(DURATION),
      ...(binary ? ["--binary"] : []),
      ...(server.raw ? ["--raw"] : []),
    ], { cpu: GENERATOR_CPU });
    const used = cpuMicros(pid) - cpu;
    const messages = result.messages as number;
    const seconds = result.seconds as number;
    return {
      [throughput === "messages" ? "messages/s" : "MB/s"]: throughput === "messages"
        ? messages / seconds
        : (result.bytes as number) / seconds / 1e6,
      "server CPU µs/message": used / messages,
    };
  },
});

/** The chat scenario: `clients` in one room, each sending bursts of 1,600. */
const chatScenario = (clients: number): Scenario => ({
  name: `chat-${clients}`,
  title:
    `Chat: ${clients} clients in one room, each sending 1,600 messages of 32 B per round, every message to all ${clients} (server defaults)`,
  applies: (server) => server.broadcast === true,
  metrics: [
    { label: "deliveries/s", higher: true },
    { label: "server RSS MiB (lower is better)", higher: false },
    { label: "failed rounds (lower is better)", higher: false },
  ],
  async run(port, pid) {
    let peak = 0;
    const sampler = setInterval(() => peak = Math.max(peak, rssKiB(pid)), 20);
    try {
      const result = await runWsload([
        "chat",
        "--port",
        String(port),
        "--path",
        "/broadcast",
        "--connections",
        String(clients),
        "--messages",
        "1600",
        "--rounds",
        "4",
        "--timeout",
        "20000",
      ], { cpu: GENERATOR_CPU });
      const rounds = result.rounds as { seconds: number }[];
      // The first round warms up; a failed round counts, and ends the run.
      const measured = rounds.slice(1);
      const seconds = measured.reduce((sum, round) => sum + round.seconds, 0);
      if (typeof result.failed === "string") {
        console.error(`  chat-${clients}: ${result.failed}`);
      }
      return {
        "deliveries/s": measured.length === 0
          ? 0
          : measured.length * 1600 * clients * clients / seconds,
        "server RSS MiB (lower is better)": Math.max(peak, rssKiB(pid)) / 1024,
        "failed rounds (lower is better)": typeof result.failed === "string" ? 1 : 0,
      };
    } finally {
      clearInterval(sampler);
    }
  },
});

const SCENARIOS: Scenario[] = [
  {
    name: "latency",
    title: "Latency: 1 connection, 32 B text, one in flight",
    applies: () => true,
    metrics: [
      { label: "round trips/s", higher: true },
      { label: "p50 µs", higher: false },
      { label: "p99 µs", higher: false },
    ],
    async run(port, _pid, server) {
      const result = await runWsload([
        "echo",
        "--port",
        String(port),
        "--connections",
        "1",
        "--size",
        "32",
        "--window",
        "1",
        "--duration",
        String(DURATION),
        "--latency",
        ...(server.raw ? ["--raw"] : []),
      ], { cpu: GENERATOR_CPU });
      return {
        "round trips/s": (result.messages as number) / (result.seconds as number),
        "p50 µs": result.p50_us as number,
        "p99 µs": result.p99_us as number,
      };
    },
  },
  echoScenario(
    "small-1",
    "Small messages: 1 connection, 32 B text, 100 in flight",
    1,
    32,
    100,
    false,
    "messages",
  ),
  echoScenario(
    "small-64",
    "Small messages: 64 connections, 32 B text, 100 in flight each",
    64,
    32,
    100,
    false,
    "messages",
  ),
  echoScenario(
    "large-64k",
    "Large messages: 4 connections, 64 KiB binary, 8 in flight each",
    4,
    64 * 1024,
    8,
    true,
    "bytes",
  ),
  echoScenario(
    "large-1m",
    "Large messages: 2 connections, 1 MiB binary, 4 in flight each",
    2,
    1 << 20,
    4,
    true,
    "bytes",
  ),
  {
    name: "scale",
    title: "Connection scale: 5,000 idle connections",
    applies: (server) => !server.raw,
    metrics: [
      { label: "handshakes/s", higher: true },
      { label: "server CPU µs/handshake", higher: false },
      { label: "RSS KiB/connection", higher: false },
    ],
    async run(port, pid) {
      const before = rssKiB(pid);
      const cpu = cpuMicros(pid);
      const opened = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      let report: Record<string, unknown> = {};
      let handshakeCpu = 0;
      let after = 0;
      const running = runWsload(
        ["connect", "--port", String(port), "--connections", "5000", "--concurrency", "64"],
        {
          cpu: GENERATOR_CPU,
          hold: release.promise,
          onReport: (first) => {
            report = first as Record<string, unknown>;
            opened.resolve();
          },
        },
      );
      await Promise.race([opened.promise, running]);
      handshakeCpu = (cpuMicros(pid) - cpu) / 5000;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // let the server settle
      after = rssKiB(pid);
      release.resolve();
      await running;
      return {
        "handshakes/s": 5000 / (report.seconds as number),
        "server CPU µs/handshake": handshakeCpu,
        "RSS KiB/connection": (after - before) / 5000,
      };
    },
  },
  {
    name: "broadcast",
    title: "Broadcast fan-out: one 32 B message to 1,000 peers",
    applies: (server) => server.broadcast === true,
    metrics: [
      { label: "deliveries/s", higher: true },
      { label: "server CPU µs/delivery", higher: false },
    ],
    async run(port, pid) {
      const cpu = cpuMicros(pid);
      const result = await runBroadcast({
        hostname: HOST,
        port,
        subscribers: 1000,
        size: 32,
        window: 8,
        duration: DURATION,
      });
      if (result.deliveries !== result.published * 1000) {
        throw new Error(`lost deliveries: ${result.deliveries} of ${result.published * 1000}`);
      }
      return {
        "deliveries/s": result.deliveries / result.seconds,
        "server CPU µs/delivery": (cpuMicros(pid) - cpu) / result.deliveries,
      };
    },
  },
  chatScenario(32),
  chatScenario(128),
];

// Every scenario runs with the server pinned to CPU 1 and the generator (the
// C program, and this process for the broadcast scenario) to CPU 0, when the
// machine allows: otherwise the scheduler sometimes puts both on one core, and
// figures flip between two modes from run to run.
async function pinSelf(cpus: string): Promise<boolean> {
  if (navigator.hardwareConcurrency < 2) return false;
  try {
    const pinned = await new Deno.Command("taskset", {
      args: ["-p", "-c", cpus, String(Deno.pid)],
      stdout: "null",
      stderr: "null",
    }).output();
    return pinned.success;
  } catch {
    return false;
  }
}
const PIN = await pinSelf("0");
const GENERATOR_CPU: string | undefined = PIN ? "0" : undefined;

function median(values: number[]): number {
  return percentile(values, 50);
}

function format(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const servers = SERVERS.filter((server) =>
  !args.servers || args.servers.split(",").includes(server.name)
);
const scenarios = SCENARIOS.filter((scenario) =>
  !args.scenarios || args.scenarios.split(",").includes(scenario.name)
);
// results[scenario][metric][server] = values
const results = new Map<string, Map<string, Map<string, number[]>>>();
const totalRuns =
  scenarios.reduce((sum, scenario) => sum + servers.filter((s) => scenario.applies(s)).length, 0) *
  RUNS;
let done = 0;
const began = performance.now();

for (const scenario of scenarios) {
  const byMetric = new Map<string, Map<string, number[]>>();
  results.set(scenario.name, byMetric);
  // Rounds, not one server's runs back to back: a noisy minute on this
  // shared machine then costs every server one run, not one server all of
  // its runs, and the medians' ratios hold.
  for (let run = 0; run < RUNS; run++) {
    for (const server of servers) {
      if (!scenario.applies(server)) continue;
      // A fresh process per run: memory and CPU figures start from the same place.
      const process = await startPeer(server.name, PIN, server.script);
      try {
        const values = await scenario.run(process.port, process.pid, server);
        for (const [label, value] of Object.entries(values)) {
          if (!byMetric.has(label)) byMetric.set(label, new Map());
          const list = byMetric.get(label)!.get(server.name) ?? [];
          list.push(value);
          byMetric.get(label)!.set(server.name, list);
        }
        done++;
        const first = scenario.metrics[0]!.label;
        const elapsed = ((performance.now() - began) / 1000).toFixed(0);
        console.error(
          `[${done}/${totalRuns}, ${elapsed}s] ${scenario.name} ${server.name} run ${
            run + 1
          }/${RUNS}: ${format(values[first]!)} ${first}`,
        );
      } catch (error) {
        console.error(`[${scenario.name} ${server.name}] failed: ${(error as Error).message}`);
      } finally {
        await process.stop();
      }
    }
  }
}

// The report.
const machine = (() => {
  const cpu = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ??
    "unknown CPU";
  const memory = Number(/MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))?.[1] ?? 0);
  return `${cpu}, ${navigator.hardwareConcurrency} cores, ${
    (memory / 1024 / 1024).toFixed(0)
  } GiB; ` +
    `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), Linux ${Deno.osRelease()}; ` +
    (PIN ? "server pinned to CPU 1, generator to CPU 0" : "processes not pinned");
})();
const date = new Date().toISOString();
const cell = (values: number[] | undefined) =>
  values === undefined || values.length === 0
    ? "–"
    : values.length === 1
    ? format(values[0]!)
    : `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
const ratio = (a: number[] | undefined, b: number[] | undefined, higher: boolean) => {
  if (!a?.length || !b?.length) return "–";
  if (median(a) === 0 || median(b) === 0) return "–";
  const r = higher ? median(a) / median(b) : median(b) / median(a);
  return `${r.toFixed(2)}×`;
};

let table = `| scenario | metric | ${
  servers.map((s) => s.label).join(" | ")
} | Duplex ÷ Deno native | Duplex ÷ Bun | Duplex ÷ raw TCP |\n`;
table += `|---|---|${servers.map(() => "---:").join("|")}|---:|---:|---:|\n`;
for (const scenario of scenarios) {
  for (const metric of scenario.metrics) {
    const row = results.get(scenario.name)?.get(metric.label);
    if (row === undefined) continue;
    const duplex = row.get("duplex");
    table += `| ${scenario.name} | ${metric.label}${
      metric.higher || metric.label.includes("lower is better") ? "" : " (lower is better)"
    } | ${servers.map((s) => cell(row.get(s.name))).join(" | ")} | ${
      ratio(duplex, row.get("deno_native"), metric.higher)
    } | ${ratio(duplex, row.get("bun"), metric.higher)} | ${
      ratio(duplex, row.get("tcp"), metric.higher)
    } |\n`;
  }
}
const notes = scenarios.map((scenario) => `- **${scenario.name}**: ${scenario.title}.`).join("\n");
const report = `# Peer benchmark\n\n${date}\n\n${machine}\n\n` +
  `Median of ${RUNS} run(s) of ${DURATION} ms each, the servers taking turns run by run, ` +
  `(min–max); ratios compare medians ` +
  `(for "lower is better" metrics, a ratio above 1× means Duplex is better).\n\n${table}\n${notes}\n`;

// An SVG chart: each scenario's headline metric, every server relative to Deno native.
function chart(): string {
  const rows: { label: string; bars: { server: string; value: number }[] }[] = [];
  for (const scenario of scenarios) {
    const metric = scenario.metrics[0]!;
    const row = results.get(scenario.name)?.get(metric.label);
    const native = row?.get("deno_native");
    if (row === undefined || native === undefined || native.length === 0) continue;
    rows.push({
      label: `${scenario.name} (${metric.label})`,
      bars: servers.filter((s) => row.get(s.name)?.length).map((s) => {
        const r = median(row.get(s.name)!) / median(native);
        return { server: s.label, value: metric.higher ? r : 1 / r };
      }),
    });
  }
  const colors = ["#999", "#4a7fb5", "#e4572e", "#f3a712", "#29a39b"];
  const max = Math.max(1, ...rows.flatMap((row) => row.bars.map((bar) => bar.value)));
  const scale = (value: number) => Math.log10(1 + value) / Math.log10(1 + max) * 560;
  const barHeight = 14;
  let y = 40;
  let body = "";
  for (const row of rows) {
    body += `<text x="10" y="${y}" font-weight="bold">${row.label}</text>`;
    y += 6;
    row.bars.forEach((bar, i) => {
      const color = colors[servers.findIndex((s) => s.label === bar.server) % colors.length];
      body += `<rect x="200" y="${y}" width="${
        scale(bar.value).toFixed(1)
      }" height="${barHeight}" fill="${color}"/>`;
      body += `<text x="195" y="${y + 11}" text-anchor="end">${bar.server}</text>`;
      body += `<text x="${205 + scale(bar.value)}" y="${y + 11}">${bar.value.toFixed(2)}×</text>`;
      y += barHeight + 3;
      void i;
    });
    y += 18;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="${y}" font-family="sans-serif" font-size="12">` +
    `<text x="10" y="20" font-size="14">Relative to Deno native (1× = Deno native; higher is better; log scale)</text>` +
    `${body}</svg>\n`;
}

await Deno.mkdir(args.out, { recursive: true });
const stamp = date.replace(/[:.]/g, "-");
await Deno.writeTextFile(`${args.out}/peers-${stamp}.md`, report);
await Deno.writeTextFile(`${args.out}/peers-${stamp}.svg`, chart());
const raw = Object.fromEntries([...results].map(([scenario, metrics]) => [
  scenario,
  Object.fromEntries(
    [...metrics].map(([metric, byServer]) => [metric, Object.fromEntries(byServer)]),
  ),
]));
await Deno.writeTextFile(
  `${args.out}/peers-${stamp}.json`,
  JSON.stringify({ date, machine, runs: RUNS, duration: DURATION, results: raw }, null, 2),
);
// Keep the hand-written sections that follow the generated report (they
// start at "## Design measurements").
let kept = "";
try {
  const previous = await Deno.readTextFile(args.summary);
  const at = previous.indexOf("\n## Design measurements");
  if (at >= 0) kept = previous.slice(at);
} catch {
  // No previous summary.
}
await Deno.writeTextFile(args.summary, report.trimEnd() + "\n" + kept);
console.log(report);
console.error(`Wrote ${args.out}/peers-${stamp}.{md,svg,json} and ${args.summary}`);
