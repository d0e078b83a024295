// Copyright 2026 the Duplex authors. MIT license.
// Soak: many short connections against one Duplex server in its own process,
// and whether what they took comes back. The parent drives mixed cycles with
// the library's client (echoes, quick closes, terminate(), partial raw
// handshakes, closes from the server, compression) and reads the server's
// RSS, peak RSS and open file descriptors from /proc; the server reports its
// heap after a GC (it runs with --expose-gc) and its live connections. It is
// measured after a warm-up (one cycle of each slot of the mix), halfway and
// at the end, each time once its connections are gone or a settle period has
// passed: the second half shows growth per cycle once one-time costs are paid.
// Exits 1 if a verdict fails.
// Usage: deno run -A bench/soak.ts [--cycles 10000] [--concurrency 50]
//   [--server serve|hub|adapter] [--mix abcafdeabcfaeabcdfaa] [--json]
import { parseArgs } from "node:util";
import {
  CloseCode,
  connect,
  type ConnectionCloseInfo,
  type ConnectOptions,
  Hub,
  ReadyState,
  serve,
  upgradeWebSocket,
  type WebSocketConnection,
} from "../mod.ts";

const SERVERS = ["serve", "hub", "adapter"] as const;
type ServerKind = typeof SERVERS[number];

/**
 * The cycles, one letter each: (a) echo a few text and binary messages and
 * close 1000; (b) open and close at once; (c) open and terminate(); (d) a raw
 * TCP connection that sends part of a handshake and closes; (e) ask the
 * server to close ("close-me", answered with 1001); (f) as (a) with
 * permessage-deflate offered.
 */
type CycleKind = "a" | "b" | "c" | "d" | "e" | "f";
// 20 slots: a 7, f 3, b 3, c 3, d 2, e 2; kinds interleaved so that every
// stretch of the run has them all.
const DEFAULT_MIX = "abcafdeabcfaeabcdfaa";
// `--mix f` runs compressed echoes only (issue 14: 10,000 of them).
let MIX: string = DEFAULT_MIX;
const CYCLE_NAMES: Record<CycleKind, string> = {
  a: "echo, close 1000",
  b: "open, close at once",
  c: "open, terminate()",
  d: "partial raw handshake",
  e: "server closes 1001",
  f: "echo with compression",
};

// Every wait is bounded (milliseconds).
const HANDSHAKE_TIMEOUT = 5_000;
const RECEIVE_TIMEOUT = 5_000;
const CLOSE_TIMEOUT = 5_000;
const CYCLE_TIMEOUT = 15_000;
const RUN_TIMEOUT = 120_000;
const READY_TIMEOUT = 15_000;
const ASK_TIMEOUT = 5_000;
// Longer than the server's requestTimeout (10 s) and closeTimeout (5 s): a
// descriptor still open after it is not one waiting out a deadline.
const SETTLE_TIMEOUT = 12_000;
const SAMPLE_INTERVAL = 100;
// Heap growth after GC in the second half above this counts as a leak.
const HEAP_LIMIT = 256 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects if `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The lines of a byte stream. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    for (let end = rest.indexOf("\n"); end >= 0; end = rest.indexOf("\n")) {
      yield rest.slice(0, end);
      rest = rest.slice(end + 1);
    }
  }
  if (rest !== "") yield rest;
}

// ---------------------------------------------------------------------------
// The server process

/** What the server reports about itself. */
interface ServerReport {
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Connections upgraded and not yet closed (the hub: its open members). */
  live: number;
  /** Closed connections by close code, since the start. */
  closes: Record<string, number>;
  /** Unhandled rejections and uncaught errors. */
  unhandled: number;
  /** Whether a GC ran before the report. */
  collected: boolean;
}

/**
 * Runs the server (`--child KIND`): prints "ready PORT", then answers each
 * "stats ID" or "gc ID" line on stdin with "stats ID {json}"; exits when
 * stdin ends, so that it never outlives the parent.
 */
async function runServer(kind: ServerKind): Promise<void> {
  let live = 0;
  let unhandled = 0;
  const closes: Record<string, number> = {};
  const countClose = (code: number) => closes[code] = (closes[code] ?? 0) + 1;
  const note = (what: string, error: unknown) => {
    if (++unhandled <= 5) console.error(`${what}:`, error);
  };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    note("unhandled rejection", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    note("uncaught error", event.error);
  });

  const ready = ({ port }: Deno.NetAddr) => console.log(`ready ${port}`);
  const listen = { hostname: "127.0.0.1", port: 0, onListen: ready };
  let hub: Hub | undefined;
  if (kind === "hub") {
    hub = new Hub({ compression: true });
    hub.on("close", (_member, code) => countClose(code));
    hub.on("message", (member, message) => {
      if (message === "close-me") void member.close(CloseCode.GoingAway, "asked to");
      else member.send(message);
    });
    serve(listen, hub.handler);
  } else {
    const handler = (request: Request): Response => {
      // The Deno.serve adapter negotiates no extension, so it is not asked to.
      const { connection, response } = upgradeWebSocket(
        request,
        kind === "serve" ? { compression: true } : {},
      );
      live++;
      connection.closed.then((info) => {
        live--;
        countClose(info.code);
      });
      connection.listen({
        message(message) {
          if (message === "close-me") void connection.close(CloseCode.GoingAway, "asked to");
          else connection.send(message).catch(() => {});
        },
      });
      return response;
    };
    if (kind === "serve") serve(listen, handler);
    else Deno.serve(listen, handler);
  }

  const gc = (globalThis as { gc?: () => void }).gc;
  for await (const line of lines(Deno.stdin.readable)) {
    const [command, id] = line.trim().split(" ");
    if (command === "gc" && gc !== undefined) {
      // Twice, with turns between, so that what the first frees (finalizers,
      // weak references) is collected by the second.
      for (let i = 0; i < 2; i++) {
        gc();
        await sleep(20);
      }
    }
    const { heapUsed, heapTotal, external } = Deno.memoryUsage();
    const report: ServerReport = {
      heapUsed,
      heapTotal,
      external,
      live: hub?.size ?? live,
      closes: { ...closes },
      unhandled,
      collected: command === "gc" && gc !== undefined,
    };
    console.log(`stats ${id} ${JSON.stringify(report)}`);
  }
  Deno.exit(0);
}

/** The server's process, seen from the parent. */
class ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** Lines the server wrote to stderr, the first few kept. */
  readonly stderr: { lines: number; first: string[] };
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<string, (report: ServerReport) => void>();
  #nextId = 0;

  private constructor(
    child: Deno.ChildProcess,
    port: number,
    stdout: AsyncGenerator<string>,
    stderr: { lines: number; first: string[] },
  ) {
    this.#child = child;
    this.pid = child.pid;
    this.port = port;
    this.stderr = stderr;
    this.#stdin = child.stdin.getWriter();
    (async () => {
      for await (const line of stdout) {
        const match = /^stats (\d+) (.*)$/.exec(line);
        if (match === null) continue;
        this.#waiting.get(match[1]!)?.(JSON.parse(match[2]!));
        this.#waiting.delete(match[1]!);
      }
    })().catch(() => {});
  }

  /** Starts the server; resolves once it listens. */
  static async start(kind: ServerKind): Promise<ServerProcess> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--v8-flags=--expose-gc",
        new URL(import.meta.url).pathname,
        "--child",
        kind,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = { lines: 0, first: [] as string[] };
    (async () => {
      for await (const line of lines(child.stderr)) {
        if (++stderr.lines <= 5) stderr.first.push(line);
      }
    })().catch(() => {});
    const stdout = lines(child.stdout);
    try {
      const port = await within(
        (async () => {
          // next(), not for-await: leaving a for-await loop would end the
          // generator, and the reports come through it afterwards.
          while (true) {
            const { value, done } = await stdout.next();
            if (done) throw new Error(`the ${kind} server exited before listening`);
            const match = /^ready (\d+)$/.exec(value);
            if (match !== null) return Number(match[1]);
          }
        })(),
        READY_TIMEOUT,
        `starting the ${kind} server`,
      );
      return new ServerProcess(child, port, stdout, stderr);
    } catch (error) {
      child.kill("SIGKILL");
      await child.status;
      throw error;
    }
  }

  /** Asks for a report, after a GC if `collect`. */
  async report(collect: boolean): Promise<ServerReport> {
    const id = String(++this.#nextId);
    const answer = new Promise<ServerReport>((resolve) => this.#waiting.set(id, resolve));
    try {
      await this.#stdin.write(new TextEncoder().encode(`${collect ? "gc" : "stats"} ${id}\n`));
      return await within(answer, ASK_TIMEOUT, "asking the server for its figures");
    } finally {
      this.#waiting.delete(id);
    }
  }

  /** Kills the server and waits for it to go. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await within(this.#child.status, 5_000, "stopping the server").catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// Measuring

/** The server's figures at one moment. */
interface Sample {
  rssKiB: number;
  peakRssKiB: number;
  fds: number;
  /** What the descriptors are, by number. */
  fdTargets: Record<string, string>;
  heapUsed: number;
  heapTotal: number;
  external: number;
  live: number;
  closes: Record<string, number>;
  unhandled: number;
  /** Seconds waited for the connections to go. */
  settled: number;
  /** This process's own open descriptors (the clients' side). */
  clientFds: number;
}

function procStatus(pid: number): { rssKiB: number; peakRssKiB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return {
    rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN),
    peakRssKiB: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN),
  };
}

function openFds(pid: number | "self"): number {
  let count = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
  // Reading our own directory holds one descriptor for itself.
  return pid === "self" ? count - 1 : count;
}

/** What each open descriptor is ("socket:[123]", "anon_inode:[eventfd]"…), by number. */
function fdTargets(pid: number): Record<string, string> {
  const targets: Record<string, string> = {};
  for (const { name } of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      targets[name] = Deno.readLinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      // Closed while we looked.
    }
  }
  return targets;
}

/** The descriptors in `after` and not in `before`, counted by kind of target. */
function newFds(before: Record<string, string>, after: Record<string, string>): string {
  const kinds: Record<string, number> = {};
  for (const [fd, target] of Object.entries(after)) {
    if (before[fd] === target) continue;
    const kind = target.replace(/:\[\d+\]$/, "").replace(/^\/.*/, "file");
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return Object.entries(kinds).map(([kind, n]) => `${kind} ×${n}`).join(", ");
}

/**
 * Waits until the server's descriptor count has held still for a second (at
 * most 5 s): about half a second after it starts, the Deno runtime opens a
 * Unix socket pair of its own (even for a script that only sets a timer),
 * which must be in the baseline.
 */
async function settleStartup(server: ServerProcess): Promise<void> {
  const limit = performance.now() + 5_000;
  let count = openFds(server.pid);
  let since = performance.now();
  while (performance.now() < limit && performance.now() - since < 1_000) {
    await sleep(100);
    const now = openFds(server.pid);
    if (now !== count) {
      count = now;
      since = performance.now();
    }
  }
}

/**
 * Waits until the server has no live connection and, if given, no more
 * descriptors than `fdTarget` (or until SETTLE_TIMEOUT); then GC and sample.
 */
async function settleAndSample(server: ServerProcess, fdTarget?: number): Promise<Sample> {
  const started = performance.now();
  while (performance.now() - started < SETTLE_TIMEOUT) {
    const { live } = await server.report(false);
    if (live === 0 && (fdTarget === undefined || openFds(server.pid) <= fdTarget)) break;
    await sleep(100);
  }
  const settled = (performance.now() - started) / 1000;
  // A moment for the last closes to finish on both sides.
  await sleep(200);
  const report = await server.report(true);
  if (!report.collected) throw new Error("the server cannot run a GC (--expose-gc)");
  return {
    ...procStatus(server.pid),
    fds: openFds(server.pid),
    fdTargets: fdTargets(server.pid),
    heapUsed: report.heapUsed,
    heapTotal: report.heapTotal,
    external: report.external,
    live: report.live,
    closes: report.closes,
    unhandled: report.unhandled,
    settled,
    clientFds: openFds("self"),
  };
}

/** Peaks seen while cycles run. */
class Sampler {
  fds = 0;
  live = 0;
  rssKiB = 0;
  readonly #timer: ReturnType<typeof setInterval>;
  #asking = false;

  constructor(readonly server: ServerProcess) {
    this.#timer = setInterval(() => this.sample(), SAMPLE_INTERVAL);
  }

  sample(): void {
    try {
      this.fds = Math.max(this.fds, openFds(this.server.pid));
      this.rssKiB = Math.max(this.rssKiB, procStatus(this.server.pid).rssKiB);
    } catch {
      return; // The server is gone; the run will say so.
    }
    if (this.#asking) return;
    this.#asking = true;
    this.server.report(false)
      .then(({ live }) => this.live = Math.max(this.live, live), () => {})
      .finally(() => this.#asking = false);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

// ---------------------------------------------------------------------------
// The cycles

const encoder = new TextEncoder();
const TEXTS = ["hello", "héllo wörld ✓ ".repeat(20), "the quick brown fox ".repeat(400)];
const BINARIES = [
  new Uint8Array(16).map((_, i) => i),
  new Uint8Array(2048).map((_, i) => (i * 7) & 0x3f),
];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function expectClose(info: ConnectionCloseInfo, code: number, wasClean: boolean): void {
  if (info.code === code && info.wasClean === wasClean) return;
  const why = info.error !== undefined ? `: ${info.error.name} ${info.error.message}` : "";
  throw new Error(
    `closed with ${info.code} (wasClean ${info.wasClean})${why}; expected ${code} (wasClean ${wasClean})`,
  );
}

/** One cycle's resources, released however it ends. */
class Cycle {
  readonly #connections: WebSocketConnection[] = [];
  readonly #conns: Deno.Conn[] = [];
  #released = false;

  constructor(readonly server: ServerKind, readonly port: number) {}

  async connect(options: ConnectOptions = {}): Promise<WebSocketConnection> {
    const connection = await connect(`ws://127.0.0.1:${this.port}/`, {
      handshakeTimeout: HANDSHAKE_TIMEOUT,
      closeTimeout: CLOSE_TIMEOUT,
      ...options,
    });
    this.#connections.push(connection);
    if (this.#released) this.release();
    return connection;
  }

  async dial(): Promise<Deno.Conn> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    this.#conns.push(conn);
    if (this.#released) this.release();
    return conn;
  }

  /** Ends what is still open, and what opens later (a cycle that timed out). */
  release(): void {
    this.#released = true;
    for (const connection of this.#connections) {
      if (connection.readyState !== ReadyState.CLOSED) connection.terminate();
    }
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
  }
}

async function echo(cycle: Cycle, compression: boolean): Promise<void> {
  const connection = await cycle.connect({ compression });
  const wanted = cycle.server !== "adapter" && compression;
  if (/permessage-deflate/.test(connection.extensions) !== wanted) {
    throw new Error(`extensions "${connection.extensions}", with compression ${compression}`);
  }
  for (const text of TEXTS) await connection.send(text);
  for (const bytes of BINARIES) await connection.send(bytes);
  for (const text of TEXTS) {
    if (await connection.receive({ timeout: RECEIVE_TIMEOUT }) !== text) {
      throw new Error("a text echo differs from what was sent");
    }
  }
  for (const bytes of BINARIES) {
    const reply = await connection.receive({ timeout: RECEIVE_TIMEOUT });
    if (typeof reply === "string" || !sameBytes(reply, bytes)) {
      throw new Error("a binary echo differs from what was sent");
    }
  }
  expectClose(await connection.close(CloseCode.NormalClosure), CloseCode.NormalClosure, true);
}

const CYCLES: Record<CycleKind, (cycle: Cycle) => Promise<void>> = {
  a: (cycle) => echo(cycle, false),
  async b(cycle) {
    const connection = await cycle.connect();
    expectClose(await connection.close(CloseCode.NormalClosure), CloseCode.NormalClosure, true);
  },
  async c(cycle) {
    const connection = await cycle.connect();
    connection.terminate();
    const info = await within(connection.closed, CLOSE_TIMEOUT, "closed after terminate()");
    expectClose(info, CloseCode.AbnormalClosure, false);
  },
  async d(cycle) {
    const conn = await cycle.dial();
    const partial = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${cycle.port}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Ver";
    const bytes = encoder.encode(partial);
    for (let offset = 0; offset < bytes.length;) {
      offset += await conn.write(bytes.subarray(offset));
    }
    conn.close();
  },
  async e(cycle) {
    const connection = await cycle.connect();
    await connection.send("close-me");
    const info = await within(connection.closed, CLOSE_TIMEOUT * 2, "the server's close");
    expectClose(info, CloseCode.GoingAway, true);
  },
  f: (cycle) => echo(cycle, true),
};

/** Outcomes by kind, and errors by kind and message. */
class Tally {
  readonly done: Record<CycleKind, number> = { a: 0, b: 0, c: 0, d: 0, e: 0, f: 0 };
  readonly failed: Record<CycleKind, number> = { a: 0, b: 0, c: 0, d: 0, e: 0, f: 0 };
  readonly errors = new Map<string, { kind: CycleKind; error: string; count: number }>();

  get completed(): number {
    return Object.values(this.done).reduce((sum, n) => sum + n, 0);
  }

  get errorCount(): number {
    return Object.values(this.failed).reduce((sum, n) => sum + n, 0);
  }

  fail(kind: CycleKind, error: unknown): void {
    this.failed[kind]++;
    const text = error instanceof Error
      ? `${error.name}${"code" in error ? ` ${error.code}` : ""}: ${error.message}`
      : String(error);
    // Ports differ from cycle to cycle; the error does not.
    const key = `${kind} ${text.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT").slice(0, 200)}`;
    const entry = this.errors.get(key) ?? { kind, error: key.slice(2), count: 0 };
    entry.count++;
    this.errors.set(key, entry);
  }
}

/** Runs cycles `first` to `first + count - 1` with `concurrency` in flight. */
async function runCycles(
  server: ServerKind,
  port: number,
  first: number,
  count: number,
  concurrency: number,
  tally: Tally,
  deadline: number,
): Promise<void> {
  let next = first;
  const end = first + count;
  const worker = async () => {
    while (next < end && performance.now() < deadline) {
      const kind = MIX[next++ % MIX.length] as CycleKind;
      const cycle = new Cycle(server, port);
      try {
        await within(CYCLES[kind](cycle), CYCLE_TIMEOUT, `cycle ${kind}`);
      } catch (error) {
        tally.fail(kind, error);
      } finally {
        cycle.release();
        tally.done[kind]++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

// ---------------------------------------------------------------------------
// The report

interface Verdict {
  name: string;
  ok: boolean;
  detail: string;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(2)} MiB`;
const signedKib = (kib: number) => `${kib >= 0 ? "+" : ""}${kib.toFixed(0)} KiB`;
const signed = (n: number) => `${n >= 0 ? "+" : ""}${n}`;

function closeDelta(after: Sample, before: Sample): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [code, n] of Object.entries(after.closes)) {
    const d = n - (before.closes[code] ?? 0);
    if (d !== 0) delta[code] = d;
  }
  return delta;
}

function verdicts(
  cycles: number,
  tally: Tally,
  samples: { before: Sample; middle: Sample; after: Sample },
  server: ServerProcess,
): Verdict[] {
  const { before, middle, after } = samples;
  const secondHalf = after.heapUsed - middle.heapUsed;
  const secondCycles = cycles - Math.floor(cycles / 2);
  // Server-side closes the mix should have caused (the raw cycles never upgrade).
  const { done } = tally;
  const expected: Record<string, number> = {
    [CloseCode.NormalClosure]: done.a + done.b + done.f,
    [CloseCode.GoingAway]: done.e,
    [CloseCode.AbnormalClosure]: done.c,
  };
  const seen = closeDelta(after, before);
  const format = (closes: Record<string, number>) =>
    Object.entries(closes).filter(([, n]) => n > 0).map(([code, n]) => `${code}×${n}`).join(
      " ",
    ) || "none";
  const closesMatch = Object.keys({ ...expected, ...seen })
    .every((code) => (expected[code] ?? 0) === (seen[code] ?? 0));
  return [
    {
      name: "fds returned to baseline",
      ok: after.fds <= before.fds,
      detail: `${before.fds} → ${after.fds}${
        after.fds > before.fds ? `; new: ${newFds(before.fdTargets, after.fdTargets)}` : ""
      }`,
    },
    {
      name: "server connections returned to zero",
      ok: after.live === 0,
      detail: `${after.live} left, settled in ${after.settled.toFixed(1)} s`,
    },
    {
      name: "heap steady in the second half",
      ok: secondHalf <= HEAP_LIMIT,
      detail: `${signedKib(secondHalf / 1024)}, ${
        (secondHalf / secondCycles).toFixed(0)
      } B/cycle after GC; limit ${HEAP_LIMIT / 1024} KiB`,
    },
    {
      name: "every cycle ran as expected",
      ok: tally.completed === cycles && tally.errorCount === 0,
      detail: `${tally.completed - tally.errorCount} of ${cycles}`,
    },
    {
      name: "server close codes match the mix",
      ok: closesMatch,
      detail: `expected ${format(expected)}, saw ${format(seen)}`,
    },
    {
      name: "server quiet (no unhandled errors, no stderr)",
      ok: after.unhandled === 0 && server.stderr.lines === 0,
      detail: `${after.unhandled} unhandled, ${server.stderr.lines} stderr lines`,
    },
    {
      name: "client fds returned to baseline",
      ok: after.clientFds <= before.clientFds,
      detail: `${before.clientFds} → ${after.clientFds}`,
    },
  ];
}

function printText(
  options: { server: ServerKind; cycles: number; concurrency: number },
  server: ServerProcess,
  seconds: number,
  tally: Tally,
  samples: { before: Sample; middle: Sample; after: Sample },
  peaks: Sampler,
  results: Verdict[],
): void {
  const { before, middle, after } = samples;
  const counts = [...MIX].reduce<Record<string, number>>((all, kind) => {
    all[kind] = (all[kind] ?? 0) + 1;
    return all;
  }, {});
  console.log(
    `Duplex soak: ${options.server} server (pid ${server.pid}), ${options.cycles} cycles, ${options.concurrency} concurrent`,
  );
  console.log(
    `mix: ${
      Object.entries(CYCLE_NAMES).map(([kind, name]) =>
        `(${kind}) ${name} ${((counts[kind] ?? 0) / MIX.length * 100).toFixed(0)}%`
      ).join(", ")
    }`,
  );
  console.log(
    `${tally.completed} cycles in ${seconds.toFixed(2)} s: ${
      (tally.completed / seconds).toFixed(0)
    } cycles/s (after a warm-up of ${MIX.length})`,
  );
  console.log("");
  // Memory in KiB, shown in MiB; counts as they are.
  const rows: [string, (sample: Sample) => number, boolean][] = [
    ["RSS", (sample) => sample.rssKiB, true],
    ["peak RSS (VmHWM)", (sample) => sample.peakRssKiB, true],
    ["heapUsed after GC", (sample) => sample.heapUsed / 1024, true],
    ["heapTotal (V8's reserved heap)", (sample) => sample.heapTotal / 1024, true],
    ["external after GC", (sample) => sample.external / 1024, true],
    ["open fds", (sample) => sample.fds, false],
    ["live connections", (sample) => sample.live, false],
  ];
  console.log("| server | before | middle | after | after − before | after − middle |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, value, memory] of rows) {
    const cells = [before, middle, after].map((sample) =>
      memory ? mib(value(sample)) : String(value(sample))
    );
    const change = (d: number) => memory ? signedKib(d) : signed(d);
    console.log(
      `| ${name} | ${cells.join(" | ")} | ${change(value(after) - value(before))} | ${
        change(value(after) - value(middle))
      } |`,
    );
  }
  console.log(
    `| settle wait | ${before.settled.toFixed(1)} s | ${middle.settled.toFixed(1)} s | ${
      after.settled.toFixed(1)
    } s | | |`,
  );
  console.log("");
  console.log(
    `during the run: up to ${peaks.fds} fds, ${peaks.live} live connections, RSS ${
      mib(peaks.rssKiB)
    }`,
  );
  console.log(
    `cycles by kind: ${
      Object.entries(tally.done).map(([kind, n]) =>
        `${kind} ${n}${
          tally.failed[kind as CycleKind] > 0 ? ` (${tally.failed[kind as CycleKind]} failed)` : ""
        }`
      ).join(", ")
    }`,
  );
  if (tally.errors.size === 0) {
    console.log("errors: none");
  } else {
    console.log(`errors: ${tally.errorCount}`);
    for (const { kind, error, count } of tally.errors.values()) {
      console.log(`  (${kind}) ×${count} ${error}`);
    }
  }
  if (server.stderr.lines > 0) {
    console.log(`server stderr: ${server.stderr.lines} lines, the first:`);
    for (const line of server.stderr.first) console.log(`  ${line}`);
  }
  console.log("");
  for (const { name, ok, detail } of results) {
    console.log(`${name}: ${ok ? "yes" : "no"} (${detail})`);
  }
}

// ---------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      cycles: { type: "string", default: "10000" },
      concurrency: { type: "string", default: "50" },
      server: { type: "string", default: "serve" },
      mix: { type: "string", default: DEFAULT_MIX },
      json: { type: "boolean", default: false },
      child: { type: "string" },
    },
  });
  const kind = (args.child ?? args.server) as ServerKind;
  if (!SERVERS.includes(kind)) {
    console.error(`--server must be one of ${SERVERS.join(", ")}, not ${kind}`);
    return 2;
  }
  if (args.child !== undefined) {
    await runServer(kind);
    return 0;
  }
  if (!/^[a-f]+$/.test(args.mix)) {
    console.error(`--mix must be cycle letters a to f, not ${args.mix}`);
    return 2;
  }
  MIX = args.mix;
  const cycles = Number(args.cycles);
  const concurrency = Number(args.concurrency);
  if (!Number.isSafeInteger(cycles) || cycles < 2) {
    console.error(`--cycles must be a whole number, 2 or more, not ${args.cycles}`);
    return 2;
  }
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    console.error(`--concurrency must be a whole number, 1 or more, not ${args.concurrency}`);
    return 2;
  }

  const server = await ServerProcess.start(kind);
  const stop = () => {
    server.stop().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await settleStartup(server);
    const deadline = performance.now() + RUN_TIMEOUT;
    // Warm-up: every kind once, so that one-time costs (code, zlib, pools)
    // are in the baseline; its outcomes are not counted.
    await runCycles(kind, server.port, 0, MIX.length, concurrency, new Tally(), deadline);
    const before = await settleAndSample(server);
    const tally = new Tally();
    const peaks = new Sampler(server);
    const half = Math.floor(cycles / 2);
    let started = performance.now();
    await runCycles(kind, server.port, 0, half, concurrency, tally, deadline);
    let seconds = (performance.now() - started) / 1000;
    peaks.sample();
    const middle = await settleAndSample(server, before.fds);
    started = performance.now();
    await runCycles(kind, server.port, half, cycles - half, concurrency, tally, deadline);
    seconds += (performance.now() - started) / 1000;
    peaks.sample();
    peaks.stop();
    const after = await settleAndSample(server, before.fds);
    const samples = { before, middle, after };
    const results = verdicts(cycles, tally, samples, server);

    if (args.json) {
      console.log(JSON.stringify(
        {
          server: kind,
          cycles,
          concurrency,
          mix: MIX,
          completed: tally.completed,
          seconds,
          cyclesPerSecond: tally.completed / seconds,
          samples,
          duringRun: { fds: peaks.fds, live: peaks.live, rssKiB: peaks.rssKiB },
          done: tally.done,
          failed: tally.failed,
          errors: [...tally.errors.values()],
          serverStderr: server.stderr,
          verdicts: results,
        },
        null,
        2,
      ));
    } else {
      printText(
        { server: kind, cycles, concurrency },
        server,
        seconds,
        tally,
        samples,
        peaks,
        results,
      );
    }
    return results.every((verdict) => verdict.ok) ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await server.stop();
  }
}

Deno.exit(await main());
