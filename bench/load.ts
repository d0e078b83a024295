// Copyright 2026 the Duplex authors. MIT license.
// The peer benchmark's helpers: the load generator (shared with the CLI,
// in ../_load.ts), a broadcast run, and starting a peer in its own process.

import { encodeFrame, Opcode } from "../codec/mod.ts";
import { openMany, openRaw, writeAll } from "../_load.ts";

export {
  type LoadOptions,
  type LoadResult,
  openMany,
  openRaw,
  percentile,
  runLoad,
} from "../_load.ts";

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const encoder = new TextEncoder();

/** What a broadcast run does. */
export interface BroadcastOptions {
  /** The server's host. */
  hostname: string;
  /** The server's port. */
  port: number;
  /** Connections that only receive. */
  subscribers: number;
  /** Payload bytes per message. */
  size: number;
  /** Broadcasts in flight (the publisher sends the next when its own copy comes back). */
  window: number;
  /** How long to publish for, in milliseconds. */
  duration: number;
}

/** What a broadcast run measured. */
export interface BroadcastResult {
  /** Messages published. */
  published: number;
  /** Messages received by subscribers, verified. */
  deliveries: number;
  /** Seconds from the first send to the last delivery. */
  seconds: number;
}

/**
 * Runs a broadcast: one publisher (also a member) and `subscribers` that only
 * read; the server sends every message to every member. Each subscriber's
 * bytes are checked as for echoes.
 */
export async function runBroadcast(options: BroadcastOptions): Promise<BroadcastResult> {
  const { hostname, port, size, window } = options;
  const subscribers = await openMany(hostname, port, options.subscribers, false, "/broadcast");
  const publisher = await openRaw(hostname, port, false, "/broadcast");
  // Let the server register the last members before the first message.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const payload = encoder.encode("b".repeat(size));
  const sent = encodeFrame(Opcode.Text, payload, { mask: KEY });
  const echo = encodeFrame(Opcode.Text, payload);
  const readSize = 64 * 1024;
  const copies = Math.ceil((echo.length + readSize) / echo.length) + 1;
  const expected = new Uint8Array(echo.length * copies);
  for (let i = 0; i < copies; i++) expected.set(echo, i * echo.length);
  const expectedBuffer = Buffer.from(expected.buffer);

  let published = 0;
  let deliveries = 0;
  let lastDelivery = 0;
  let stopping = false;
  const started = performance.now();
  const allDelivered = Promise.withResolvers<void>();
  const check = () => {
    if (stopping && deliveries === published * subscribers.length) allDelivered.resolve();
  };

  const read = async (conn: Deno.Conn, onMessages: (n: number) => void | Promise<void>) => {
    const buffer = new Uint8Array(readSize);
    const view = Buffer.from(buffer.buffer);
    let position = 0;
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return;
      if (!view.subarray(0, n).equals(expectedBuffer.subarray(position, position + n))) {
        throw new Error("the server broadcast bytes that differ from what was sent");
      }
      const total = position + n;
      position = total % echo.length;
      const done = Math.floor(total / echo.length);
      if (done > 0) await onMessages(done);
    }
  };
  const readers = subscribers.map((conn) =>
    read(conn, (n) => {
      deliveries += n;
      lastDelivery = performance.now();
      check();
    })
  );
  const batch = new Uint8Array(sent.length * window);
  for (let i = 0; i < window; i++) batch.set(sent, i * sent.length);
  published = window;
  await writeAll(publisher, batch);
  const publisherDone = read(publisher, async (n) => {
    if (stopping) return;
    published += n;
    await writeAll(publisher, batch.subarray(0, n * sent.length));
  });
  await new Promise((resolve) => setTimeout(resolve, options.duration));
  stopping = true;
  // Wait until every subscriber has every message published, or give up.
  const deadline = setTimeout(() => allDelivered.resolve(), 10_000);
  check();
  await allDelivered.promise;
  clearTimeout(deadline);
  for (const conn of [publisher, ...subscribers]) conn.close();
  await Promise.allSettled([publisherDone, ...readers]);
  return { published, deliveries, seconds: (lastDelivery - started) / 1000 };
}

/** Resident memory of a process, in KiB. */
export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);
}

const RESULTS = new URL("./results/", import.meta.url).pathname;

/** Runs a command; throws with its output if it fails. */
async function run(program: string, args: string[], cwd?: string): Promise<void> {
  const output = await new Deno.Command(program, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).output();
  if (!output.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/**
 * The C load generator (bench/wsload.c), compiled with the machine's cc into
 * bench/results/ when missing or older than its source.
 */
export async function wsload(): Promise<string> {
  const source = new URL("./wsload.c", import.meta.url).pathname;
  const binary = `${RESULTS}wsload`;
  const built = await Deno.stat(binary).catch(() => null);
  if (built === null || built.mtime! < (await Deno.stat(source)).mtime!) {
    await Deno.mkdir(RESULTS, { recursive: true });
    await run("cc", ["-O2", "-o", binary, source]);
  }
  return binary;
}

/** The version of Bun that bench/peers.ts measures, from the npm package `bun`. */
export const BUN_VERSION = "1.4.5";

/** The `bun` binary, installed from npm into bench/results/bun when missing. */
export async function bunBinary(): Promise<string> {
  const prefix = `${RESULTS}bun`;
  const binary = `${prefix}/node_modules/.bin/bun`;
  if (await Deno.stat(binary).catch(() => null) === null) {
    await Deno.mkdir(prefix, { recursive: true });
    await run("npm", ["install", "--prefix", prefix, "--no-save", `bun@${BUN_VERSION}`]);
  }
  return binary;
}

/**
 * Runs the C generator pinned to `cpu` (if given) and returns its JSON.
 * Keeps stdin open until `hold` resolves (the `connect` mode holds its
 * connections until then); `onReport` sees the first line at once.
 */
export async function runWsload(
  args: string[],
  options: {
    cpu?: string | undefined;
    hold?: Promise<unknown>;
    onReport?: (report: unknown) => void;
  } = {},
): Promise<Record<string, unknown>> {
  const binary = await wsload();
  const [program, ...rest] = options.cpu === undefined
    ? [binary, ...args]
    : ["taskset", "-c", options.cpu, binary, ...args];
  const child = new Deno.Command(program!, {
    args: rest,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const report = JSON.parse(text.split("\n")[0] || "{}") as Record<string, unknown>;
  options.onReport?.(report);
  if (options.hold !== undefined) await options.hold;
  await child.stdin.close();
  while (!(await reader.read()).done);
  await child.status;
  if (typeof report.error === "string") throw new Error(`wsload: ${report.error}`);
  return report;
}

/**
 * Starts a peer server (`bench/servers/NAME.ts`) in its own process, pinned
 * to CPU 1 if asked; resolves once it listens.
 */
export async function startPeer(
  name: string,
  pin = false,
  path?: string,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const script = path ?? new URL(`./servers/${name}.ts`, import.meta.url).pathname;
  const command = name === "bun" ? [await bunBinary(), script, "0"] : [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    script,
    "0",
  ];
  const [program, ...args] = pin ? ["taskset", "-c", "1", ...command] : command;
  const child = new Deno.Command(program!, { args, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!/ready \d+/.test(output)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited before listening`);
    output += value;
  }
  reader.releaseLock();
  const port = Number(/ready (\d+)/.exec(output)![1]);
  return {
    port,
    pid: child.pid,
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}
