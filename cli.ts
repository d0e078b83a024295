// Copyright 2026 the Duplex authors. MIT license.
/**
 * `duplex`: a WebSocket command-line tool, as `wscat` or `websocat` are.
 *
 * ```sh
 * deno run -A jsr:@duplex/websocket/cli connect wss://example.com/ws
 * deno task cli listen 8080 --broadcast --static ./public
 * deno task cli bench ws://127.0.0.1:8080/ --connections 64 --duration 5
 * ```
 *
 * - `connect URL`: lines on stdin become messages, messages go to stdout.
 * - `listen PORT`: an echo (or broadcast) server, with static files.
 * - `bench URL`: a load generator that checks every echo.
 *
 * Run `duplex --help`, or `duplex COMMAND --help`, for the options.
 *
 * @example Run the tool from code, as the command line does
 * ```ts
 * import { main } from "@duplex/websocket/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["--version"]), 0);
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import {
  connect,
  type ConnectOptions,
  HandshakeError,
  Hub,
  type Message,
  parseUrl,
  serve,
  type WebSocketConnection,
} from "./mod.ts";
import { VERSION } from "./_version.ts";
import { runLoad } from "./_load.ts";

const HELP = `duplex ${VERSION}: a WebSocket tool (Duplex, for Deno)

Usage:
  duplex connect URL [options]   talk to a WebSocket server from the terminal
  duplex listen PORT [options]   run an echo or broadcast server
  duplex bench URL [options]     load an echo server and check every reply
  duplex --version

Run "duplex COMMAND --help" for a command's options.`;

const CONNECT_HELP = `duplex connect URL: lines on stdin become messages; messages go to stdout.

Options:
  --header K:V         an extra handshake header (repeatable)
  --protocol P         a subprotocol to offer (repeatable)
  --binary hex|base64  send each line as binary, decoded from hex or base64;
                       binary messages are printed in that encoding
  --compression        offer permessage-deflate
  --ping-interval MS   ping every MS milliseconds and print the round trip
  --ca FILE            trust this PEM certificate (for wss:// to a test server)
  --insecure           not available: Deno has no per-connection way to skip
                       certificate checks (run deno with
                       --unsafely-ignore-certificate-errors instead)
  --once               send stdin, print the first reply, close, exit
  --json               one JSON line per event: open, message, ping, close

Exits 0 after a normal close (or at the end of piped stdin), 1 after a
refused handshake or an abnormal close, 2 on a usage error.`;

const LISTEN_HELP = `duplex listen PORT: a WebSocket server on PORT (0 picks one).

Options:
  --hostname H    the address to listen on (default 127.0.0.1)
  --echo          send every message back to its sender (the default)
  --broadcast     send every message to every connection
  --static DIR    serve the files of DIR; WebSockets are then at /ws only
  --json          log one JSON line per event

Prints "listening on ws://HOST:PORT/" on stdout, logs opens and closes on
stderr, and shuts down gracefully on SIGINT or SIGTERM.`;

const BENCH_HELP = `duplex bench URL: open connections to an echo server, send, and check.

Options:
  --connections N   connections (default 1)
  --size B          bytes per message (default 32)
  --binary          binary messages (default text)
  --window W        messages in flight per connection (default 16)
  --duration S      seconds of sending (default 5)
  --broadcast       the server broadcasts: each message comes back from
                    every connection (a "duplex listen --broadcast")
  --json            print the summary as JSON

Every reply is checked byte for byte. On a terminal, a progress line shows
messages/s, round-trip p50/p99 and errors.`;

type Out = (line: string) => void;
const stdout: Out = (line) => void Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
const stderr: Out = (line) => void Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));

class UsageError extends Error {}

/**
 * Runs the tool with these arguments, as `duplex ARGS…` would.
 *
 * @param args The command line, without the program's name.
 * @returns The exit code: 0 for success, 1 for a failure, 2 for a usage error.
 */
export async function main(args: string[]): Promise<number> {
  try {
    const [command, ...rest] = args;
    if (command === "--version" || command === "-V") {
      stdout(`duplex ${VERSION} (Deno ${Deno.version.deno})`);
      return 0;
    }
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      stdout(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === "connect") return await connectCommand(rest);
    if (command === "listen") return await listenCommand(rest);
    if (command === "bench") return await benchCommand(rest);
    throw new UsageError(`Unknown command "${command}"`);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE")) {
      stderr(`duplex: ${(error as Error).message}`);
      stderr(`Run "duplex --help" for usage.`);
      return 2;
    }
    throw error;
  }
}

function number(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number ≥ ${min}, got ${value}`);
  }
  return n;
}

// ---------------------------------------------------------------------------
// connect

function decode(line: string, encoding: string): Uint8Array {
  if (encoding === "hex") {
    const digits = line.replace(/\s+/g, "");
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new UsageError(`not hex: ${line}`);
    return new Uint8Array(digits.match(/../g)?.map((byte) => parseInt(byte, 16)) ?? []);
  }
  try {
    return Uint8Array.from(atob(line.trim()), (c) => c.charCodeAt(0));
  } catch {
    throw new UsageError(`not base64: ${line}`);
  }
}

function encode(bytes: Uint8Array, encoding: string): string {
  if (encoding === "base64") {
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary);
  }
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function* stdinLines(): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, end).replace(/\r$/, "");
      buffered = buffered.slice(end + 1);
    }
  }
  if (buffered !== "") yield buffered;
}

async function connectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      header: { type: "string", multiple: true },
      protocol: { type: "string", multiple: true },
      binary: { type: "string" },
      compression: { type: "boolean" },
      "ping-interval": { type: "string" },
      ca: { type: "string" },
      insecure: { type: "boolean" },
      once: { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  if (values.help) {
    stdout(CONNECT_HELP);
    return 0;
  }
  const url = positionals[0];
  if (url === undefined) throw new UsageError("connect needs a URL");
  if (values.insecure) {
    stderr(
      "duplex: --insecure is not available: Deno cannot skip certificate checks for one connection. " +
        "Run deno with --unsafely-ignore-certificate-errors, or trust the certificate with --ca FILE.",
    );
    return 2;
  }
  const encoding = values.binary as string | undefined;
  if (encoding !== undefined && encoding !== "hex" && encoding !== "base64") {
    throw new UsageError(`--binary must be hex or base64, got ${encoding}`);
  }
  const headers = new Headers();
  for (const header of (values.header ?? []) as string[]) {
    const colon = header.indexOf(":");
    if (colon <= 0) throw new UsageError(`--header must be NAME:VALUE, got ${header}`);
    headers.append(header.slice(0, colon).trim(), header.slice(colon + 1).trim());
  }
  const pingInterval = number("ping-interval", values["ping-interval"] as string | undefined, 0, 0);
  const options: ConnectOptions = {
    headers,
    protocols: (values.protocol ?? []) as string[],
    ...(values.compression ? { compression: true } : {}),
    ...(values.ca !== undefined ? { caCerts: [await Deno.readTextFile(values.ca as string)] } : {}),
  };
  const json = values.json === true;
  const emit = (event: Record<string, unknown>, text: string) =>
    json ? stdout(JSON.stringify(event)) : stdout(text);
  let connection: WebSocketConnection;
  try {
    connection = await connect(url, options);
  } catch (error) {
    if (error instanceof HandshakeError) {
      const body = error.body.trim();
      stderr(`duplex: ${error.message}${body === "" ? "" : `\n${body}`}`);
    } else stderr(`duplex: ${(error as Error).message}`);
    return 1;
  }
  emit(
    {
      type: "open",
      url: connection.url,
      protocol: connection.protocol,
      extensions: connection.extensions,
    },
    `connected to ${connection.url}${connection.protocol ? ` (${connection.protocol})` : ""}`,
  );
  const show = (message: Message) => {
    if (typeof message === "string") emit({ type: "message", data: message }, message);
    else {
      const data = encode(message, encoding ?? "hex");
      emit(
        { type: "message", binary: true, data },
        encoding ? data : `<binary ${message.length} bytes> ${data}`,
      );
    }
  };
  let pinger: ReturnType<typeof setInterval> | undefined;
  if (pingInterval > 0) {
    pinger = setInterval(() => {
      connection.ping().then(
        (rtt) => emit({ type: "ping", rtt }, `ping: ${rtt.toFixed(2)} ms`),
        () => {},
      );
    }, pingInterval);
  }
  const sendLine = async (line: string) => {
    await connection.send(encoding === undefined ? line : decode(line, encoding));
  };
  try {
    if (values.once) {
      for await (const line of stdinLines()) await sendLine(line);
      try {
        show(await connection.receive({ timeout: 10_000 }));
      } catch (error) {
        stderr(`duplex: ${(error as Error).message}`);
        await connection.close(1000).catch(() => {});
        return 1;
      }
      await connection.close(1000);
      return report(await connection.closed, emit);
    }
    // Messages to stdout as they come; lines to messages until stdin ends.
    const reading = (async () => {
      try {
        for await (const message of connection) show(message);
      } catch {
        // The close is reported below.
      }
    })();
    const writing = (async () => {
      for await (const line of stdinLines()) {
        if (connection.readyState !== WebSocket.OPEN) break;
        await sendLine(line).catch((error) => {
          if (error instanceof UsageError) stderr(`duplex: ${error.message}`);
        });
      }
      // End of stdin: a clean close.
      if (connection.readyState === WebSocket.OPEN) await connection.close(1000).catch(() => {});
    })();
    const info = await connection.closed;
    await reading;
    // stdin may stay open (a terminal): nothing more to wait for.
    writing.catch(() => {});
    return report(info, emit);
  } finally {
    if (pinger !== undefined) clearInterval(pinger);
  }
}

function report(
  info: { code: number; reason: string; wasClean: boolean; error?: Error },
  emit: (event: Record<string, unknown>, text: string) => void,
): number {
  emit(
    { type: "close", code: info.code, reason: info.reason, wasClean: info.wasClean },
    `closed ${info.code}${info.reason ? ` ${info.reason}` : ""}`,
  );
  const normal = info.code === 1000 || info.code === 1001;
  if (!normal && info.error !== undefined) stderr(`duplex: ${info.error.message}`);
  return normal ? 0 : 1;
}

// ---------------------------------------------------------------------------
// listen

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
};

async function staticFile(root: string, pathname: string): Promise<Response> {
  const path = decodeURIComponent(pathname);
  if (path.split("/").includes("..")) return new Response("Forbidden\n", { status: 403 });
  let file = `${root}${path}`;
  try {
    if ((await Deno.stat(file)).isDirectory) file = `${file.replace(/\/$/, "")}/index.html`;
    const body = await Deno.readFile(file);
    const type = TYPES[file.split(".").at(-1) ?? ""] ?? "application/octet-stream";
    return new Response(body, { headers: { "content-type": type } });
  } catch {
    return new Response("Not found\n", { status: 404 });
  }
}

async function listenCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      hostname: { type: "string" },
      echo: { type: "boolean" },
      broadcast: { type: "boolean" },
      static: { type: "string" },
      json: { type: "boolean" },
    },
  });
  if (values.help) {
    stdout(LISTEN_HELP);
    return 0;
  }
  const port = number("port", positionals[0], NaN, 0);
  if (!Number.isInteger(port) || port > 65535) {
    throw new UsageError("listen needs a PORT from 0 to 65535");
  }
  if (values.echo && values.broadcast) {
    throw new UsageError("--echo and --broadcast exclude each other");
  }
  const json = values.json === true;
  const log = (event: Record<string, unknown>, text: string) =>
    json ? stderr(JSON.stringify(event)) : stderr(text);
  const root = values.static as string | undefined;
  const hub = new Hub({ pingInterval: 30_000 });
  let ids = 0;
  const names = new WeakMap<object, string>();
  hub.on("open", (member) => {
    names.set(member, `#${++ids}`);
    member.join("all");
    log({ type: "open", id: ids, url: member.url }, `open ${names.get(member)} ${member.url}`);
  });
  hub.on("message", (member, message) => {
    if (values.broadcast) hub.broadcast(message, { room: "all" });
    else member.send(message);
  });
  hub.on("close", (member, code, reason) => {
    log(
      { type: "close", id: names.get(member), code, reason },
      `close ${names.get(member)} ${code}${reason ? ` ${reason}` : ""}`,
    );
  });
  const done = Promise.withResolvers<void>();
  const server = serve({
    hostname: (values.hostname as string | undefined) ?? "127.0.0.1",
    port,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      stdout(`listening on ws://${host}:${port}/${root !== undefined ? "ws" : ""}`);
    },
  }, (request, info) => {
    const { pathname } = new URL(request.url);
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (upgrade && (root === undefined || pathname === "/ws")) return hub.handler(request, info);
    if (root !== undefined) return staticFile(root, pathname);
    return new Response("A WebSocket server: connect with ws://\n", {
      status: 426,
      headers: { upgrade: "websocket" },
    });
  });
  const stop = () => done.resolve();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
  await done.promise;
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, stop);
  log({ type: "shutdown" }, "shutting down");
  await hub.close(1001, "server shutting down");
  await server.shutdown();
  return 0;
}

// ---------------------------------------------------------------------------
// bench

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** What a bench run is, for its summary. */
interface BenchRun {
  url: string;
  connections: number;
  size: number;
  binary: boolean;
  window: number;
  broadcast: boolean;
  json: boolean;
}

/**
 * Prints a bench run's summary (JSON or a line), and warns when this
 * process used most of a core: then it, not the server, may be what limits
 * the figures.
 *
 * @returns The exit code: 1 if any reply was wrong or missing.
 */
function reportBench(
  run: BenchRun,
  measured: { seconds: number; messages: number; latencies: ArrayLike<number>; errors: number },
  cpu: { user: number; system: number },
  wall: number,
): number {
  const { seconds, messages, errors } = measured;
  const sorted = Float64Array.from(measured.latencies).sort();
  const load = (cpu.user + cpu.system) / 1e6 / wall;
  const { json, ...settings } = run;
  const summary = {
    ...settings,
    seconds: Number(seconds.toFixed(3)),
    messages,
    messagesPerSecond: Math.round(messages / seconds),
    megabytesPerSecond: Number(((messages * run.size) / seconds / 1e6).toFixed(2)),
    rtt: {
      p50: Number(percentile(sorted, 50).toFixed(3)),
      p99: Number(percentile(sorted, 99).toFixed(3)),
      max: Number((sorted.at(-1) ?? NaN).toFixed(3)),
    },
    errors,
    generatorCpu: Number(load.toFixed(2)),
  };
  if (json) stdout(JSON.stringify(summary));
  else {
    stdout(
      `${messages} messages in ${summary.seconds} s: ${summary.messagesPerSecond} msg/s, ` +
        `${summary.megabytesPerSecond} MB/s; round trip p50 ${summary.rtt.p50} ms, p99 ${summary.rtt.p99} ms ` +
        `(${run.window} in flight${
          run.broadcast ? "" : " per connection"
        }); ${errors} errors (every reply checked)`,
    );
  }
  if (load > 0.9) {
    stderr(
      `duplex: this generator used ${
        Math.round(load * 100)
      }% of a core: it, not the server, may be the bottleneck`,
    );
  }
  return errors === 0 ? 0 : 1;
}

async function benchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      connections: { type: "string" },
      size: { type: "string" },
      binary: { type: "boolean" },
      window: { type: "string" },
      duration: { type: "string" },
      broadcast: { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  if (values.help) {
    stdout(BENCH_HELP);
    return 0;
  }
  const url = positionals[0];
  if (url === undefined) throw new UsageError("bench needs a URL");
  const connections = number("connections", values.connections as string | undefined, 1, 1);
  const size = number("size", values.size as string | undefined, 32, 0);
  const window = number("window", values.window as string | undefined, 16, 1);
  const seconds = number("duration", values.duration as string | undefined, 5, 0.1);
  const broadcast = values.broadcast === true;
  if (!broadcast) {
    return await benchEcho(url, {
      connections,
      size,
      binary: values.binary === true,
      window,
      seconds,
      json: values.json === true,
    });
  }
  const payload: string | Uint8Array = values.binary
    ? new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff)
    : "x".repeat(size);
  const clients: WebSocketConnection[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      clients.push(await connect(url, { maxMessageSize: Math.max(size * 2, 1 << 20) }));
    }
  } catch (error) {
    stderr(`duplex: ${(error as Error).message}`);
    for (const client of clients) client.terminate();
    return 1;
  }
  let received = 0;
  let errors = 0;
  const rtts: number[] = [];
  const same = (message: Message) =>
    typeof payload === "string"
      ? message === payload
      : message instanceof Uint8Array && message.length === payload.length &&
        message.every((byte, i) => byte === payload[i]);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const cpuBefore = process.cpuUsage();
  const tty = Deno.stdout.isTerminal() && values.json !== true;
  let windowReceived = 0;
  let windowStart = started;
  const progress = tty
    ? setInterval(() => {
      const now = performance.now();
      const rate = (windowReceived / (now - windowStart)) * 1000;
      windowReceived = 0;
      windowStart = now;
      const sorted = Float64Array.from(rtts.slice(-10_000)).sort();
      Deno.stdout.writeSync(new TextEncoder().encode(
        `\r${Math.round(rate)} msg/s  p50 ${percentile(sorted, 50).toFixed(2)} ms  p99 ${
          percentile(sorted, 99).toFixed(2)
        } ms  errors ${errors}   `,
      ));
    }, 500)
    : undefined;
  // Broadcast: the first connection publishes, `window` in flight; every
  // connection (itself too) must get each message. Done when each has
  // them all, or, 2 s after the last was published, with the missing
  // ones counted as errors.
  const [publisher] = clients;
  const times: number[] = [];
  const counts = clients.map(() => 0);
  let published = 0;
  let inFlight = 0;
  let publishing = true;
  let lastDelivery = started;
  const stopAll = new AbortController();
  let giveUp: ReturnType<typeof setTimeout> | undefined;
  const sendOne = () => {
    times.push(performance.now());
    published++;
    inFlight++;
    publisher!.send(payload).catch(() => errors++);
  };
  for (let i = 0; i < window; i++) sendOne();
  await Promise.all(clients.map(async (client, index) => {
    while (publishing || counts[index]! < published) {
      let message: Message;
      try {
        message = await client.receive({ signal: stopAll.signal });
      } catch {
        return;
      }
      counts[index]!++;
      received++;
      windowReceived++;
      lastDelivery = performance.now();
      if (!same(message)) errors++;
      if (index !== 0) continue;
      rtts.push(lastDelivery - times[counts[0]! - 1]!);
      inFlight--;
      if (lastDelivery < deadline) sendOne();
      else if (inFlight === 0 && publishing) {
        publishing = false;
        giveUp = setTimeout(() => stopAll.abort(), 2_000);
      }
    }
  }));
  clearTimeout(giveUp);
  for (const count of counts) errors += published - count;
  const elapsed = (lastDelivery - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (progress !== undefined) {
    clearInterval(progress);
    Deno.stdout.writeSync(new TextEncoder().encode("\n"));
  }
  // The others, done once the publisher is: close them all.
  await Promise.all(clients.map((client) => client.close(1000).catch(() => {})));
  return reportBench(
    {
      url,
      connections,
      size,
      binary: values.binary === true,
      window,
      broadcast,
      json: values.json === true,
    },
    { seconds: elapsed, messages: received, latencies: rtts, errors },
    cpu,
    elapsed,
  );
}

/**
 * `bench` against an echo server: the raw load generator of the project's
 * own peer benchmark (pre-encoded frames, every echoed byte compared), so
 * that the server, not this process, is what is measured.
 */
async function benchEcho(
  url: string,
  settings: {
    connections: number;
    size: number;
    binary: boolean;
    window: number;
    seconds: number;
    json: boolean;
  },
): Promise<number> {
  let target;
  try {
    target = parseUrl(url);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const progress = { messages: 0, latencies: [] as number[] };
  const tty = Deno.stdout.isTerminal() && !settings.json;
  let last = 0;
  let lastAt = performance.now();
  const ticker = tty
    ? setInterval(() => {
      const now = performance.now();
      const rate = ((progress.messages - last) / (now - lastAt)) * 1000;
      last = progress.messages;
      lastAt = now;
      const recent = Float64Array.from(progress.latencies.slice(-10_000)).sort();
      Deno.stdout.writeSync(
        new TextEncoder().encode(
          `\r${Math.round(rate)} msg/s  p50 ${percentile(recent, 50).toFixed(2)} ms  p99 ${
            percentile(recent, 99).toFixed(2)
          } ms  errors 0  (${progress.messages} verified)   `,
        ),
      );
    }, 500)
    : undefined;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let result;
  try {
    result = await runLoad({
      hostname: target.hostname,
      port: target.port,
      path: target.resource,
      secure: target.secure,
      connections: settings.connections,
      size: settings.size,
      binary: settings.binary,
      window: settings.window,
      duration: settings.seconds * 1000,
      latencies: true,
      progress,
    });
  } catch (error) {
    if (ticker !== undefined) clearInterval(ticker);
    stderr(`duplex: ${(error as Error).message}`);
    return 1;
  }
  if (ticker !== undefined) {
    clearInterval(ticker);
    Deno.stdout.writeSync(new TextEncoder().encode("\n"));
  }
  return reportBench(
    {
      url: target.href,
      connections: settings.connections,
      size: settings.size,
      binary: settings.binary,
      window: settings.window,
      broadcast: false,
      json: settings.json,
    },
    { seconds: result.seconds, messages: result.messages, latencies: result.latencies, errors: 0 },
    process.cpuUsage(cpuBefore),
    (performance.now() - started) / 1000,
  );
}

if (import.meta.main) Deno.exit(await main(Deno.args));
