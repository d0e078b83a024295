// Copyright 2026 the Duplex authors. MIT license.
/**
 * Shared helpers for the conformance suites, which follow the
 * Autobahn|Testsuite case catalogue (groups 1–7, 9 and 10):
 *
 * - {@linkcode startEchoServer}: Duplex's server running the echo loop of
 *   `examples/echo_server.ts`, in this process.
 * - {@linkcode RawClient}: a hand-written client over `Deno.connect` that
 *   writes exact bytes (masked frames, broken frames, chopped writes) and
 *   reads the server's frames back, to test Duplex's server.
 * - {@linkcode RawServer}: a hand-written server over `Deno.listen` that
 *   answers the handshake itself and writes exact unmasked frames, to test
 *   Duplex's client (`connect()` running the echo loop of
 *   `examples/echo_client.ts`).
 * - {@linkcode AUTOBAHN_CASES}: the cases, written once against
 *   {@linkcode RawPeer} so that both suites send the same bytes and expect the
 *   same answers, each from its side of the wire (a client masks, a server
 *   does not).
 *
 * Every wait is bounded: a case that gets no answer fails after a few
 * seconds, and every socket and listener is closed before the case ends, so
 * Deno's resource and op sanitizers stay on.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  acceptKey,
  connect,
  type ConnectionCloseInfo,
  type ConnectOptions,
  type Frame,
  FrameDecoder,
  Opcode,
  ProtocolError,
  serve,
  type ServeOptions,
  type UpgradeOptions,
  upgradeWebSocket,
  type WebSocketConnection,
} from "../../mod.ts";

export { Opcode };

// -----------------------------------------------------------------------------
// Timing. Autobahn waits 1 s where a case pauses and kills a connection that
// has not failed after 1 s (0.5 s in 6.5–6.23); the pauses here are shorter,
// the kill timer the same.

/** The pause between the parts of a case where Autobahn waits 1 s. */
export const PAUSE = 100;
/** How long the peer under test has to fail a connection, as Autobahn's kill timer. */
export const FAIL_TIMEOUT = 1_000;
/** How long an expected frame may take to arrive. */
export const FRAME_TIMEOUT = 2_000;
/** How long a large message (group 9) may take to come back. */
export const LARGE_TIMEOUT = 5_000;

// -----------------------------------------------------------------------------
// Bytes.

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Bytes, or text to send as UTF-8. */
export type Bytes = Uint8Array | string;

/** Returns `data` as bytes, encoding text as UTF-8. */
export function bytes(data: Bytes): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** Parses hex (spaces allowed) into bytes. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Formats bytes as hex, shortened past `max` bytes. */
export function toHex(data: Uint8Array, max = 48): string {
  let text = "";
  for (let i = 0; i < Math.min(data.length, max); i++) {
    text += data[i]!.toString(16).padStart(2, "0");
  }
  return data.length > max ? `${text}… (${data.length} bytes)` : text;
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** `pattern` repeated until `length` bytes, as Autobahn's `payload_len` does. */
export function repeat(pattern: Bytes, length: number): Uint8Array {
  const unit = bytes(pattern);
  const out = new Uint8Array(length);
  let filled = Math.min(unit.length, length);
  out.set(unit.subarray(0, filled));
  while (filled < length) {
    const n = Math.min(filled, length - filled);
    out.copyWithin(filled, 0, n);
    filled += n;
  }
  return out;
}

/** Cuts `data` into pieces of `size` bytes (the last may be shorter). */
export function split(data: Uint8Array, size: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) pieces.push(data.subarray(i, i + size));
  return pieces;
}

/** Waits `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settles like `promise`, or rejects after `ms` milliseconds saying what did not happen. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that two byte arrays are equal, saying where they first differ. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length) {
    assert.fail(
      `${what}: expected ${expected.length} bytes (${toHex(expected, 24)}), got ${actual.length} (${
        toHex(actual, 24)
      })`,
    );
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      const from = Math.max(0, i - 8);
      assert.fail(
        `${what}: byte ${i} differs: expected ${toHex(expected.subarray(from, i + 8))}, got ${
          toHex(actual.subarray(from, i + 8))
        } (from offset ${from})`,
      );
    }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}

// -----------------------------------------------------------------------------
// Frames, built by hand: the harness does not use Duplex's encoder, so that an
// encoding bug cannot hide a decoding bug.

/** The mask key of every masked frame the harness sends (a fixed key, as in the RFC 6455 §5.7 examples). */
export const MASK_KEY: Uint8Array = hex("37 fa 21 3d");

/** How to build a frame. */
export interface FrameOptions {
  /** The FIN bit. Default `true`. */
  fin?: boolean;
  /**
   * The reserved bits as Autobahn numbers them: a 3-bit value shifted into
   * bits 4–6 of the first byte, so 4 is RSV1, 2 is RSV2, 1 is RSV3.
   */
  rsv?: number;
  /** Set RSV1 (0x40). */
  rsv1?: boolean;
  /** Set RSV2 (0x20). */
  rsv2?: boolean;
  /** Set RSV3 (0x10). */
  rsv3?: boolean;
  /** The mask key, or `false` for an unmasked frame. */
  mask?: Uint8Array | false;
}

/**
 * Builds one frame, exactly as asked, with the shortest length encoding.
 *
 * @param opcode The opcode, 0–15 (reserved ones included).
 * @param payload The payload; text is sent as UTF-8.
 * @param options FIN, reserved bits and mask key (default: unmasked).
 * @returns The frame's bytes.
 */
export function buildFrame(
  opcode: number,
  payload: Bytes = EMPTY,
  options: FrameOptions = {},
): Uint8Array {
  const data = bytes(payload);
  const key = options.mask ?? false;
  const masked = key !== false;
  const length = data.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const frame = new Uint8Array(2 + extended + (masked ? 4 : 0) + length);
  let rsv = (options.rsv ?? 0) & 7;
  if (options.rsv1) rsv |= 4;
  if (options.rsv2) rsv |= 2;
  if (options.rsv3) rsv |= 1;
  frame[0] = ((options.fin ?? true) ? 0x80 : 0) | (rsv << 4) | (opcode & 0x0f);
  frame[1] = (masked ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  let p = 2;
  if (extended === 2) {
    frame[p++] = length >>> 8;
    frame[p++] = length & 0xff;
  } else if (extended === 8) {
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
    p += 8;
  }
  if (masked) {
    frame.set(key, p);
    p += 4;
    const k0 = key[0]!, k1 = key[1]!, k2 = key[2]!, k3 = key[3]!;
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      frame[p + i] = data[i]! ^ k0;
      frame[p + i + 1] = data[i + 1]! ^ k1;
      frame[p + i + 2] = data[i + 2]! ^ k2;
      frame[p + i + 3] = data[i + 3]! ^ k3;
    }
    for (; i < length; i++) frame[p + i] = data[i]! ^ key[i & 3]!;
  } else {
    frame.set(data, p);
  }
  return frame;
}

/**
 * A close frame payload, written without checks as Autobahn's
 * `sendCloseFrame` does: no code gives just the reason's bytes (so no
 * arguments give an empty payload).
 */
export function closePayload(code?: number, reason: Bytes = EMPTY): Uint8Array {
  if (code === undefined) return bytes(reason);
  return concat(new Uint8Array([code >>> 8, code & 0xff]), bytes(reason));
}

const OPCODE_NAMES: Record<number, string> = {
  0: "continuation",
  1: "text",
  2: "binary",
  8: "close",
  9: "ping",
  10: "pong",
};

function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `opcode-${opcode}`;
}

/** Describes a received frame for an assertion message. */
export function describeFrame(frame: Frame): string {
  const payload = frame.payload;
  if (frame.opcode === Opcode.Close) {
    if (payload.length === 0) return "a close frame with no code";
    if (payload.length === 1) return `a close frame with a 1-byte payload (${toHex(payload)})`;
    const code = (payload[0]! << 8) | payload[1]!;
    const reason = new TextDecoder().decode(payload.subarray(2));
    return `a close frame with code ${code}${reason ? ` (${JSON.stringify(reason)})` : ""}`;
  }
  const flags = `${frame.fin ? "" : "non-final "}${
    frame.rsv1 || frame.rsv2 || frame.rsv3 ? "RSV-flagged " : ""
  }`;
  return `a ${flags}${opcodeName(frame.opcode)} frame of ${payload.length} bytes (${
    toHex(payload, 24)
  })`;
}

// -----------------------------------------------------------------------------
// HTTP, by hand.

/** A parsed HTTP response. */
export interface HttpResponse {
  /** The version in the status line. */
  version: string;
  /** The status code. */
  status: number;
  /** The reason phrase. */
  statusText: string;
  /** The header fields. */
  headers: Headers;
  /** The body, as text (empty for a 101). */
  body: string;
}

/** A parsed HTTP request. */
export interface HttpRequest {
  /** The method. */
  method: string;
  /** The request target. */
  target: string;
  /** The version in the request line. */
  version: string;
  /** The header fields. */
  headers: Headers;
  /** The raw head, through the empty line. */
  head: string;
}

function headEnd(data: Uint8Array): number {
  for (let i = 3; i < data.length; i++) {
    if (data[i] === 0x0a && data[i - 1] === 0x0d && data[i - 2] === 0x0a && data[i - 3] === 0x0d) {
      return i + 1;
    }
  }
  return -1;
}

/**
 * Reads from `conn` until `done(bytes so far)` returns true or the peer
 * closes; `conn` is closed if `timeout` passes first.
 */
async function readUntil(
  conn: Deno.Conn,
  initial: Uint8Array,
  done: (data: Uint8Array) => boolean,
  timeout: number,
  what: string,
): Promise<{ data: Uint8Array; eof: boolean }> {
  let data = initial;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    closeQuietly(conn);
  }, timeout);
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (!done(data)) {
      const n = await conn.read(buffer);
      if (n === null) return { data, eof: true };
      data = concat(data, buffer.subarray(0, n));
    }
    return { data, eof: false };
  } catch (error) {
    if (expired) throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function readHead(
  conn: Deno.Conn,
  timeout: number,
  what: string,
): Promise<{ head: string; rest: Uint8Array }> {
  const { data } = await readUntil(conn, EMPTY, (d) => headEnd(d) >= 0, timeout, what);
  const end = headEnd(data);
  if (end < 0) {
    assert.fail(
      `expected ${what}, the connection closed after ${data.length} bytes: ${
        JSON.stringify(latin1(data).slice(0, 200))
      }`,
    );
  }
  return { head: latin1(data.subarray(0, end)), rest: data.slice(end) };
}

function latin1(data: Uint8Array): string {
  let text = "";
  for (let i = 0; i < data.length; i++) text += String.fromCharCode(data[i]!);
  return text;
}

function parseFields(lines: string[]): Headers {
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    assert.ok(colon > 0, `malformed header line ${JSON.stringify(line)}`);
    headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return headers;
}

function parseResponseHead(head: string): HttpResponse {
  const lines = head.split("\r\n").slice(0, -2);
  const match = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
  assert.ok(match !== null, `malformed status line ${JSON.stringify(lines[0])}`);
  return {
    version: match[1]!,
    status: Number(match[2]),
    statusText: match[3] ?? "",
    headers: parseFields(lines.slice(1)),
    body: "",
  };
}

function parseRequestHead(head: string): HttpRequest {
  const lines = head.split("\r\n").slice(0, -2);
  const match = /^(\S+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0] ?? "");
  assert.ok(match !== null, `malformed request line ${JSON.stringify(lines[0])}`);
  return {
    method: match[1]!,
    target: match[2]!,
    version: match[3]!,
    headers: parseFields(lines.slice(1)),
    head,
  };
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64. */
export function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/**
 * Sends `request` as it is on a new connection and reads the response: its
 * head, then its body by `Content-Length`, or until the server closes.
 *
 * @param port The server's port on 127.0.0.1.
 * @param request The request bytes, head (and body) included.
 * @param timeout The most milliseconds the exchange may take.
 * @returns The response, and whether the server closed the connection after it.
 */
export async function httpExchange(
  port: number,
  request: Bytes,
  timeout = FRAME_TIMEOUT,
): Promise<HttpResponse & { closed: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, bytes(request));
    const { head, rest } = await readHead(conn, timeout, "an HTTP response");
    const response = parseResponseHead(head);
    const lengthHeader = response.headers.get("content-length");
    // A 101 (or any 1xx, 204, 304) has no body.
    const bodiless = response.status < 200 || response.status === 204 || response.status === 304;
    const length = bodiless ? 0 : lengthHeader === null ? Infinity : Number(lengthHeader);
    const { data, eof } = await readUntil(
      conn,
      rest,
      (d) => d.length >= length,
      timeout,
      "the response body",
    );
    let closed = eof;
    if (!closed) {
      // Did the server close after the response? Give it a moment to say so.
      const after = await readUntil(conn, EMPTY, () => false, 100, "EOF").catch(() => null);
      closed = after !== null && after.eof && after.data.length === 0;
    }
    return { ...response, body: new TextDecoder().decode(data), closed };
  } finally {
    closeQuietly(conn);
  }
}

/** Builds an opening handshake request, header by header. */
export function upgradeRequestHead(
  port: number,
  key: string,
  options: { path?: string; headers?: Record<string, string> } = {},
): string {
  const headers: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": key,
    "Sec-WebSocket-Version": "13",
    ...options.headers,
  };
  let head = `GET ${options.path ?? "/"} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

// -----------------------------------------------------------------------------
// Raw peers.

/** Something read from the wire. */
type WireEvent =
  | { type: "frame"; frame: Frame }
  | { type: "eof" }
  | { type: "error"; error: unknown };

function describeEvent(event: WireEvent): string {
  if (event.type === "frame") return describeFrame(event.frame);
  if (event.type === "eof") return "the TCP connection closing";
  const error = event.error;
  return `an error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
}

/**
 * How frames go out: `"together"` in one write (what Autobahn does by
 * default), `"sync"` one write per frame (Autobahn's frame-wise chops), or
 * each frame written in `chop`-byte pieces (Autobahn's `chopsize`).
 */
export type SendMode = "together" | "sync" | { chop: number; delay?: number };

/** The close codes acceptable in a close frame; `null` means a close frame without a code. */
export type CloseExpectation = number | null | readonly (number | null)[];

/** How the peer under test should report the end of the connection in `closed`. */
export interface ExpectedEnd {
  /** The close code. */
  code: number;
  /** Whether close frames were exchanged both ways. */
  wasClean: boolean;
}

/**
 * One end of a WebSocket connection written by hand: it sends exactly the
 * bytes it is given and decodes what the peer under test sends with
 * Duplex's `FrameDecoder` (which also checks the peer's masking).
 */
export abstract class RawPeer {
  /** The side this peer plays: a client masks its frames, a server does not. */
  abstract readonly side: "client" | "server";
  /** Set by the case's last step: how the peer under test should see the end. */
  expectedEnd: ExpectedEnd | undefined;

  #conn: Deno.TcpConn | null = null;
  #events: WireEvent[] = [];
  #terminal: WireEvent | null = null;
  #notify: (() => void) | null = null;
  #reading: Promise<void> = Promise.resolve();
  #closed = false;

  /** Starts reading frames from `conn`, after the handshake bytes already read. */
  protected attach(conn: Deno.TcpConn, leftover: Uint8Array): void {
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#reading = this.#readLoop(conn, leftover);
  }

  /** The TCP connection. */
  get conn(): Deno.TcpConn {
    if (this.#conn === null) throw new Error("The raw peer is not connected");
    return this.#conn;
  }

  async #readLoop(conn: Deno.TcpConn, leftover: Uint8Array): Promise<void> {
    const decoder = new FrameDecoder({
      role: this.side,
      maxMessageSize: 2 ** 30,
      maxFragments: 2 ** 30,
    });
    let failed = false;
    const take = (chunk: Uint8Array) => {
      if (failed) return;
      try {
        decoder.push(chunk);
        for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
          // Views of the read buffer are copied; gathered payloads are already ours.
          const payload = frame.payload.buffer === chunk.buffer
            ? frame.payload.slice()
            : frame.payload;
          this.#emit({ type: "frame", frame: { ...frame, payload } });
        }
      } catch (error) {
        failed = true;
        this.#emit({ type: "error", error });
      }
    };
    try {
      if (leftover.length > 0) take(leftover);
      const buffer = new Uint8Array(64 * 1024);
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        take(buffer.subarray(0, n));
      }
      this.#emit({ type: "eof" });
    } catch (error) {
      this.#emit(this.#closed ? { type: "eof" } : { type: "error", error });
    }
  }

  #emit(event: WireEvent): void {
    if (this.#terminal !== null) return;
    if (event.type !== "frame") this.#terminal = event;
    this.#events.push(event);
    this.#notify?.();
  }

  /**
   * The next thing read from the wire, or `undefined` if nothing arrives
   * within `timeout` ms. After the connection ended, its end again.
   */
  nextEvent(timeout: number): Promise<WireEvent | undefined> {
    const queued = this.#events.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#terminal !== null) return Promise.resolve(this.#terminal);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#notify = null;
        resolve(undefined);
      }, timeout);
      this.#notify = () => {
        clearTimeout(timer);
        this.#notify = null;
        resolve(this.#events.shift());
      };
    });
  }

  #unread(event: WireEvent): void {
    this.#events.unshift(event);
  }

  // --- Sending.

  /** Builds a frame as this side sends it: masked with {@linkcode MASK_KEY} by a client. */
  frame(opcode: number, payload: Bytes = EMPTY, options: FrameOptions = {}): Uint8Array {
    const mask = options.mask ?? (this.side === "client" ? MASK_KEY : false);
    return buildFrame(opcode, payload, { ...options, mask });
  }

  /** Writes bytes as they are, in one write. */
  send(data: Uint8Array): Promise<void> {
    return writeAll(this.conn, data);
  }

  /** Builds a frame (see {@linkcode RawPeer.frame}) and writes it. */
  sendFrame(opcode: number, payload: Bytes = EMPTY, options: FrameOptions = {}): Promise<void> {
    return this.send(this.frame(opcode, payload, options));
  }

  /** Writes frames back to back, together, frame by frame, or in chops. */
  async sendFrames(frames: Uint8Array[], mode: SendMode = "together"): Promise<void> {
    if (mode === "together") {
      await this.send(concat(...frames));
    } else if (mode === "sync") {
      for (const frame of frames) await this.send(frame);
    } else {
      for (const frame of frames) await this.sendChopped(frame, mode.chop, mode.delay ?? 0);
    }
  }

  /** Writes `data` in writes of `chopSize` bytes, `delayMs` apart. */
  async sendChopped(data: Uint8Array, chopSize: number, delayMs = 0): Promise<void> {
    for (let i = 0; i < data.length; i += chopSize) {
      if (i > 0 && delayMs > 0) await delay(delayMs);
      await this.send(data.subarray(i, i + chopSize));
    }
  }

  /** Half-closes the TCP connection (sends FIN) and keeps reading. */
  closeWrite(): Promise<void> {
    return this.conn.closeWrite();
  }

  /** Closes the TCP connection and waits for the read loop to stop; safe to call again. */
  async closeTcp(): Promise<void> {
    if (this.#conn !== null && !this.#closed) {
      this.#closed = true;
      closeQuietly(this.#conn);
    }
    await this.#reading;
  }

  // --- Expecting.

  /** Expects the next thing on the wire to be a frame, and returns it. */
  async expectFrame(what: string, timeout = FRAME_TIMEOUT): Promise<Frame> {
    const event = await this.nextEvent(timeout);
    if (event === undefined) assert.fail(`expected ${what}, got nothing within ${timeout} ms`);
    if (event.type !== "frame") assert.fail(`expected ${what}, got ${describeEvent(event)}`);
    return event.frame;
  }

  /**
   * Expects a whole data message (one frame, or a first frame and its
   * continuations) with exactly this type and payload.
   *
   * @returns The frames it came in.
   */
  async expectMessage(
    opcode: number,
    payload: Bytes,
    timeout = FRAME_TIMEOUT,
  ): Promise<Frame[]> {
    const expected = bytes(payload);
    const what = `a ${opcodeName(opcode)} message of ${expected.length} bytes (${
      toHex(expected, 24)
    })`;
    let frame = await this.expectFrame(what, timeout);
    if (frame.opcode !== opcode) assert.fail(`expected ${what}, got ${describeFrame(frame)}`);
    const frames = [frame];
    while (!frame.fin) {
      frame = await this.expectFrame(`the rest of ${what}`, timeout);
      if (frame.opcode !== Opcode.Continuation) {
        assert.fail(`expected the rest of ${what}, got ${describeFrame(frame)}`);
      }
      frames.push(frame);
    }
    for (const each of frames) {
      assert.ok(!each.rsv1 && !each.rsv2 && !each.rsv3, `${what}: reserved bits are set`);
    }
    const received = frames.length === 1
      ? frames[0]!.payload
      : concat(...frames.map((each) => each.payload));
    assertBytes(received, expected, `the echo of ${what}`);
    return frames;
  }

  /**
   * Accepts either this message or none (Autobahn's OK and NON-STRICT
   * outcomes when a valid message comes just before a violation).
   *
   * @returns Whether the message came.
   */
  async expectOptionalMessage(
    opcode: number,
    payload: Bytes,
    timeout = FAIL_TIMEOUT,
  ): Promise<boolean> {
    const event = await this.nextEvent(timeout);
    if (event === undefined) return false;
    this.#unread(event);
    if (
      event.type === "frame" &&
      (event.frame.opcode === Opcode.Text || event.frame.opcode === Opcode.Binary)
    ) {
      await this.expectMessage(opcode, payload, timeout);
      return true;
    }
    return false;
  }

  /** Expects a pong with exactly this payload. */
  async expectPong(payload: Bytes = EMPTY, timeout = FRAME_TIMEOUT): Promise<void> {
    const expected = bytes(payload);
    const what = `a pong with ${expected.length} bytes (${toHex(expected)})`;
    const frame = await this.expectFrame(what, timeout);
    if (frame.opcode !== Opcode.Pong) assert.fail(`expected ${what}, got ${describeFrame(frame)}`);
    assertBytes(frame.payload, expected, "the pong payload");
  }

  /** Expects nothing at all, not even the end of the connection, for `ms` milliseconds. */
  async expectNothing(ms: number, why = "the connection to stay open and quiet"): Promise<void> {
    const event = await this.nextEvent(ms);
    if (event !== undefined) {
      assert.fail(`expected ${why} for ${ms} ms, got ${describeEvent(event)}`);
    }
  }

  /** Expects the peer to close the TCP connection, with nothing more sent first. */
  async expectEof(timeout = FRAME_TIMEOUT): Promise<void> {
    const event = await this.nextEvent(timeout);
    if (event === undefined) {
      assert.fail(`expected the TCP connection to close within ${timeout} ms; it stayed open`);
    }
    if (event.type !== "eof") {
      assert.fail(`expected the TCP connection to close, got ${describeEvent(event)}`);
    }
  }

  /**
   * Expects the next frame to be a close frame with one of `expected`
   * codes and a valid UTF-8 reason, then (by default) the TCP connection to
   * close with nothing more sent.
   */
  async expectClose(
    expected: CloseExpectation,
    options: { timeout?: number; eof?: boolean } = {},
  ): Promise<{ code: number | null; reason: string }> {
    const timeout = options.timeout ?? FRAME_TIMEOUT;
    const codes: readonly (number | null)[] = typeof expected === "object" && expected !== null
      ? expected
      : [expected];
    const what = `a close frame with ${
      codes.map((code) => code === null ? "no code" : `code ${code}`).join(" or ")
    }`;
    const frame = await this.expectFrame(what, timeout);
    if (frame.opcode !== Opcode.Close) assert.fail(`expected ${what}, got ${describeFrame(frame)}`);
    const payload = frame.payload;
    if (payload.length === 1) assert.fail(`expected ${what}, got ${describeFrame(frame)}`);
    const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : null;
    if (!codes.includes(code)) assert.fail(`expected ${what}, got ${describeFrame(frame)}`);
    let reason = "";
    try {
      reason = new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(2));
    } catch {
      assert.fail(`the close reason is not valid UTF-8: ${toHex(payload.subarray(2))}`);
    }
    if (options.eof ?? true) await this.expectEof(timeout);
    return { code, reason };
  }

  /**
   * Expects the peer under test to fail the connection: a close frame with
   * `code` within Autobahn's kill timer, nothing before it, and the TCP
   * connection closing after it.
   */
  async expectFailure(code: number, timeout = FAIL_TIMEOUT): Promise<void> {
    await this.expectClose(code, { timeout, eof: true });
    this.expectedEnd = { code, wasClean: false };
  }

  /**
   * After this side sent a close frame: expects the reply, then the TCP
   * close in RFC 6455 §7.1.1's order (the server closes first). A raw
   * client waits for the server's FIN; a raw server sends its FIN and
   * waits for the client's.
   *
   * @param expected The codes the reply may carry.
   * @param sent The code this side sent (1005 for none): what `closed` reports.
   */
  async expectCloseReply(
    expected: CloseExpectation,
    sent: number,
    timeout = FRAME_TIMEOUT,
  ): Promise<void> {
    if (this.side === "client") {
      await this.expectClose(expected, { timeout, eof: true });
    } else {
      await this.expectClose(expected, { timeout, eof: false });
      await this.closeWrite();
      await this.expectEof(timeout);
    }
    this.expectedEnd = { code: sent, wasClean: true };
  }

  /**
   * The closing handshake started by this side, as Autobahn's tester ends a
   * passing case: sends a close frame and expects it echoed (the same code;
   * 1000 or none for a close without a code), then the TCP close.
   */
  async closeHandshake(code?: number, reason: Bytes = EMPTY): Promise<void> {
    await this.sendFrame(Opcode.Close, closePayload(code, reason));
    await this.expectCloseReply(code ?? [null, 1000], code ?? 1005);
  }
}

/** Options for {@linkcode RawClient.connect}. */
export interface RawConnectOptions {
  /** The request target. Default `/`. */
  path?: string;
  /** The `Sec-WebSocket-Key`. Default: a fresh random one. */
  key?: string;
  /** Extra or replaced header fields. */
  headers?: Record<string, string>;
  /** Bytes written in the same write, right after the request (pipelined frames). */
  after?: Uint8Array;
  /** The most milliseconds the handshake may take. Default 2,000. */
  timeout?: number;
}

/** A client written by hand, for testing Duplex's server. */
export class RawClient extends RawPeer {
  readonly side = "client" as const;
  /** The server's 101 response. */
  response: HttpResponse;

  private constructor(response: HttpResponse) {
    super();
    this.response = response;
  }

  /**
   * Connects to 127.0.0.1:`port`, writes the opening handshake and checks
   * the 101: `Upgrade: websocket`, `Connection: Upgrade` and the right
   * `Sec-WebSocket-Accept`.
   */
  static async connect(port: number, options: RawConnectOptions = {}): Promise<RawClient> {
    const key = options.key ?? randomKey();
    const timeout = options.timeout ?? FRAME_TIMEOUT;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const request = encoder.encode(upgradeRequestHead(port, key, options));
      await writeAll(conn, concat(request, options.after ?? EMPTY));
      const { head, rest } = await readHead(conn, timeout, "the 101 response");
      const response = parseResponseHead(head);
      assert.equal(
        response.status,
        101,
        `expected 101 Switching Protocols, got ${JSON.stringify(head.split("\r\n")[0])}`,
      );
      assert.match(response.headers.get("upgrade") ?? "", /^websocket$/i, "the Upgrade header");
      assert.match(response.headers.get("connection") ?? "", /\bupgrade\b/i, "Connection header");
      assert.equal(
        response.headers.get("sec-websocket-accept"),
        await acceptKey(key),
        "the Sec-WebSocket-Accept header",
      );
      const client = new RawClient(response);
      client.attach(conn, rest);
      return client;
    } catch (error) {
      closeQuietly(conn);
      throw error;
    }
  }
}

/** Options for {@linkcode RawServer.accept}. */
export interface RawAcceptOptions {
  /** Extra header fields for the 101. */
  headers?: Record<string, string>;
  /** Replaces the 101: whatever bytes to answer (a refusal, a wrong accept…). */
  response?: (request: HttpRequest, accept: string) => Bytes;
  /** Bytes written in the same write, right after the response (pipelined frames). */
  after?: Uint8Array;
  /** The most milliseconds the client may take to connect and send its request. Default 3,000. */
  timeout?: number;
}

/** A server written by hand for one connection, for testing Duplex's client. */
export class RawServer extends RawPeer {
  readonly side = "server" as const;
  /** The client's upgrade request, once accepted. */
  request: HttpRequest | undefined;
  readonly #listener: Deno.TcpListener;

  private constructor(listener: Deno.TcpListener) {
    super();
    this.#listener = listener;
  }

  /** Listens on 127.0.0.1, on a free port. */
  static listen(): RawServer {
    return new RawServer(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  }

  /** The port listened on. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** The `ws:` URL to connect to. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /**
   * Accepts one connection, reads the upgrade request and answers it: by
   * default a correct 101 with the accept computed by `acceptKey`.
   *
   * @returns The request.
   */
  async accept(options: RawAcceptOptions = {}): Promise<HttpRequest> {
    const timeout = options.timeout ?? 3_000;
    const conn = await withTimeout(this.#listener.accept(), timeout, "the client to connect");
    try {
      const { head, rest } = await readHead(conn, timeout, "the upgrade request");
      const request = parseRequestHead(head);
      this.request = request;
      const accept = await acceptKey(request.headers.get("sec-websocket-key") ?? "");
      let response: Bytes;
      if (options.response !== undefined) {
        response = options.response(request, accept);
      } else {
        let text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
          `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n`;
        for (const [name, value] of Object.entries(options.headers ?? {})) {
          text += `${name}: ${value}\r\n`;
        }
        response = `${text}\r\n`;
      }
      await writeAll(conn, concat(bytes(response), options.after ?? EMPTY));
      this.attach(conn, rest);
      return request;
    } catch (error) {
      closeQuietly(conn);
      throw error;
    }
  }

  /** Closes the connection and the listener. */
  async dispose(): Promise<void> {
    await this.closeTcp();
    closeQuietly(this.#listener);
  }
}

// -----------------------------------------------------------------------------
// The peers under test.

/** Options for {@linkcode startEchoServer}: the upgrade's, and `serve()`'s own. */
export interface EchoServerOptions extends UpgradeOptions {
  /** Options for `serve()`, besides the address and `onListen`. */
  serve?: Omit<ServeOptions, "port" | "hostname" | "onListen" | "handler">;
}

/** A running echo server. */
export interface EchoServer {
  /** `ws://127.0.0.1:PORT/`. */
  url: string;
  /** The port. */
  port: number;
  /** Every WebSocket connection it accepted, in order. */
  connections: WebSocketConnection[];
  /** Shuts the server down and waits for every connection and echo loop to end. */
  close(): Promise<void>;
}

/**
 * Starts Duplex's server on 127.0.0.1 with the echo loop of
 * `examples/echo_server.ts`. A request that is not a valid upgrade makes
 * `upgradeWebSocket` throw, and `serve` answers with the error's status.
 */
export function startEchoServer(options: EchoServerOptions = {}): Promise<EchoServer> {
  const { serve: serveOptions, ...upgradeOptions } = options;
  const connections: WebSocketConnection[] = [];
  const loops: Promise<void>[] = [];
  const server = serve({ ...serveOptions, hostname: "127.0.0.1", port: 0, onListen() {} }, (
    request,
  ) => {
    const { connection, response } = upgradeWebSocket(request, upgradeOptions);
    connections.push(connection);
    loops.push(
      (async () => {
        // As examples/echo_server.ts: pull-based, every message sent back as it came.
        for await (const message of connection) await connection.send(message);
      })().catch(() => {
        // A connection that failed is closed already, with its close code sent.
      }),
    );
    return response;
  });
  const port = server.addr.port;
  return Promise.resolve({
    url: `ws://127.0.0.1:${port}/`,
    port,
    connections,
    async close() {
      await withTimeout(server.shutdown(), 8_000, "the echo server to shut down");
      await Promise.all(loops);
    },
  });
}

/** Runs the echo loop of `examples/echo_client.ts` until the connection ends. */
export async function echoLoop(connection: WebSocketConnection): Promise<void> {
  try {
    for await (const message of connection) await connection.send(message);
  } catch {
    // The connection failed; `closed` says how.
  }
}

/** Asserts how a Duplex connection reported its end. */
export function assertClosed(
  info: ConnectionCloseInfo,
  expected: ExpectedEnd,
  who: string,
): void {
  assert.equal(info.code, expected.code, `${who}: the code in closed`);
  assert.equal(info.wasClean, expected.wasClean, `${who}: wasClean in closed`);
  if (expected.wasClean) {
    assert.equal(info.error, undefined, `${who}: a clean close carries no error`);
  } else {
    assert.ok(
      info.error instanceof ProtocolError,
      `${who}: expected a ProtocolError in closed, got ${info.error}`,
    );
    assert.equal(info.error.closeCode, expected.code, `${who}: the error's close code`);
  }
}

/**
 * Runs one case against Duplex's echo server: connects a {@linkcode RawClient},
 * runs the case, closes the TCP connection, checks how the server's
 * connection reported the end (when the case set `expectedEnd`), and shuts
 * the server down.
 */
export async function runAgainstServer(
  run: (peer: RawClient, server: EchoServer) => Promise<void>,
  options: { server?: EchoServerOptions; connect?: RawConnectOptions } = {},
): Promise<void> {
  const server = await startEchoServer(options.server);
  let peer: RawClient | undefined;
  try {
    peer = await RawClient.connect(server.port, options.connect);
    await run(peer, server);
    await peer.closeTcp();
    const expected = peer.expectedEnd;
    if (expected !== undefined) {
      const connection = server.connections[0];
      assert.ok(connection !== undefined, "the server accepted no WebSocket connection");
      const info = await withTimeout(connection.closed, 3_000, "the server's `closed`");
      assertClosed(info, expected, "the server");
    }
  } finally {
    await peer?.closeTcp();
    await server.close();
  }
}

/**
 * Runs one case against Duplex's client: listens with a {@linkcode RawServer},
 * `connect()`s to it, runs the echo loop, runs the case, closes the TCP
 * connection and checks `connection.closed` (when the case set
 * `expectedEnd`).
 */
export async function runAgainstClient(
  run: (peer: RawServer, connection: WebSocketConnection) => Promise<void>,
  options: { connect?: ConnectOptions; accept?: RawAcceptOptions } = {},
): Promise<void> {
  const peer = RawServer.listen();
  const connecting = connect(peer.url, { handshakeTimeout: 3_000, ...options.connect });
  connecting.catch(() => {});
  let echo: Promise<void> | undefined;
  try {
    await peer.accept(options.accept);
    const connection = await withTimeout(connecting, 3_000, "connect() to resolve");
    echo = echoLoop(connection);
    await run(peer, connection);
    await peer.closeTcp();
    const info = await withTimeout(connection.closed, 3_000, "the client's `closed`");
    if (peer.expectedEnd !== undefined) assertClosed(info, peer.expectedEnd, "the client");
  } finally {
    await peer.dispose();
    const connection = await connecting.catch(() => undefined);
    if (connection !== undefined) {
      await withTimeout(connection.closed, 8_000, "the client to close").catch(() => {});
    }
    await echo;
  }
}

// -----------------------------------------------------------------------------
// The Autobahn|Testsuite catalogue, groups 1–7, 9 and 10, written against
// RawPeer: the same bytes (masked by a client, not by a server), the same
// chopping, the same expectations. Where Autobahn accepts OK or NON-STRICT,
// so do these; a FAILED outcome fails the case. The close code is always
// checked, as Autobahn does in group 7 (in other groups it only colours
// the report).

/** One case of the catalogue. */
export interface ConformanceCase {
  /** Autobahn's case number, such as `"5.1"`. */
  id: string;
  /** What is promised, for the test name. */
  title: string;
  /** Runs the case from the tester's side of the wire. */
  run: (peer: RawPeer) => Promise<void>;
}

const T = Opcode.Text;
const B = Opcode.Binary;
const C = Opcode.Continuation;
const CLOSE = Opcode.Close;
const PING = Opcode.Ping;
const PONG = Opcode.Pong;

/** κόσμε: a valid multi-byte UTF-8 string (11 bytes). */
export const KOSME: Uint8Array = hex("cebae1bdb9cf83cebcceb5");
/** Hello-µ@ßöäüàá-UTF-8!! (29 bytes), the payload of 6.2.x. */
export const P21: Uint8Array = hex("48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121");
/** Text that stops being UTF-8 at byte 12 (U+D800, a surrogate): 6.3.x and 7.5.1. */
export const INVALID_SURROGATE: Uint8Array = concat(KOSME, hex("eda080"), bytes("edited"));
const HELLO = "Hello, world!";

/** One UTF-8 vector of cases 6.5–6.23. */
export interface Utf8Vector {
  /** The case number, such as `"6.7.3"`. */
  id: string;
  /** Whether the payload is valid UTF-8 (RFC 3629). */
  valid: boolean;
  /** The text frame's payload. */
  payload: Uint8Array;
}

/**
 * The 132 UTF-8 vectors of cases 6.5–6.23 (`case6_x_x.py`, after Markus
 * Kuhn's UTF-8-test.txt), in Autobahn's order and numbering.
 */
export function utf8Vectors(): Utf8Vector[] {
  const groups: [boolean, Uint8Array][][] = [];
  const v = (valid: boolean, hexText: string): [boolean, Uint8Array] => [valid, hex(hexText)];
  // 6.5: some valid UTF-8 sequences.
  groups.push([
    v(true, "68656c6c6f24776f726c64"),
    v(true, "68656c6c6fc2a2776f726c64"),
    v(true, "68656c6c6fe282ac776f726c64"),
    v(true, "68656c6c6ff0a4ada2776f726c64"),
    [true, KOSME],
  ]);
  // 6.6: every prefix of κόσμε; those that end inside a code point are invalid.
  const whole = new Set([2, 5, 7, 9, 11]);
  groups.push(Array.from({ length: 11 }, (_, i) => [whole.has(i + 1), KOSME.slice(0, i + 1)]));
  // 6.7: the first sequence of each length.
  groups.push([v(true, "00"), v(true, "c280"), v(true, "e0a080"), v(true, "f0908080")]);
  // 6.8: the first 5- and 6-byte sequences.
  groups.push([v(false, "f888808080"), v(false, "fc8480808080")]);
  // 6.9: the last sequence of each length.
  groups.push([v(true, "7f"), v(true, "dfbf"), v(true, "efbfbf"), v(true, "f48fbfbf")]);
  // 6.10: the last 4-, 5- and 6-byte forms.
  groups.push([v(false, "f7bfbfbf"), v(false, "fbbfbfbfbf"), v(false, "fdbfbfbfbfbf")]);
  // 6.11: other boundaries; U+110000 is beyond Unicode.
  groups.push([
    v(true, "ed9fbf"),
    v(true, "ee8080"),
    v(true, "efbfbd"),
    v(true, "f48fbfbf"),
    v(false, "f4908080"),
  ]);
  // 6.12: unexpected continuation bytes; the last is 0x80..0xBE.
  groups.push([
    v(false, "80"),
    v(false, "bf"),
    v(false, "80bf"),
    v(false, "80bf80"),
    v(false, "80bf80bf"),
    v(false, "80bf80bf80"),
    v(false, "80bf80bf80bf"),
    [false, Uint8Array.from({ length: 0xbf - 0x80 }, (_, i) => 0x80 + i)],
  ]);
  // 6.13: lonely start bytes, each followed by a space (each range's end excluded).
  const ranges: [number, number][] = [[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [
    0xfc,
    0xfd,
  ]];
  groups.push(ranges.map(([from, to]) => {
    const out: number[] = [];
    for (let b = from; b < to; b++) out.push(b, 0x20);
    return [false, Uint8Array.from(out)];
  }));
  // 6.14: sequences with their last continuation byte missing; 6.15: all of them.
  const truncated = [
    "c0",
    "e080",
    "f08080",
    "f8808080",
    "fc80808080",
    "df",
    "efbf",
    "f7bfbf",
    "fbbfbfbf",
    "fdbfbfbfbf",
  ];
  groups.push(truncated.map((text) => v(false, text)));
  groups.push([v(false, truncated.join(""))]);
  // 6.16: impossible bytes.
  groups.push([v(false, "fe"), v(false, "ff"), v(false, "fefeffff")]);
  // 6.17: overlong "/"; 6.18: maximum overlongs; 6.19: overlong NUL.
  groups.push(
    ["c0af", "e080af", "f08080af", "f8808080af", "fc80808080af"].map((t) => v(false, t)),
  );
  groups.push(
    ["c1bf", "e09fbf", "f08fbfbf", "f887bfbfbf", "fc83bfbfbfbf"].map((t) => v(false, t)),
  );
  groups.push(
    ["c080", "e08080", "f0808080", "f880808080", "fc8080808080"].map((t) => v(false, t)),
  );
  // 6.20: single UTF-16 surrogates; 6.21: paired ones.
  groups.push(
    ["eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf"].map((t) => v(false, t)),
  );
  groups.push(
    [
      "eda080edb080",
      "eda080edbfbf",
      "edadbfedb080",
      "edadbfedbfbf",
      "edae80edb080",
      "edae80edbfbf",
      "edafbfedb080",
      "edafbfedbfbf",
    ].map((t) => v(false, t)),
  );
  // 6.22: noncharacters, which are valid UTF-8.
  const nonCharacters: [boolean, Uint8Array][] = [v(true, "efbfbe"), v(true, "efbfbf")];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // beyond U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonCharacters.push([true, Uint8Array.of(z1, z2, 0xbf, z3)]);
      }
    }
  }
  groups.push(nonCharacters);
  // 6.23: the specials U+FFF9..U+FFFF.
  groups.push(
    [0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf].map((b) => [true, Uint8Array.of(0xef, 0xbf, b)]),
  );
  return groups.flatMap((group, i) =>
    group.map(([valid, payload], j) => ({ id: `6.${i + 5}.${j + 1}`, valid, payload }))
  );
}

/**
 * Autobahn 6.4.x: an invalid text sent in three parts with pauses between
 * them. The connection must survive the first part (a valid prefix) and be
 * failed with 1007 once the part holding the bad byte has been delivered,
 * before the third part is sent. In "frames" the parts are three frames of
 * one message; in "chops" they are three writes of one frame whose header
 * announced the whole length.
 */
async function failFast(
  peer: RawPeer,
  parts: [Uint8Array, Uint8Array, Uint8Array],
  framing: "frames" | "chops",
): Promise<void> {
  let writes: Uint8Array[];
  if (framing === "frames") {
    writes = [
      peer.frame(T, parts[0], { fin: false }),
      peer.frame(C, parts[1], { fin: false }),
      peer.frame(C, parts[2]),
    ];
  } else {
    const payload = concat(...parts);
    const frame = peer.frame(T, payload);
    const header = frame.length - payload.length;
    const a = header + parts[0].length;
    const b = a + parts[1].length;
    // Autobahn writes the header (beginMessageFrame), then each part.
    await peer.send(frame.subarray(0, header));
    writes = [frame.subarray(header, a), frame.subarray(a, b), frame.subarray(b)];
  }
  await peer.send(writes[0]!);
  await peer.expectNothing(PAUSE, "the valid prefix to be accepted (the connection stays open)");
  await peer.send(writes[1]!);
  // The third part is never sent: the failure must come first.
  await peer.expectFailure(1007);
}

function defineCases(): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const define = (id: string, title: string, run: (peer: RawPeer) => Promise<void>) =>
    cases.push({ id, title, run });

  // --- 1. Framing: one frame, echoed with the same type and payload.
  const sizes = [0, 125, 126, 127, 128, 65535, 65536];
  for (
    const [type, group, pattern, name] of [[T, 1, "*", "text"], [
      B,
      2,
      hex("fe"),
      "binary",
    ]] as const
  ) {
    sizes.forEach((size, i) => {
      define(`1.${group}.${i + 1}`, `a ${size}-byte ${name} message is echoed`, async (peer) => {
        const payload = repeat(pattern, size);
        await peer.sendFrame(type, payload);
        await peer.expectMessage(type, payload);
        await peer.closeHandshake(1000);
      });
    });
    define(
      `1.${group}.8`,
      `a 65536-byte ${name} message written in 997-byte chops is echoed`,
      async (peer) => {
        const payload = repeat(pattern, 65536);
        await peer.sendChopped(peer.frame(type, payload), 997);
        await peer.expectMessage(type, payload);
        await peer.closeHandshake(1000);
      },
    );
  }

  // --- 2. Pings and pongs.
  const pingCases: [string, string, Uint8Array][] = [
    ["2.1", "an empty ping is answered with an empty pong", EMPTY],
    ["2.2", "a ping with a text payload is answered with the same payload", bytes(HELLO)],
    [
      "2.3",
      "a ping with a binary payload is answered with the same payload",
      hex("00fffefdfcfb00ff"),
    ],
    ["2.4", "a ping with 125 bytes (the limit) is answered", repeat(hex("fe"), 125)],
  ];
  for (const [id, title, payload] of pingCases) {
    define(id, title, async (peer) => {
      await peer.sendFrame(PING, payload);
      await peer.expectPong(payload);
      await peer.closeHandshake(1000);
    });
  }
  define("2.5", "a 126-byte ping fails the connection with 1002 and gets no pong", async (peer) => {
    await peer.sendFrame(PING, repeat(hex("fe"), 126));
    await peer.expectFailure(1002);
  });
  define("2.6", "a 125-byte ping written one byte at a time is answered", async (peer) => {
    const payload = repeat(hex("fe"), 125);
    await peer.sendChopped(peer.frame(PING, payload), 1);
    await peer.expectPong(payload);
    await peer.closeHandshake(1000);
  });
  define("2.7", "an unsolicited empty pong is ignored", async (peer) => {
    await peer.sendFrame(PONG);
    await peer.closeHandshake(1000);
  });
  define("2.8", "an unsolicited pong with a payload is ignored", async (peer) => {
    await peer.sendFrame(PONG, "unsolicited pong payload");
    await peer.closeHandshake(1000);
  });
  define("2.9", "after an unsolicited pong, a ping gets exactly one pong", async (peer) => {
    await peer.sendFrames([
      peer.frame(PONG, "unsolicited pong payload"),
      peer.frame(PING, "ping payload"),
    ]);
    await peer.expectPong("ping payload");
    await peer.closeHandshake(1000);
  });
  for (
    const [id, mode, how] of [["2.10", "together", ""], [
      "2.11",
      { chop: 1 },
      ", each byte by byte",
    ]] as const
  ) {
    define(id, `10 pings back to back${how} get 10 pongs, in order`, async (peer) => {
      const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
      await peer.sendFrames(payloads.map((payload) => peer.frame(PING, payload)), mode);
      for (const payload of payloads) await peer.expectPong(payload);
      await peer.closeHandshake(1000);
    });
  }

  // --- 3. Reserved bits: no extension is negotiated, so any is a 1002.
  define("3.1", "a text frame with RSV3 fails the connection with 1002", async (peer) => {
    await peer.sendFrame(T, HELLO, { rsv: 1 });
    await peer.expectFailure(1002);
  });
  for (
    const [id, rsv, mode, how] of [
      ["3.2", 2, "together", "RSV2"],
      ["3.3", 3, "sync", "RSV2+RSV3, frame by frame"],
      ["3.4", 4, { chop: 1 }, "RSV1, byte by byte"],
    ] as const
  ) {
    define(
      id,
      `text, then text with ${how}, then a ping: the first is echoed, then 1002 and no pong`,
      async (peer) => {
        await peer.sendFrames([
          peer.frame(T, HELLO),
          peer.frame(T, HELLO, { rsv }),
          peer.frame(PING),
        ], mode);
        // Autobahn's OK (not just NON-STRICT): the echo goes out before the close frame.
        await peer.expectMessage(T, HELLO);
        await peer.expectFailure(1002);
      },
    );
  }
  define("3.5", "a binary frame with RSV1+RSV3 fails the connection with 1002", async (peer) => {
    await peer.sendFrame(B, hex("00fffefdfcfb00ff"), { rsv: 5 });
    await peer.expectFailure(1002);
  });
  define("3.6", "a binary frame with RSV1+RSV2 fails the connection with 1002", async (peer) => {
    await peer.sendFrame(B, HELLO, { rsv: 6 });
    await peer.expectFailure(1002);
  });
  define("3.7", "a close frame with all RSV bits fails the connection with 1002", async (peer) => {
    await peer.sendFrame(CLOSE, EMPTY, { rsv: 7 });
    await peer.expectFailure(1002);
  });

  // --- 4. Reserved opcodes.
  for (const [group, base, kind] of [[1, 3, "data"], [2, 11, "control"]] as const) {
    define(
      `4.${group}.1`,
      `reserved ${kind} opcode ${base} fails the connection with 1002`,
      async (peer) => {
        await peer.sendFrame(base);
        await peer.expectFailure(1002);
      },
    );
    define(
      `4.${group}.2`,
      `reserved ${kind} opcode ${base + 1} with a payload fails the connection with 1002`,
      async (peer) => {
        await peer.sendFrame(base + 1, "reserved opcode payload");
        await peer.expectFailure(1002);
      },
    );
    const withPing: [number, number, Bytes, SendMode, string][] = [
      [3, base + 2, EMPTY, "together", ""],
      [4, base + 3, HELLO, "together", " with a payload"],
      [5, base + 4, HELLO, { chop: 1 }, " with a payload, byte by byte"],
    ];
    for (const [n, opcode, payload, mode, how] of withPing) {
      define(
        `4.${group}.${n}`,
        `text, reserved opcode ${opcode}${how}, ping: the text is echoed, then 1002 and no pong`,
        async (peer) => {
          await peer.sendFrames([
            peer.frame(T, HELLO),
            peer.frame(opcode, payload),
            peer.frame(PING),
          ], mode);
          await peer.expectMessage(T, HELLO);
          await peer.expectFailure(1002);
        },
      );
    }
  }

  // --- 5. Fragmentation.
  for (const [id, opcode, name] of [["5.1", PING, "ping"], ["5.2", PONG, "pong"]] as const) {
    define(id, `a fragmented ${name} fails the connection with 1002`, async (peer) => {
      await peer.sendFrames([
        peer.frame(opcode, "fragment1", { fin: false }),
        peer.frame(C, "fragment2"),
      ]);
      await peer.expectFailure(1002);
    });
  }
  const modes: [SendMode, string][] = [["together", ""], ["sync", ", frame by frame"], [
    { chop: 1 },
    ", byte by byte",
  ]];
  modes.forEach(([mode, how], i) => {
    define(`5.${3 + i}`, `a text message in 2 fragments${how} is echoed whole`, async (peer) => {
      await peer.sendFrames([
        peer.frame(T, "fragment1", { fin: false }),
        peer.frame(C, "fragment2"),
      ], mode);
      await peer.expectMessage(T, "fragment1fragment2");
      await peer.closeHandshake(1000);
    });
    define(
      `5.${6 + i}`,
      `a ping between 2 fragments${how} is answered before the echo`,
      async (peer) => {
        await peer.sendFrames([
          peer.frame(T, "fragment1", { fin: false }),
          peer.frame(PING, "ping payload"),
          peer.frame(C, "fragment2"),
        ], mode);
        await peer.expectPong("ping payload");
        await peer.expectMessage(T, "fragment1fragment2");
        await peer.closeHandshake(1000);
      },
    );
    define(
      `5.${9 + i}`,
      `a final continuation with no message open${how} fails the connection with 1002`,
      async (peer) => {
        await peer.sendFrames(
          [peer.frame(C, "non-continuation payload"), peer.frame(T, HELLO)],
          mode,
        );
        await peer.expectFailure(1002);
      },
    );
    define(
      `5.${12 + i}`,
      `a non-final continuation with no message open${how} fails the connection with 1002`,
      async (peer) => {
        await peer.sendFrames([
          peer.frame(C, "non-continuation payload", { fin: false }),
          peer.frame(T, HELLO),
        ], mode);
        await peer.expectFailure(1002);
      },
    );
  });
  define(
    "5.15",
    "a continuation after a complete message: the message is echoed, then 1002",
    async (peer) => {
      await peer.sendFrames([
        peer.frame(T, "fragment1", { fin: false }),
        peer.frame(C, "fragment2"),
        peer.frame(C, "fragment3", { fin: false }),
        peer.frame(T, "fragment4"),
      ]);
      await peer.expectMessage(T, "fragment1fragment2");
      await peer.expectFailure(1002);
    },
  );
  for (const [id, fin] of [["5.16", false], ["5.17", true]] as const) {
    define(
      id,
      `a ${
        fin ? "final" : "non-final"
      } continuation opening the stream fails the connection with 1002`,
      async (peer) => {
        const round = () => [
          peer.frame(C, "fragment1", { fin }),
          peer.frame(T, "fragment2", { fin: false }),
          peer.frame(C, "fragment3"),
        ];
        await peer.sendFrames([...round(), ...round()]);
        await peer.expectFailure(1002);
      },
    );
  }
  define("5.18", "a new text frame inside a fragmented message fails with 1002", async (peer) => {
    await peer.sendFrames([peer.frame(T, "fragment1", { fin: false }), peer.frame(T, "fragment2")]);
    await peer.expectFailure(1002);
  });
  for (
    const [id, mode, how] of [["5.19", "together", ""], [
      "5.20",
      "sync",
      ", frame by frame",
    ]] as const
  ) {
    define(
      id,
      `pings inside a 5-fragment message sent in two bursts${how}: each pong comes at once, then the echo`,
      async (peer) => {
        await peer.sendFrames([
          peer.frame(T, "fragment1", { fin: false }),
          peer.frame(C, "fragment2", { fin: false }),
          peer.frame(PING, "pongme 1!"),
        ], mode);
        // The first pong must come during the pause, mid-message.
        await peer.expectPong("pongme 1!", FAIL_TIMEOUT);
        await delay(PAUSE);
        await peer.sendFrames([
          peer.frame(C, "fragment3", { fin: false }),
          peer.frame(C, "fragment4", { fin: false }),
          peer.frame(PING, "pongme 2!"),
          peer.frame(C, "fragment5"),
        ], mode);
        await peer.expectPong("pongme 2!");
        await peer.expectMessage(T, "fragment1fragment2fragment3fragment4fragment5");
        await peer.closeHandshake(1000);
      },
    );
  }

  // --- 6. UTF-8.
  define("6.1.1", "an empty text message is echoed", async (peer) => {
    await peer.sendFrame(T);
    await peer.expectMessage(T, EMPTY);
    await peer.closeHandshake(1000);
  });
  define("6.1.2", "a text message of 3 empty fragments is echoed empty", async (peer) => {
    await peer.sendFrames([
      peer.frame(T, EMPTY, { fin: false }),
      peer.frame(C, EMPTY, { fin: false }),
      peer.frame(C),
    ]);
    await peer.expectMessage(T, EMPTY);
    await peer.closeHandshake(1000);
  });
  define("6.1.3", "empty first and last fragments around a payload are echoed", async (peer) => {
    await peer.sendFrames([
      peer.frame(T, EMPTY, { fin: false }),
      peer.frame(C, "middle frame payload", { fin: false }),
      peer.frame(C),
    ]);
    await peer.expectMessage(T, "middle frame payload");
    await peer.closeHandshake(1000);
  });
  const fragments = (payload: Uint8Array, peer: RawPeer, size: number) =>
    split(payload, size).map((piece, i, all) =>
      peer.frame(i === 0 ? T : C, piece, { fin: i === all.length - 1 })
    );
  define("6.2.1", "valid UTF-8 in one frame is echoed", async (peer) => {
    await peer.sendFrame(T, P21);
    await peer.expectMessage(T, P21);
    await peer.closeHandshake(1000);
  });
  define("6.2.2", "valid UTF-8 in 2 frames split between code points is echoed", async (peer) => {
    await peer.sendFrames([
      peer.frame(T, P21.subarray(0, 15), { fin: false }),
      peer.frame(C, P21.subarray(15)),
    ]);
    await peer.expectMessage(T, P21);
    await peer.closeHandshake(1000);
  });
  define(
    "6.2.3",
    "valid UTF-8 in 1-byte frames, split inside code points, is echoed",
    async (peer) => {
      await peer.sendFrames(fragments(P21, peer, 1));
      await peer.expectMessage(T, P21);
      await peer.closeHandshake(1000);
    },
  );
  define("6.2.4", "κόσμε in 1-byte frames is echoed", async (peer) => {
    await peer.sendFrames(fragments(KOSME, peer, 1));
    await peer.expectMessage(T, KOSME);
    await peer.closeHandshake(1000);
  });
  define("6.3.1", "a text frame with a UTF-16 surrogate fails with 1007", async (peer) => {
    await peer.sendFrame(T, INVALID_SURROGATE);
    await peer.expectFailure(1007);
  });
  define("6.3.2", "a surrogate spread over 1-byte frames fails with 1007", async (peer) => {
    await peer.sendFrames(fragments(INVALID_SURROGATE, peer, 1));
    await peer.expectFailure(1007);
  });
  const beyond = hex("f4908080");
  const edited = bytes("edited");
  define(
    "6.4.1",
    "fail fast: U+110000 in the 2nd of 3 frames fails with 1007 before the 3rd is sent",
    (peer) => failFast(peer, [KOSME, beyond, edited], "frames"),
  );
  define(
    "6.4.2",
    "fail fast: a 1-byte 2nd frame (0x90 after 0xF4) fails with 1007 before the 3rd is sent",
    (peer) =>
      failFast(
        peer,
        [concat(KOSME, hex("f4")), hex("90"), concat(hex("8080"), edited)],
        "frames",
      ),
  );
  define(
    "6.4.3",
    "fail fast: U+110000 in the 2nd chop of one frame fails with 1007 before the frame ends",
    (peer) => failFast(peer, [KOSME, beyond, edited], "chops"),
  );
  define(
    "6.4.4",
    "fail fast: the single byte 0x90 in the 2nd chop of one frame fails with 1007 at once",
    (peer) =>
      failFast(peer, [concat(KOSME, hex("f4")), hex("90"), concat(hex("8080"), edited)], "chops"),
  );
  for (const { id, valid, payload } of utf8Vectors()) {
    if (valid) {
      define(id, `valid UTF-8 ${toHex(payload, 16)} in one text frame is echoed`, async (peer) => {
        await peer.sendFrame(T, payload);
        await peer.expectMessage(T, payload);
        await peer.closeHandshake(1000);
      });
    } else {
      define(
        id,
        `invalid UTF-8 ${toHex(payload, 16)} fails the connection with 1007`,
        async (peer) => {
          await peer.sendFrame(T, payload);
          // Autobahn kills these after 0.5 s.
          await peer.expectFailure(1007, 500);
        },
      );
    }
  }

  // --- 7. Close handling.
  define("7.1.1", "a text message is echoed, then the close handshake is clean", async (peer) => {
    await peer.sendFrame(T, "Hello World!");
    await peer.expectMessage(T, "Hello World!");
    await peer.closeHandshake(1000);
  });
  define("7.1.2", "a second close frame after the first is ignored", async (peer) => {
    await peer.sendFrames([peer.frame(CLOSE, closePayload(1000)), peer.frame(CLOSE)]);
    await peer.expectCloseReply([1000, null], 1000);
  });
  define("7.1.3", "a ping after the close frame gets no pong", async (peer) => {
    await peer.sendFrames([
      peer.frame(CLOSE, closePayload(1000)),
      peer.frame(PING, "ping payload"),
    ]);
    await peer.expectCloseReply([1000, null], 1000);
  });
  define("7.1.4", "a text message after the close frame is not echoed", async (peer) => {
    await peer.sendFrames([peer.frame(CLOSE, closePayload(1000)), peer.frame(T, "Hello World!")]);
    await peer.expectCloseReply([1000, null], 1000);
  });
  define("7.1.5", "a message interrupted by the close frame is not echoed", async (peer) => {
    await peer.sendFrames([
      peer.frame(T, "fragment1", { fin: false }),
      peer.frame(CLOSE, closePayload(1000)),
      peer.frame(C, "fragment2"),
    ]);
    await peer.expectCloseReply([1000, null], 1000);
  });
  define(
    "7.1.6",
    "(informational) data, close and ping back to back: echoes come before the close reply, no pong",
    async (peer) => {
      const large = repeat("BAsd7&jh23", 256 * 1024);
      await peer.sendFrames([
        peer.frame(T, large),
        peer.frame(T, "Hello World!"),
        peer.frame(CLOSE, closePayload(1000)),
        peer.frame(PING),
      ]);
      // Whether the messages are echoed before the close is Autobahn's
      // information; a wrong echo, a pong or a bad close is not.
      await peer.expectOptionalMessage(T, large, FRAME_TIMEOUT);
      await peer.expectOptionalMessage(T, "Hello World!", FRAME_TIMEOUT);
      await peer.expectCloseReply([1000, null], 1000);
    },
  );
  define("7.3.1", "an empty close is answered with an empty close or 1000", async (peer) => {
    await peer.sendFrame(CLOSE);
    await peer.expectCloseReply([null, 1000], 1005);
  });
  define("7.3.2", "a 1-byte close payload fails the connection with 1002", async (peer) => {
    await peer.sendFrame(CLOSE, closePayload(undefined, "a"));
    await peer.expectFailure(1002);
  });
  define("7.3.3", "close 1000 without a reason is echoed", async (peer) => {
    await peer.closeHandshake(1000);
  });
  define("7.3.4", "close 1000 with a reason is echoed", async (peer) => {
    await peer.closeHandshake(1000, "Hello World!");
  });
  define("7.3.5", "a 125-byte close (123-byte reason) is echoed", async (peer) => {
    await peer.closeHandshake(1000, repeat("*", 123));
  });
  define(
    "7.3.6",
    "a 126-byte close (124-byte reason) fails the connection with 1002",
    async (peer) => {
      await peer.sendFrame(CLOSE, closePayload(1000, repeat("*", 124)));
      await peer.expectFailure(1002);
    },
  );
  define(
    "7.5.1",
    "a close reason that is not UTF-8 fails the connection with 1007",
    async (peer) => {
      await peer.sendFrame(CLOSE, closePayload(1000, INVALID_SURROGATE));
      await peer.expectFailure(1007);
    },
  );
  const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
  validCodes.forEach((code, i) => {
    define(`7.7.${i + 1}`, `close code ${code} is echoed`, async (peer) => {
      await peer.closeHandshake(code);
    });
  });
  // Current numbering (after autobahn-testsuite PR #89), then 1015, which
  // every revision's list holds (7.9.7 in the older 11-code numbering).
  const invalidCodes: [string, number][] = [
    ["7.9.1", 0],
    ["7.9.2", 999],
    ["7.9.3", 1004],
    ["7.9.4", 1005],
    ["7.9.5", 1006],
    ["7.9.6", 1016],
    ["7.9.7", 1100],
    ["7.9.8", 2000],
    ["7.9.9", 2999],
    ["7.9.7 (11-code list)", 1015],
  ];
  for (const [id, code] of invalidCodes) {
    define(id, `close code ${code} fails the connection with 1002`, async (peer) => {
      await peer.sendFrame(CLOSE, closePayload(code));
      await peer.expectFailure(1002);
    });
  }
  for (const [id, code] of [["7.13.1", 5000], ["7.13.2", 65535]] as const) {
    define(
      id,
      `(informational) close code ${code} gets a close with 1000, ${code} or 1002`,
      async (peer) => {
        await peer.sendFrame(CLOSE, closePayload(code));
        await peer.expectClose([1000, code, 1002], { eof: false });
        if (peer.side === "server") await peer.closeWrite();
        await peer.expectEof();
      },
    );
  }

  // --- 9. Limits and large messages: representative sizes of each subgroup.
  const MiB = 1024 * 1024;
  const textPattern = "BAsd7&jh23";
  const binaryPattern = hex("00fe23faf0");
  const echoLarge = async (
    peer: RawPeer,
    type: number,
    payload: Uint8Array,
    frames: Uint8Array[],
  ) => {
    await peer.sendFrames(frames);
    await peer.expectMessage(type, payload, LARGE_TIMEOUT);
    await peer.closeHandshake(1000);
  };
  const singleFrame: [string, number, number][] = [
    ["9.1.1", T, 64 * 1024],
    ["9.1.3", T, MiB],
    ["9.1.6", T, 16 * MiB],
    ["9.2.2", B, 256 * 1024],
    ["9.2.4", B, 4 * MiB],
    ["9.2.6", B, 16 * MiB],
  ];
  for (const [id, type, size] of singleFrame) {
    const name = type === T ? "text" : "binary";
    define(id, `a ${size / 1024} KiB ${name} message in one frame is echoed`, async (peer) => {
      const payload = repeat(type === T ? textPattern : binaryPattern, size);
      await echoLarge(peer, type, payload, [peer.frame(type, payload)]);
    });
  }
  const fragmented: [string, number, number][] = [
    ["9.3.1", T, 64],
    ["9.3.5", T, 16 * 1024],
    ["9.3.9", T, 4 * MiB],
    ["9.4.1", B, 64],
    ["9.4.4", B, 4 * 1024],
    ["9.4.8", B, MiB],
  ];
  for (const [id, type, size] of fragmented) {
    const name = type === T ? "text" : "binary";
    define(id, `a 4 MiB ${name} message in ${size}-byte fragments is echoed`, async (peer) => {
      const payload = repeat(type === T ? "*" : hex("fe"), 4 * MiB);
      const frames = split(payload, size).map((piece, i, all) =>
        peer.frame(i === 0 ? type : C, piece, { fin: i === all.length - 1 })
      );
      await echoLarge(peer, type, payload, frames);
    });
  }
  const chopped: [string, number, number][] = [
    ["9.5.1", T, 64],
    ["9.5.6", T, 2048],
    ["9.6.1", B, 64],
    ["9.6.4", B, 512],
  ];
  for (const [id, type, chop] of chopped) {
    const name = type === T ? "text" : "binary";
    define(id, `a 1 MiB ${name} frame written in ${chop}-byte chops is echoed`, async (peer) => {
      const payload = repeat(type === T ? textPattern : binaryPattern, MiB);
      await peer.sendChopped(peer.frame(type, payload), chop);
      await peer.expectMessage(type, payload, LARGE_TIMEOUT);
      await peer.closeHandshake(1000);
    });
  }
  const roundTrips: [string, number, number][] = [
    ["9.7.1", T, 0],
    ["9.7.6", T, 4096],
    ["9.8.1", B, 0],
    ["9.8.6", B, 4096],
  ];
  for (const [id, type, size] of roundTrips) {
    const name = type === T ? "text" : "binary";
    define(
      id,
      `1000 ${size}-byte ${name} messages, one at a time, are each echoed`,
      async (peer) => {
        const payload = repeat(type === T ? "*" : hex("fe"), size);
        const frame = peer.frame(type, payload);
        for (let i = 0; i < 1000; i++) {
          await peer.send(frame);
          await peer.expectMessage(type, payload);
        }
        await peer.closeHandshake(1000);
      },
    );
  }

  // --- 10. Auto-fragmentation: the tester fragments; the peer reassembles.
  define(
    "10.1.1",
    "a 65536-byte text message in 1300-byte fragments (51 frames) is echoed",
    async (peer) => {
      const payload = repeat("*", 65536);
      const frames = split(payload, 1300).map((piece, i, all) =>
        peer.frame(i === 0 ? T : C, piece, { fin: i === all.length - 1 })
      );
      assert.equal(frames.length, 51);
      await peer.sendFrames(frames);
      await peer.expectMessage(T, payload, LARGE_TIMEOUT);
      await peer.closeHandshake(1000);
    },
  );

  return cases;
}

/** The catalogue: groups 1–7, 9 and 10, in Autobahn's order. */
export const AUTOBAHN_CASES: readonly ConformanceCase[] = defineCases();
