// Copyright 2026 the Duplex authors. MIT license.
// The load generator for the peer benchmark: raw Deno.connect sockets,
// pre-encoded masked frames, a window of messages in flight per connection,
// and every echoed byte checked against what the server must send back.
// It does no WebSocket work per message beyond counting and comparing, so
// that the server, not the generator, is what is measured.

import { Buffer } from "node:buffer";
import { encodeFrame, Opcode } from "../codec/mod.ts";

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const encoder = new TextEncoder();

/** What one load run does. */
export interface LoadOptions {
  /** The server's host. */
  hostname: string;
  /** The server's port. */
  port: number;
  /** How many connections. */
  connections: number;
  /** Payload bytes per message. */
  size: number;
  /** Binary messages (else text). */
  binary: boolean;
  /** Messages in flight per connection. */
  window: number;
  /** How long to send for, in milliseconds (after all connections are open). */
  duration: number;
  /** The peer is a raw TCP echo: no handshake, and the masked frames come back as sent. */
  raw?: boolean;
  /** Record each round trip (meaningful with window 1). */
  latencies?: boolean;
}

/** What a load run measured. */
export interface LoadResult {
  /** Messages echoed back, verified. */
  messages: number;
  /** Payload bytes echoed back. */
  bytes: number;
  /** Seconds of sending. */
  seconds: number;
  /** Round-trip times in milliseconds, when asked for. */
  latencies: number[];
}

/** Opens a connection and completes the opening handshake by hand. */
export async function openRaw(
  hostname: string,
  port: number,
  raw = false,
  path = "/",
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  if (raw) return conn;
  const request =
    `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  await conn.write(encoder.encode(request));
  const buffer = new Uint8Array(4096);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the server closed during the handshake");
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    throw new Error(`the server refused: ${head.split("\r\n")[0]}`);
  }
  if (!head.endsWith("\r\n\r\n")) throw new Error("the server sent frames before any message");
  return conn;
}

/** Writes everything. */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
}

/** Runs one load: every connection keeps `window` messages in flight for `duration`. */
export async function runLoad(options: LoadOptions, conns?: Deno.TcpConn[]): Promise<LoadResult> {
  const { size, window } = options;
  const payload = options.binary
    ? new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff)
    : encoder.encode("x".repeat(size));
  const opcode = options.binary ? Opcode.Binary : Opcode.Text;
  const sent = encodeFrame(opcode, payload, { mask: KEY });
  // What must come back: the unmasked frame, or the same bytes from a raw echo.
  const echo = options.raw ? sent : encodeFrame(opcode, payload);
  const sendBatch = new Uint8Array(sent.length * window);
  for (let i = 0; i < window; i++) sendBatch.set(sent, i * sent.length);
  const readSize = Math.max(64 * 1024, Math.min(echo.length * 2, 1 << 20));
  // The expected stream, long enough that any read lines up with one slice of it.
  const copies = Math.ceil((echo.length + readSize) / echo.length) + 1;
  const expected = new Uint8Array(echo.length * copies);
  for (let i = 0; i < copies; i++) expected.set(echo, i * echo.length);
  const expectedBuffer = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);

  const opened = conns ??
    await openMany(options.hostname, options.port, options.connections, options.raw ?? false);
  let messages = 0;
  const latencies: number[] = [];
  let stopping = false;
  const started = performance.now();
  const timer = setTimeout(() => stopping = true, options.duration);

  await Promise.all(opened.map(async (conn) => {
    const buffer = new Uint8Array(readSize);
    const view = Buffer.from(buffer.buffer);
    let position = 0; // offset within one echo frame
    let inFlight = window;
    const sentAt: number[] = [];
    if (options.latencies) sentAt.push(performance.now());
    await writeAll(conn, sendBatch);
    while (inFlight > 0) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("the server closed the connection");
      // Compare with one native memcmp: the echo must be byte for byte what was expected.
      if (!view.subarray(0, n).equals(expectedBuffer.subarray(position, position + n))) {
        throw new Error("the server echoed bytes that differ from what was sent");
      }
      const total = position + n;
      const done = Math.floor(total / echo.length);
      position = total % echo.length;
      if (done === 0) continue;
      messages += done;
      inFlight -= done;
      if (options.latencies) {
        const now = performance.now();
        for (let i = 0; i < done; i++) latencies.push(now - sentAt.shift()!);
      }
      if (!stopping) {
        if (options.latencies) { for (let i = 0; i < done; i++) sentAt.push(performance.now()); }
        inFlight += done;
        await writeAll(
          conn,
          done === window ? sendBatch : sendBatch.subarray(0, done * sent.length),
        );
      }
    }
  }));
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  if (conns === undefined) { for (const conn of opened) conn.close(); }
  return { messages, bytes: messages * size, seconds, latencies };
}

/** Opens `count` connections, at most 64 handshakes at a time. */
export async function openMany(
  hostname: string,
  port: number,
  count: number,
  raw = false,
  path = "/",
): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = Math.min(64, count - i);
    conns.push(
      ...await Promise.all(Array.from({ length: batch }, () => openRaw(hostname, port, raw, path))),
    );
  }
  return conns;
}

/** A percentile of a list of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

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

  const read = async (conn: Deno.TcpConn, onMessages: (n: number) => void | Promise<void>) => {
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

/**
 * Starts a peer server (`bench/servers/NAME.ts`) in its own process, pinned
 * to CPU 1 if asked; resolves once it listens.
 */
export async function startPeer(
  name: string,
  pin = false,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const script = new URL(`./servers/${name}.ts`, import.meta.url).pathname;
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    script,
    "0",
  ];
  const [program, ...args] = pin ? ["taskset", "-c", "1", ...deno] : deno;
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
