// Copyright 2026 the Duplex authors. MIT license.
// The load generator of `duplex bench` (cli.ts), of bench/concurrent.ts and
// the broadcast scenario, and the raw clients of the tests (bench/peers.ts
// drives its echo and chat scenarios from bench/wsload.c): raw sockets, pre-encoded masked frames, a window
// of messages in flight per connection, and every echoed byte checked
// against what the server must send back. It does no WebSocket work per
// message beyond counting and comparing, so that the server, not the
// generator, is what is measured. Internal.

import { Buffer } from "node:buffer";
import { encodeFrame, Opcode } from "./codec/mod.ts";

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const encoder = new TextEncoder();
// Round trips recorded at most, so that a long run stays in bounded memory.
const MAX_LATENCIES = 1_000_000;

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
  /** Record each round trip (the first million). */
  latencies?: boolean;
  /** TLS (`wss:`), with these extra trusted roots. */
  secure?: boolean;
  caCerts?: string[];
  /** The request path. Default `/`. */
  path?: string;
  /** Counts verified messages as they come, and keeps the round trips, for a progress line. */
  progress?: { messages: number; latencies?: number[] };
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
  tls?: { caCerts?: string[] | undefined },
): Promise<Deno.Conn> {
  const tcp = await Deno.connect({ hostname, port });
  tcp.setNoDelay(true);
  const conn: Deno.Conn = tls === undefined
    ? tcp
    : await Deno.startTls(tcp, { hostname, ...(tls.caCerts ? { caCerts: tls.caCerts } : {}) });
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
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
}

/** Runs one load: every connection keeps `window` messages in flight for `duration`. */
export async function runLoad(options: LoadOptions, conns?: Deno.Conn[]): Promise<LoadResult> {
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
    await openMany(
      options.hostname,
      options.port,
      options.connections,
      options.raw ?? false,
      options.path ?? "/",
      options.secure === true ? { caCerts: options.caCerts } : undefined,
    );
  const progress = options.progress;
  let messages = 0;
  const latencies: number[] = options.progress?.latencies ?? [];
  let stopping = false;
  const started = performance.now();
  const timer = setTimeout(() => stopping = true, options.duration);

  await Promise.all(opened.map(async (conn) => {
    const buffer = new Uint8Array(readSize);
    const view = Buffer.from(buffer.buffer);
    let position = 0; // offset within one echo frame
    let inFlight = window;
    const sentAt: number[] = [];
    if (options.latencies) {
      const now = performance.now();
      for (let i = 0; i < window; i++) sentAt.push(now);
    }
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
      if (progress !== undefined) progress.messages += done;
      inFlight -= done;
      if (options.latencies) {
        const now = performance.now();
        for (let i = 0; i < done; i++) {
          const at = sentAt.shift()!;
          if (latencies.length < MAX_LATENCIES) latencies.push(now - at);
        }
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
  tls?: { caCerts?: string[] | undefined },
): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = Math.min(64, count - i);
    conns.push(
      ...await Promise.all(
        Array.from({ length: batch }, () => openRaw(hostname, port, raw, path, tls)),
      ),
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
