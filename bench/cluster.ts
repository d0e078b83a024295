// Copyright 2026 the Duplex authors. MIT license.
// The chat benchmark, on one node and on a cluster: N clients in one room,
// each sending a burst of short messages per round, every message broadcast
// to all N (the shape of Bun's and uWS's published chat benchmarks: 32
// clients, 1,600 messages each). A round ends when every client has every
// message; a round that does not end within --timeout is reported as
// stalled. The clients are bench/wsload.c's chat mode, alternating between
// the nodes' ports.
//
//   deno run -A --unstable-net bench/cluster.ts [--clients 32] [--messages 1600] [--rounds 5]
//     [--scenarios single,workers,redis] [--json FILE]
//
// Scenarios:
//   single   one process (bench/servers/chat_cluster.ts), pinned to CPU 1, the generator to CPU 0
//   workers  two Workers of one process on one port (SO_REUSEPORT), BroadcastChannel backplane
//   redis    two processes on two ports, clients split between them, Redis backplane; a
//            redis-server of our own on a free port (Debian's package)
// The machine has two cores: the cluster scenarios share them among the
// nodes, the generator and Redis, and run unpinned.
//
// Reported per scenario: deliveries per second (median, min and max of the
// rounds after one warm-up), server RSS (peak, all nodes), and Redis's CPU.
import { parseArgs } from "node:util";
import { rssKiB, runWsload } from "./load.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "32" },
    messages: { type: "string", default: "1600" },
    rounds: { type: "string", default: "5" },
    scenarios: { type: "string", default: "single,workers,redis" },
    timeout: { type: "string", default: "30000" },
    json: { type: "string" },
  },
});
const CLIENTS = Number(values.clients);
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const TIMEOUT = Number(values.timeout);
const HOST = "127.0.0.1";
const SERVER = new URL("./servers/chat_cluster.ts", import.meta.url).pathname;

async function run(
  command: string[],
  pin?: string,
): Promise<{ child: Deno.ChildProcess; port: number }> {
  const args = pin === undefined ? command : ["-c", pin, ...command];
  const child = new Deno.Command(pin === undefined ? args[0]! : "taskset", {
    args: pin === undefined ? args.slice(1) : args,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${command.join(" ")} exited before it was ready`);
    text += value;
  }
  // Keep draining, so that the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })();
  const match = /ready (\d+)/.exec(text);
  return { child, port: match ? Number(match[1]) : 0 };
}

function cpuSeconds(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
    // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

interface Figures {
  scenario: string;
  deliveriesPerSecond: { median: number; min: number; max: number } | null;
  stalledRounds: number;
  /** Why the first round that did not end did not. */
  failure?: string;
  serverRssMiB: number;
  redisCpu?: number;
  note: string;
}

async function measure(
  scenario: string,
  ports: number[],
  pids: number[],
  note: string,
  pinned: boolean,
  redisPid?: number,
): Promise<Figures> {
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, pids.reduce((sum, pid) => sum + rssKiB(pid), 0));
  }, 20);
  const redisCpu0 = redisPid === undefined ? 0 : cpuSeconds(redisPid);
  const started = performance.now();
  let rounds: { seconds: number }[] = [];
  let failure: string | undefined;
  try {
    // Clients alternate between the ports; the first round warms up.
    const result = await runWsload([
      "chat",
      "--port",
      ports.join(","),
      "--connections",
      String(CLIENTS),
      "--messages",
      String(MESSAGES),
      "--rounds",
      String(ROUNDS + 1),
      "--timeout",
      String(TIMEOUT),
    ], pinned ? { cpu: "0" } : {});
    rounds = result.rounds as { seconds: number }[];
    if (typeof result.failed === "string") failure = result.failed;
  } catch (error) {
    failure = (error as Error).message;
  } finally {
    clearInterval(sampler);
  }
  const wall = (performance.now() - started) / 1000;
  const redisCpu = redisPid === undefined ? undefined : (cpuSeconds(redisPid) - redisCpu0) / wall;
  const rates = rounds.slice(1).map((round) => (MESSAGES * CLIENTS * CLIENTS) / round.seconds);
  rates.sort((a, b) => a - b);
  return {
    scenario,
    deliveriesPerSecond: rates.length === 0
      ? null
      : { median: rates[rates.length >> 1]!, min: rates[0]!, max: rates[rates.length - 1]! },
    stalledRounds: failure === undefined ? 0 : 1,
    ...(failure !== undefined ? { failure } : {}),
    serverRssMiB: peak / 1024,
    ...(redisCpu !== undefined ? { redisCpu } : {}),
    note,
  };
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* gone */ }
  await child.status;
}

const deno = Deno.execPath();
const results: Figures[] = [];
for (const scenario of values.scenarios.split(",")) {
  if (scenario === "single") {
    await new Deno.Command("taskset", { args: ["-p", "-c", "0", String(Deno.pid)] }).output();
    const server = await run([deno, "run", "-A", SERVER, "0", "none"], "1");
    results.push(
      await measure(
        scenario,
        [server.port],
        [server.child.pid],
        "server CPU 1, generator CPU 0",
        true,
      ),
    );
    await stop(server.child);
    await new Deno.Command("taskset", { args: ["-p", "-c", "0,1", String(Deno.pid)] }).output();
  } else if (scenario === "workers") {
    const server = await run([
      deno,
      "run",
      "-A",
      "--unstable-net",
      SERVER,
      "0",
      "broadcast-channel",
      "2",
    ]);
    results.push(
      await measure(
        scenario,
        [server.port],
        [server.child.pid],
        "2 Workers, one port, unpinned",
        false,
      ),
    );
    await stop(server.child);
  } else if (scenario === "redis") {
    const port = (() => {
      const listener = Deno.listen({ hostname: HOST, port: 0 });
      const { port } = listener.addr as Deno.NetAddr;
      listener.close();
      return port;
    })();
    let redis: Deno.ChildProcess;
    try {
      redis = new Deno.Command("redis-server", {
        args: ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch {
      console.error("redis: no redis-server here (apt-get install redis-server); skipped");
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const url = `redis://${HOST}:${port}`;
    const a = await run([deno, "run", "-A", SERVER, "0", "redis", "1", url]);
    const b = await run([deno, "run", "-A", SERVER, "0", "redis", "1", url]);
    results.push(
      await measure(
        scenario,
        [a.port, b.port],
        [a.child.pid, b.child.pid],
        "2 processes, clients split, unpinned",
        false,
        redis.pid,
      ),
    );
    await stop(a.child);
    await stop(b.child);
    await stop(redis);
  }
}

const rate = (n: number) => `${(n / 1e6).toFixed(2)} M`;
console.log(
  `chat: ${CLIENTS} clients in one room, ${MESSAGES} messages each per round, ${ROUNDS} rounds`,
);
console.log(
  "| scenario | deliveries/s median (min–max) | failed rounds | server RSS | Redis CPU | setup |",
);
console.log("|---|---:|---:|---:|---:|---|");
for (const r of results) {
  const d = r.deliveriesPerSecond;
  console.log(
    `| ${r.scenario} | ${
      d ? `${rate(d.median)} (${rate(d.min)}–${rate(d.max)})` : "—"
    } | ${r.stalledRounds}${r.failure ? ` (${r.failure})` : ""} | ${
      r.serverRssMiB.toFixed(0)
    } MiB | ${r.redisCpu === undefined ? "—" : `${(r.redisCpu * 100).toFixed(0)}%`} | ${r.note} |`,
  );
}
if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
