// Copyright 2026 the Duplex authors. MIT license.
// Remote denial of service: what a hostile peer can do to a server with a
// few cheap connections, and what the server must withstand. Each attack
// runs against serve() with a plain echo handler and against a Hub on
// serve(), in a subprocess (tests/_attack_server.ts), so that its memory
// is its own to measure and its file descriptors can be limited.
//
// - Reset storm: connections reset (RST) right after they open make
//   Deno.Listener.accept() throw; that must not end the accept loop.
// - EMFILE: more connections than file descriptors; accepting resumes once
//   some are free.
// - 1-byte chunks: a chunked body costs memory in proportion to its size,
//   not to its number of chunks.
// - Ping flood: a peer that never reads its pongs gets only the latest one
//   (RFC 6455 §5.5.3), not a queue of all of them.
// - Garbage: bytes that cannot be HTTP are answered 400 at once.
//
// Each test asserts a bound on the server's memory growth (peak RSS, from
// /proc, against the RSS before the attack) and that a normal client is
// served after the attack. A normal client is also timed during the attack:
// that figure is printed with DUPLEX_ATTACK_FIGURES=1, never asserted.
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import type { Status } from "./_attack_server.ts";
import { concat, hex } from "./_util.ts";

const HOST = "127.0.0.1";
const MiB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SERVER_SCRIPT = new URL("./_attack_server.ts", import.meta.url).pathname;
const ATTACKER_SCRIPT = new URL("./_attack.py", import.meta.url).pathname;
const FIGURES = Deno.env.get("DUPLEX_ATTACK_FIGURES") !== undefined;

/** Whether a command runs: the tests that need python3 or bash skip without it. */
function available(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

const hasPython = available("python3", ["-c", "import socket, struct"]);
const hasBash = available("bash", ["-c", "ulimit -n 64"]);
// The memory bounds read /proc/<pid>/status: Linux only.
const hasProc = Deno.build.os === "linux";
if (!hasPython) console.warn("attack_test: python3 is missing, the reset-storm tests are skipped");
if (!hasBash) console.warn("attack_test: bash is missing, the EMFILE tests are skipped");
if (!hasProc) console.warn("attack_test: no /proc, the attack tests are skipped");

type Mode = "echo" | "hub";
const MODES: Mode[] = ["echo", "hub"];

// ---------------------------------------------------------------------------
// The server subprocess

/** Lines from a child's stdout. */
class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line, or null at the end of the stream. */
  async next(): Promise<string | null> {
    for (;;) {
      const newline = this.#buffered.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffered.slice(0, newline);
        this.#buffered = this.#buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#buffered += value;
    }
  }

  /** Reads to the end, so that the stream's resource is released. */
  async drain(): Promise<void> {
    while (!(await this.#reader.read()).done);
  }
}

/** Everything a child writes to a stream, as text. */
async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

/** Resident and peak resident memory of a process, in bytes. */
interface Memory {
  rss: number;
  peak: number;
}

function memoryOf(pid: number): Memory {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string): number => {
    const match = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
    assert.ok(match !== null, `no ${name} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

interface ServerOptions {
  mode: Mode;
  requestTimeout?: number;
  /** `ulimit -n` for the server: its file descriptors, stdio and Deno's own included. */
  fileLimit?: number;
}

/** tests/_attack_server.ts in a subprocess. */
class ServerProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: Lines;
  readonly #stderr: Promise<string>;
  readonly port: number;

  private constructor(child: Deno.ChildProcess, lines: Lines, port: number) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#lines = lines;
    this.#stderr = collect(child.stderr);
    this.port = port;
  }

  static async start(options: ServerOptions): Promise<ServerProcess> {
    const args = [
      "run",
      "--allow-net",
      SERVER_SCRIPT,
      "--mode",
      options.mode,
      "--request-timeout",
      String(options.requestTimeout ?? 10_000),
    ];
    // With a limit, bash sets it and execs Deno: the pid stays the server's.
    const quoted = [Deno.execPath(), ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`);
    const [program, programArgs] = options.fileLimit === undefined
      ? [Deno.execPath(), args]
      : ["bash", ["-c", `ulimit -n ${options.fileLimit} && exec ${quoted.join(" ")}`]];
    const spawned = new Deno.Command(program, {
      args: programArgs,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = new Lines(spawned.stdout);
    const first = await lines.next();
    if (first === null) {
      const server = new ServerProcess(spawned, lines, 0);
      const stderr = await server.stop();
      throw new Error(`The attack server did not start:\n${stderr}`);
    }
    return new ServerProcess(spawned, lines, (JSON.parse(first) as { port: number }).port);
  }

  get pid(): number {
    return this.#child.pid;
  }

  memory(): Memory {
    return memoryOf(this.#child.pid);
  }

  /** What the server says about itself: see Status in _attack_server.ts. */
  async status(): Promise<Status> {
    await this.#stdin.write(encoder.encode("status\n"));
    const line = await this.#lines.next();
    assert.ok(line !== null, "the attack server exited");
    return JSON.parse(line) as Status;
  }

  /** Ends the server and waits for it; returns what it wrote to stderr. */
  async stop(): Promise<string> {
    await this.#stdin.write(encoder.encode("quit\n")).catch(() => {});
    await this.#stdin.close().catch(() => {});
    // A server that does not quit (a hung event loop) is killed.
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, 5_000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#lines.drain();
    return await this.#stderr;
  }
}

/**
 * Runs one attack against a fresh server: `attack` gets the server, and
 * the server's stderr is shown if the test fails.
 */
async function withServer(
  options: ServerOptions,
  attack: (server: ServerProcess) => Promise<void>,
): Promise<void> {
  const server = await ServerProcess.start(options);
  let failure: unknown = undefined;
  try {
    await attack(server);
  } catch (error) {
    failure = error;
  }
  const stderr = await server.stop();
  if (failure !== undefined) {
    if (stderr.trim() !== "") console.error(`attack server stderr:\n${stderr.slice(-4000)}`);
    throw failure;
  }
}

// ---------------------------------------------------------------------------
// Clients

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A normal client: connect, send, receive the echo, close with 1000. */
async function echoOnce(port: number, timeout: number): Promise<void> {
  const client = await connect(`ws://${HOST}:${port}/`, { handshakeTimeout: timeout });
  let echoed: unknown;
  try {
    await client.send("still here");
    echoed = await client.receive({ timeout });
  } finally {
    const { code } = await client.close(1000);
    assert.equal(code, 1000);
  }
  assert.equal(echoed, "still here");
}

/** How long a normal client waited to be served, or why it was not. */
interface Wait {
  ms: number;
  error?: string;
}

/** A normal client, timed; it never throws, the figure says what happened. */
async function timedEcho(port: number, timeout: number): Promise<Wait> {
  const started = performance.now();
  try {
    await echoOnce(port, timeout);
    return { ms: performance.now() - started };
  } catch (error) {
    return { ms: performance.now() - started, error: String(error) };
  }
}

/** Polls `check` until it holds; a bounded wait, so that a broken server fails instead of hanging. */
async function waitFor(what: string, check: () => Promise<boolean>, limit = 20_000): Promise<void> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > limit) assert.fail(`gave up waiting for ${what}`);
    await sleep(50);
  }
}

/** Writes all of `bytes`, or stops quietly once the peer has gone. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

/** Reads until the server closes; whatever arrived before a reset counts too. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
}

/** The server's memory around an attack, checked against `bound` and printed on request. */
function checkMemory(
  name: string,
  before: Memory,
  after: Memory,
  bound: number,
  wait: Wait,
): void {
  const growth = after.peak - before.rss;
  if (FIGURES) {
    const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
    const served = wait.error === undefined
      ? `served in ${wait.ms.toFixed(0)} ms`
      : `not served after ${wait.ms.toFixed(0)} ms (${wait.error.slice(0, 80)})`;
    console.log(
      `FIGURES ${name}: rss before ${mb(before.rss)}, peak ${mb(after.peak)}, ` +
        `rss after ${mb(after.rss)}, growth ${mb(growth)}; mid-attack client ${served}`,
    );
  }
  assert.ok(
    growth < bound,
    `${name}: the server's peak RSS grew by ${(growth / MiB).toFixed(1)} MiB ` +
      `(bound ${(bound / MiB).toFixed(0)} MiB)`,
  );
}

/** The server has not finished: only shutdown() or the abort signal may end it. */
function assertServing(status: Status): void {
  assert.equal(status.finished, false, "server.finished resolved: the accept loop ended");
}

// ---------------------------------------------------------------------------
// 1. Reset storm

/** python3 tests/_attack.py reset: resolves once `count` connections have been reset. */
async function resetStorm(port: number, count: number, onFirstBatch: () => void): Promise<void> {
  const child = new Deno.Command("python3", {
    args: [ATTACKER_SCRIPT, "reset", HOST, String(port), String(count)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = collect(child.stderr);
  const lines = new Lines(child.stdout);
  let last = "";
  for (let line; (line = await lines.next()) !== null;) {
    if (last === "") onFirstBatch();
    last = line;
  }
  const { code } = await child.status;
  assert.equal(code, 0, `the attacker failed: ${await stderr}`);
  await stderr;
  assert.equal(last, `reset ${count}`, "the server stopped listening during the storm");
}

for (const mode of MODES) {
  Deno.test({
    name:
      `serve (${mode}) keeps accepting through a storm of connections reset after a request line`,
    ignore: !hasPython || !hasProc,
    async fn() {
      await withServer({ mode }, async (server) => {
        await echoOnce(server.port, 5_000);
        const before = server.memory();
        let during: Promise<Wait> = Promise.resolve({ ms: 0, error: "not started" });
        // 400 resets: the old accept loop ended after about 200.
        await resetStorm(server.port, 400, () => during = timedEcho(server.port, 5_000));
        const wait = await during;
        await echoOnce(server.port, 5_000);
        assertServing(await server.status());
        // A reset costs nothing to keep: the bound only catches a leak per connection.
        checkMemory(`reset storm (${mode})`, before, server.memory(), 32 * MiB, wait);
      });
    },
  });
}

// ---------------------------------------------------------------------------
// 2. Out of file descriptors

for (const mode of MODES) {
  Deno.test({
    name:
      `serve (${mode}) reports EMFILE through onError and accepts again once descriptors are free`,
    ignore: !hasBash || !hasProc,
    async fn() {
      // 64 descriptors, Deno takes some 25; the short request deadline frees
      // the idle connections' descriptors, so that the backlog is accepted.
      await withServer({ mode, fileLimit: 64, requestTimeout: 1_000 }, async (server) => {
        await echoOnce(server.port, 5_000);
        const before = server.memory();
        // Idle connections, more than the server has descriptors: those it
        // cannot accept wait in the listen backlog.
        const idle: Deno.Conn[] = [];
        try {
          for (let i = 0; i < 100; i++) {
            idle.push(await Deno.connect({ hostname: HOST, port: server.port }));
          }
          // Served once the deadline has dropped enough idle connections; never by the old loop.
          const wait = await timedEcho(server.port, 8_000);
          await waitFor("an accept error or the end of the server", async () => {
            const status = await server.status();
            return status.finished || Object.keys(status.errors).length > 0;
          });
          for (const conn of idle.splice(0)) conn.close();
          await echoOnce(server.port, 5_000);
          const status = await server.status();
          assertServing(status);
          assert.ok(
            Object.keys(status.errors).length > 0,
            "the accept errors were not reported through onError",
          );
          checkMemory(`EMFILE (${mode})`, before, server.memory(), 32 * MiB, wait);
        } finally {
          for (const conn of idle) conn.close();
        }
      });
    },
  });
}

// ---------------------------------------------------------------------------
// 3. A chunked body in 1-byte chunks

const BODY_SIZE = MiB;
/** A POST of 1 MiB in 1-byte chunks: 6 MiB on the wire, within the default maxBodySize. */
function oneByteChunks(): Uint8Array {
  const head = encoder.encode(
    `POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
  );
  const chunk = encoder.encode("1\r\nX\r\n");
  const last = encoder.encode("0\r\n\r\n");
  const bytes = new Uint8Array(head.length + chunk.length * BODY_SIZE + last.length);
  bytes.set(head);
  for (let i = 0; i < BODY_SIZE; i++) bytes.set(chunk, head.length + i * chunk.length);
  bytes.set(last, bytes.length - last.length);
  return bytes;
}

for (const mode of MODES) {
  Deno.test({
    name: `serve (${mode}) reads a body of 1-byte chunks in memory bounded by its size`,
    ignore: !hasProc,
    async fn() {
      const request = oneByteChunks();
      await withServer({ mode }, async (server) => {
        await echoOnce(server.port, 5_000);
        const before = server.memory();
        // Two at once: the cost of each adds up, and so does the fixed cost.
        const conns = await Promise.all(
          [0, 1].map(() => Deno.connect({ hostname: HOST, port: server.port })),
        );
        let wait: Wait;
        let answers: string[];
        try {
          const sent = conns.map((conn) => writeAll(conn, request));
          const answered = conns.map((conn) => readToEnd(conn));
          wait = await timedEcho(server.port, 30_000);
          await Promise.all(sent);
          answers = await Promise.all(answered);
        } finally {
          for (const conn of conns) conn.close();
        }
        for (const answer of answers) {
          // The echo handler reads the body; the hub refuses the request, after the body is read.
          if (mode === "echo") assert.match(answer, /^HTTP\/1\.1 200 [^]*got 1048576$/);
          else assert.match(answer, /^HTTP\/1\.1 [45]\d\d /);
        }
        await echoOnce(server.port, 5_000);
        assertServing(await server.status());
        // Two bodies of 1 MiB and their copies (the request, the handler's
        // arrayBuffer) plus read buffers: some MiB. Without the fix, over 500 MiB each.
        checkMemory(`1-byte chunks (${mode})`, before, server.memory(), 96 * MiB, wait);
      });
    },
  });
}

// ---------------------------------------------------------------------------
// 4. A ping flood from a peer that never reads

const PINGS = 1_000_000;
/** An empty masked ping, RFC 6455 §5.5.2; the mask is RFC 6455 §5.7's. */
const PING = new Uint8Array([0x89, 0x80, 0x37, 0xfa, 0x21, 0x3d]);

/** Opens a WebSocket by hand, so that nothing ever reads from it afterwards. */
async function rawWebSocket(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    await writeAll(
      conn,
      encoder.encode(
        `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    // The 101 has no body and nothing follows it until a ping: read its head alone.
    let head = "";
    const buffer = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n")) {
      const n = await conn.read(buffer);
      assert.ok(n !== null, `the server closed during the handshake: ${head}`);
      head += decoder.decode(buffer.subarray(0, n));
    }
    assert.match(head, /^HTTP\/1\.1 101 /);
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

for (const mode of MODES) {
  Deno.test({
    name:
      `serve (${mode}) answers a flood of pings that are never read without queueing a pong each`,
    ignore: !hasProc,
    async fn() {
      await withServer({ mode }, async (server) => {
        await echoOnce(server.port, 5_000);
        const attacker = await rawWebSocket(server.port);
        let wait: Wait;
        let after: Memory;
        const before = server.memory();
        try {
          // 10,000 pings a write: 60 KB.
          const batch = new Uint8Array(PING.length * 10_000);
          for (let i = 0; i < 10_000; i++) batch.set(PING, i * PING.length);
          let during: Promise<Wait> | undefined;
          for (let sent = 0; sent < PINGS; sent += 10_000) {
            await writeAll(attacker, batch);
            if (sent >= PINGS / 2) during ??= timedEcho(server.port, 10_000);
          }
          wait = await during!;
          await waitFor(
            "the server to read every ping",
            async () => (await server.status()).pings >= PINGS,
            30_000,
          );
          after = server.memory();
          // Served while the flooding connection is still open.
          await echoOnce(server.port, 5_000);
        } finally {
          attacker.close();
        }
        assertServing(await server.status());
        // 6 MB of pings read in 2 KB reads: flat, but for the garbage they leave.
        // Without the fix, 1,000,000 queued pongs cost over 140 MiB.
        checkMemory(`ping flood (${mode})`, before, after, 48 * MiB, wait);
      });
    },
  });
}

// ---------------------------------------------------------------------------
// 5. Bytes that cannot be HTTP

/** The start of a TLS 1.2 ClientHello (RFC 5246 §7.4.1.2), as a browser sends to an https:// URL. */
function clientHello(): Uint8Array {
  const body = concat(
    hex("0303"), // client_version: TLS 1.2
    new Uint8Array(32).map((_, i) => i * 7), // random
    hex("00"), // session_id: empty
    hex("0004 1301 c02f"), // cipher_suites: two
    hex("0100"), // compression_methods: null only
    hex("0000"), // extensions: none
  );
  const handshake = concat(hex("010000"), new Uint8Array([body.length]), body); // client_hello
  // A TLS record: handshake (0x16), TLS 1.0 framing, its length.
  return concat(hex("160301 00"), new Uint8Array([handshake.length]), handshake);
}

/** Binary without a line end: the server can never find a request line in it. */
function binary(): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; bytes.length < 512; i++) {
    const byte = i % 256;
    if (byte !== 0x0a && byte !== 0x0d) bytes.push(byte);
  }
  return new Uint8Array(bytes);
}

for (const mode of MODES) {
  Deno.test({
    name: `serve (${mode}) answers a TLS ClientHello or binary garbage with 400 and closes`,
    ignore: !hasProc,
    async fn() {
      // The deadline that ends such a connection without the fix.
      await withServer({ mode, requestTimeout: 3_000 }, async (server) => {
        await echoOnce(server.port, 5_000);
        const before = server.memory();
        const payloads = [clientHello(), binary()];
        // Ten of each at once, and a normal client while they wait.
        const conns: Deno.Conn[] = [];
        let wait: Wait;
        let answers: string[];
        try {
          for (let i = 0; i < 20; i++) {
            conns.push(await Deno.connect({ hostname: HOST, port: server.port }));
          }
          const answered = conns.map(async (conn, i) => {
            await writeAll(conn, payloads[i % 2]!);
            return await readToEnd(conn);
          });
          wait = await timedEcho(server.port, 10_000);
          answers = await Promise.all(answered);
        } finally {
          for (const conn of conns) conn.close();
        }
        for (const [i, answer] of answers.entries()) {
          // Without the fix: nothing, then the close at the request deadline.
          assert.match(
            answer,
            /^HTTP\/1\.1 400 /,
            `${i % 2 === 0 ? "ClientHello" : "binary"} → ${JSON.stringify(answer.slice(0, 40))}`,
          );
        }
        await echoOnce(server.port, 5_000);
        assertServing(await server.status());
        checkMemory(`garbage (${mode})`, before, server.memory(), 32 * MiB, wait);
      });
    },
  });
}
