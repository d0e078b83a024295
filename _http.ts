// Copyright 2026 the Duplex authors. MIT license.
// HTTP/1.1 over a Deno.Conn, for the server and the client's handshake:
// reading a head and a body within limits, writing responses and refusals,
// and the deadlines that bound slow clients. The parsing is the codec's
// (HttpHeadReader, BodyDecoder); this only moves bytes. Internal.

import {
  BodyDecoder,
  bodyFraming,
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADER_COUNT,
  fieldValue,
  HandshakeError,
  type HandshakeRejection,
  HttpHeadReader,
  type RequestHead,
  serializeResponseHead,
} from "./codec/mod.ts";
import { parseRequestText, requestHeadText } from "./codec/_head_text.ts";
import { closeQuietly, concatBytes, writeAll } from "./_util.ts";
import type { Clock } from "./connection.ts";
import { unrefTimer } from "./_clock.ts";

/** The limits a request is read within: the server's, or acceptWebSocket()'s. */
export interface RequestLimits {
  maxHeadSize?: number | undefined;
  maxRequestLineLength?: number | undefined;
  maxHeaderCount?: number | undefined;
  maxBodySize?: number | undefined;
}

const ENCODER = new TextEncoder();
// Response bodies up to this size are sent with Content-Length in one write.
const BUFFER_BODY_LIMIT = 64 * 1024;
/** Request heads are small; the head reader grows its own buffer if one is not. */
export const READ_SIZE = 2 * 1024;
const CONTINUE = ENCODER.encode("HTTP/1.1 100 Continue\r\n\r\n");

export const STATUS_TEXT: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/**
 * Reads a head into `reader`, after the bytes in `leftover`; `null` if the
 * peer closed before sending a byte of it.
 *
 * @throws {HandshakeError} 400 if the connection closed mid-head, or the
 * reader's limits.
 */
export async function readHead(
  conn: Deno.Conn,
  reader: HttpHeadReader,
  buffer: Uint8Array,
  leftover: Uint8Array,
  onFirstByte?: () => void,
): Promise<Uint8Array | null> {
  let head = leftover.length > 0 ? reader.push(leftover) : undefined;
  if (leftover.length > 0) onFirstByte?.();
  while (head === undefined) {
    const n = await conn.read(buffer);
    if (n === null) {
      if (reader.size === 0) return null;
      throw new HandshakeError(
        "TRUNCATED_HEAD",
        400,
        "Cannot parse HTTP message: the connection closed mid-head",
      );
    }
    if (reader.size === 0) onFirstByte?.();
    head = reader.push(buffer.subarray(0, n));
  }
  return head;
}

/** Reads a body into `decoder`, after the bytes in `leftover`, to its end. */
export async function readBody(
  conn: Deno.Conn,
  decoder: BodyDecoder,
  buffer: Uint8Array,
  leftover: Uint8Array,
): Promise<void> {
  decoder.push(leftover);
  while (!decoder.done) {
    const n = await conn.read(buffer);
    if (n === null) decoder.end();
    else decoder.push(buffer.subarray(0, n));
  }
}

/** Writes the response that refuses an upgrade or a request, with its length and date. */
export async function writeRejection(
  conn: Deno.Conn,
  rejection: HandshakeRejection,
): Promise<void> {
  const body = ENCODER.encode(rejection.body);
  const fields: [string, string][] = [
    ...rejection.fields,
    ["content-length", String(body.length)],
    ["date", new Date().toUTCString()],
  ];
  const head = serializeResponseHead(rejection.status, STATUS_TEXT[rejection.status] ?? "", fields);
  await writeAll(conn, concatBytes([head, body]));
}

export interface ReceivedRequest {
  head: RequestHead;
  /** The head as Latin-1 text: compact, and no longer tied to the reader's buffer. */
  raw: string;
  body: Uint8Array | null;
  leftover: Uint8Array;
}

/** Reads one request (head and body) within the server's limits; null if the client closed first. */
export async function readRequest(
  conn: Deno.Conn,
  buffer: Uint8Array,
  leftover: Uint8Array,
  options: RequestLimits,
  onFirstByte: () => void,
): Promise<ReceivedRequest | null> {
  const reader = new HttpHeadReader({
    message: "request",
    maxHeadSize: options.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE,
    maxStartLineLength: options.maxRequestLineLength ?? DEFAULT_MAX_HEAD_SIZE,
  });
  const headBytes = await readHead(conn, reader, buffer, leftover, onFirstByte);
  if (headBytes === null) return null;
  // Decoded once: parsed from this text, which an upgraded connection keeps.
  const raw = requestHeadText(headBytes);
  const head = parseRequestText(raw, {
    maxHeaderCount: options.maxHeaderCount ?? DEFAULT_MAX_HEADER_COUNT,
  });
  const framing = bodyFraming({ get: (name) => fieldValue(head.fields, name) });
  if (framing.kind === "none") return { head, raw, body: null, leftover: reader.rest };
  const maxBodySize = options.maxBodySize ?? 1024 * 1024;
  const decoder = new BodyDecoder(framing, { maxSize: maxBodySize });
  if (fieldValue(head.fields, "expect")?.toLowerCase() === "100-continue") {
    await writeAll(conn, CONTINUE);
  }
  await readBody(conn, decoder, buffer, reader.rest);
  return { head, raw, body: decoder.body, leftover: decoder.rest };
}

/** Whether the client asks to keep the connection open after this request. */
export function wantsKeepAlive(head: RequestHead): boolean {
  const connection = fieldValue(head.fields, "connection")?.toLowerCase() ?? "";
  const tokens = connection.split(",").map((token) => token.trim());
  if (head.version === "HTTP/1.0") return tokens.includes("keep-alive");
  return !tokens.includes("close");
}

/**
 * Writes a handler's response as HTTP/1.1: a small body with
 * Content-Length in one write, a large or streaming one chunked.
 *
 * @returns Whether the connection stays open for another request.
 */
export async function writeResponse(
  conn: Deno.Conn,
  response: Response,
  request: RequestHead,
  keepAlive: boolean,
): Promise<boolean> {
  const status = response.status;
  const headers = new Headers(response.headers);
  if (!headers.has("date")) headers.set("date", new Date().toUTCString());
  const bodiless = request.method === "HEAD" || status === 204 || status === 304 || status < 200;
  const statusText = response.statusText || STATUS_TEXT[status] || "";
  const body = response.body;
  if (body === null || bodiless) {
    await body?.cancel().catch(() => {});
    if (!bodiless) headers.set("content-length", "0");
    headers.set("connection", keepAlive ? "keep-alive" : "close");
    await writeAll(conn, serializeResponseHead(status, statusText, headers));
    return keepAlive;
  }
  // Buffer the start of the body: a small one goes out with its length.
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let done = false;
  while (size <= BUFFER_BODY_LIMIT) {
    const next = await reader.read();
    if (next.done) {
      done = true;
      break;
    }
    parts.push(next.value);
    size += next.value.length;
  }
  if (done) {
    headers.set("content-length", String(size));
    headers.delete("transfer-encoding");
    headers.set("connection", keepAlive ? "keep-alive" : "close");
    await writeAll(
      conn,
      concatBytes([serializeResponseHead(status, statusText, headers), ...parts]),
    );
    return keepAlive;
  }
  headers.delete("content-length");
  const chunked = request.version === "HTTP/1.1";
  if (chunked) headers.set("transfer-encoding", "chunked");
  else keepAlive = false;
  headers.set("connection", keepAlive ? "keep-alive" : "close");
  const frame = (data: Uint8Array) =>
    chunked ? concatBytes([ENCODER.encode(`${data.length.toString(16)}\r\n`), data, CRLF]) : data;
  await writeAll(
    conn,
    concatBytes([serializeResponseHead(status, statusText, headers), frame(concatBytes(parts))]),
  );
  try {
    while (true) {
      const next = await reader.read();
      if (next.done) break;
      if (next.value.length > 0) await writeAll(conn, frame(next.value));
    }
  } catch (error) {
    // The body stream failed: the response cannot be completed.
    await reader.cancel(error).catch(() => {});
    return false;
  }
  if (chunked) await writeAll(conn, LAST_CHUNK);
  return keepAlive;
}

const CRLF = new Uint8Array([0x0d, 0x0a]);
const LAST_CHUNK = ENCODER.encode("0\r\n\r\n");

/**
 * Deadlines of one duration, for the connections reading a request: one
 * timer for all of them instead of one each. Deadlines expire in the order
 * they were set, so a FIFO is enough; an expired one closes its connection.
 */
export class DeadlineQueue {
  readonly #duration: number;
  readonly #clock: Clock;
  #items: Deadline[] = [];
  #head = 0;
  #live = 0;
  #timer: unknown;

  constructor(duration: number, clock: Clock) {
    this.#duration = duration;
    this.#clock = clock;
  }

  /** Starts a deadline for `conn`. */
  add(conn: Deno.Conn): Deadline {
    const deadline = new Deadline(this, conn, this.#clock.now() + this.#duration);
    this.#items.push(deadline);
    this.#live++;
    if (this.#timer === undefined) this.#arm(this.#duration);
    return deadline;
  }

  /** A deadline was cancelled: with none left, so is the timer. */
  settled(): void {
    if (--this.#live > 0) {
      // Requests mostly finish in the order they started: let go of the
      // cancelled ones at the front now rather than when the timer fires, so
      // that they die young instead of outliving a garbage collection or two.
      const items = this.#items;
      let head = this.#head;
      while (head < items.length && items[head]!.state !== PENDING) items[head++] = FREED;
      this.#head = head;
      this.#trim();
      return;
    }
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#items = [];
    this.#head = 0;
  }

  #arm(delay: number): void {
    const timer = this.#clock.setTimeout(this.#fire, Math.max(0, delay));
    // A pending read keeps the process alive as long as it matters.
    unrefTimer(this.#clock, timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = this.#clock.now();
    const items = this.#items;
    while (this.#head < items.length) {
      const deadline = items[this.#head]!;
      if (deadline.state === PENDING && deadline.at > now) break;
      this.#head++;
      if (deadline.state === PENDING) {
        this.#live--;
        deadline.expire();
      }
    }
    this.#trim();
    if (this.#head < this.#items.length) this.#arm(this.#items[this.#head]!.at - now);
  };

  /** Lets go of the slots before the head: all when none are left, else once they are most. */
  #trim(): void {
    const items = this.#items;
    if (this.#head === items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
  }
}

const PENDING = 0;
const CANCELLED = 1;
const EXPIRED = 2;

/** One connection's deadline in a {@linkcode DeadlineQueue}. */
export class Deadline {
  state: typeof PENDING | typeof CANCELLED | typeof EXPIRED = PENDING;
  readonly #queue: DeadlineQueue;
  readonly #conn: Deno.Conn;
  readonly at: number;

  constructor(queue: DeadlineQueue, conn: Deno.Conn, at: number) {
    this.#queue = queue;
    this.#conn = conn;
    this.at = at;
  }

  /** Whether it passed (and the connection was closed). */
  get expired(): boolean {
    return this.state === EXPIRED;
  }

  cancel(): void {
    if (this.state !== PENDING) return;
    this.state = CANCELLED;
    this.#queue.settled();
  }

  /** For the queue: the deadline passed. */
  expire(): void {
    this.state = EXPIRED;
    closeQuietly(this.#conn);
  }
}

// What a queue's slot holds once its deadline has been let go of.
const FREED: Deadline = new Deadline(null!, null!, 0);
FREED.state = CANCELLED;
