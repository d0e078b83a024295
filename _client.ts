// Copyright 2026 the Duplex authors. MIT license.
// The client's handshake machinery, shared by connect() and the WHATWG
// WebSocket class. Internal: the public face is client.ts.

import { checkConnectOptions } from "./_options.ts";
import {
  acceptKey,
  BodyDecoder,
  bodyFraming,
  buildUpgradeRequest,
  type DeflateSession,
  type Extension,
  formatExtensions,
  HandshakeError,
  HttpHeadReader,
  parseResponseHead,
  parseUrl,
  PERMESSAGE_DEFLATE,
  type PerMessageDeflate,
  type ResponseHead,
  serializeRequestHead,
  type UpgradeRequest,
  validateUpgradeResponse,
  type WebSocketUrl,
} from "./codec/mod.ts";
import { ConnectionError, TimeoutError } from "./errors.ts";
import type { Clock, ConnectionOptions } from "./connection.ts";
import { SYSTEM_CLOCK } from "./_clock.ts";
import { VERSION } from "./_version.ts";
import { openTunnel, proxyFor } from "./_proxy.ts";
import { deflateFor } from "./_deflate.ts";
import { readHead } from "./_http.ts";
import { SocketConnection } from "./_socket.ts";
import { closeQuietly, transportError, writeAll } from "./_util.ts";

/** Options for {@linkcode connect}: the connection options, and how to open it. */
export interface ConnectOptions extends ConnectionOptions {
  /** Subprotocols to offer, in order of preference. */
  protocols?: string | readonly string[];
  /**
   * Extra handshake headers: Authorization, Origin, Cookie… CR, LF and
   * other control characters are refused, as are the handshake's own headers.
   */
  headers?: HeadersInit;
  /** Cancels the connection attempt and the handshake; `connect()` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The most milliseconds the TCP, TLS and WebSocket handshakes may take together. Default 10,000. */
  handshakeTimeout?: number;
  /** Extra trusted root certificates (PEM) for `wss://`, such as a test CA. */
  caCerts?: string[];
  /** The TLS server name to send and verify, when it differs from the URL's host. */
  serverName?: string;
  /**
   * An already-open connection to use instead of dialing: a Unix socket, a
   * tunnel, or a TLS connection you set up. The URL still gives the `Host`
   * header and the path.
   */
  transport?: Deno.Conn;
  /** The largest handshake response head accepted, in bytes. Default 16 KiB. */
  maxHeadSize?: number;
  /**
   * An HTTP CONNECT proxy, `"http://[user:pass@]host:port"`, or `"env"` to
   * take it from `HTTPS_PROXY` (for `wss:`) or `HTTP_PROXY` (for `ws:`),
   * unless `NO_PROXY` names the host. `wss:` runs TLS inside the tunnel,
   * end to end with the server. A refusal is a `HandshakeError`
   * `"PROXY_REFUSED"` with the proxy's status (407 for credentials). Default:
   * none.
   */
  proxy?: string;
  /**
   * Follow at most this many redirects (301, 302, 303, 307, 308 with a
   * `Location`) before the upgrade, as `ws` does. Never from `wss:` to
   * `ws:` (a `HandshakeError` `"REDIRECT_DOWNGRADE"`); `Authorization` and
   * `Cookie` are not sent on to another host. Not with `transport`. Default 0:
   * a redirect is a refusal, with its status and `Location`.
   */
  followRedirects?: number;
  /**
   * The `User-Agent` header: by default `duplex/VERSION (Deno/VERSION)`; a
   * string to send instead, `false` to send none. A `User-Agent` in
   * `headers` wins over both.
   */
  userAgent?: string | boolean;
}

/** The `User-Agent` a client sends unless told otherwise. */
export const DEFAULT_USER_AGENT = `duplex/${VERSION} (Deno/${Deno.version.deno})`;

const EMPTY = new Uint8Array(0);
// A refusal's body is kept for the error, up to this size.
const MAX_REFUSAL_BODY = 64 * 1024;
// How long a refusal's body may take to arrive, in milliseconds.
const REFUSAL_WAIT = 1_000;
const TEXT = new TextDecoder();

/**
 * Starts connecting in the background; the connection is `CONNECTING` until
 * it opens or fails. The WHATWG `WebSocket` class is built on this.
 *
 * @throws {SyntaxError} For an invalid URL or subprotocol.
 * @throws {TypeError} For an invalid header.
 */
export function startClient(url: string | URL, options: ConnectOptions = {}): SocketConnection {
  checkConnectOptions(options);
  const target = parseUrl(url);
  const protocols = typeof options.protocols === "string"
    ? [options.protocols]
    : [...(options.protocols ?? [])];
  const deflate = deflateFor(options.compression);
  const offer = deflate?.offer();
  const userAgent = options.userAgent ?? true;
  const requestFor = (to: WebSocketUrl, headers: HeadersInit | undefined): UpgradeRequest => {
    const request = buildUpgradeRequest(to, {
      protocols,
      ...(headers !== undefined ? { headers } : {}),
      ...(offer !== undefined ? { extensions: [offer] } : {}),
    });
    if (userAgent !== false && !request.headers.has("user-agent")) {
      request.headers.set("user-agent", userAgent === true ? DEFAULT_USER_AGENT : userAgent);
    }
    return request;
  };
  const request = requestFor(target, options.headers);
  const connection = new SocketConnection({ ...options, role: "client", url: target.href });
  handshake(connection, target, request, options, deflate, offer, requestFor);
  return connection;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Not sent on to another host after a redirect.
const CREDENTIALS = new Set(["authorization", "cookie", "proxy-authorization"]);

/**
 * Where a redirect goes, as a WebSocket URL: `Location` resolved against
 * the URL asked for, http(s) taken as ws(s).
 *
 * @throws {HandshakeError} For a missing or unusable `Location`, or one
 * that goes from `wss:` to `ws:`.
 */
function redirectTarget(from: WebSocketUrl, response: ResponseHead): WebSocketUrl {
  const location = response.headers.get("location");
  const status = response.status;
  if (location === null) {
    throw new HandshakeError(
      "INVALID_REDIRECT",
      status,
      `Cannot follow the ${status}: no Location`,
      {
        headers: response.headers,
      },
    );
  }
  let next: URL;
  try {
    const base = new URL(from.href);
    base.protocol = from.secure ? "https:" : "http:";
    next = new URL(location, base);
  } catch {
    throw new HandshakeError(
      "INVALID_REDIRECT",
      status,
      `Cannot follow the ${status}: Location ${JSON.stringify(location)} is not a URL`,
      { headers: response.headers },
    );
  }
  const scheme = { "http:": "ws:", "https:": "wss:", "ws:": "ws:", "wss:": "wss:" }[next.protocol];
  if (scheme === undefined) {
    throw new HandshakeError(
      "INVALID_REDIRECT",
      status,
      `Cannot follow the ${status} to ${next.href}: not an http(s) or ws(s) URL`,
      { headers: response.headers },
    );
  }
  if (from.secure && scheme === "ws:") {
    throw new HandshakeError(
      "REDIRECT_DOWNGRADE",
      status,
      `Cannot follow the ${status} from ${from.href} to ${next.href}: it leaves TLS`,
      { headers: response.headers },
    );
  }
  next.protocol = scheme;
  return parseUrl(next.href);
}

/** The extra headers for a redirect's next request: without credentials if the host changes. */
function headersFor(
  options: ConnectOptions,
  from: WebSocketUrl,
  to: WebSocketUrl,
): HeadersInit | undefined {
  if (options.headers === undefined || from.host === to.host) return options.headers;
  const kept = new Headers(options.headers);
  for (const name of CREDENTIALS) kept.delete(name);
  return kept;
}

async function handshake(
  connection: SocketConnection,
  target: WebSocketUrl,
  request: UpgradeRequest,
  options: ConnectOptions,
  deflate: PerMessageDeflate | undefined,
  offer: Extension | undefined,
  requestFor: (to: WebSocketUrl, headers: HeadersInit | undefined) => UpgradeRequest,
): Promise<void> {
  let what = `Cannot connect to ${target.href}`;
  // Cancelling (timeout, abort) closes whatever is open, which makes the
  // pending operation fail; `cancelled` then says why.
  const cancel = new AbortController();
  let cancelled: Error | undefined;
  let conn: Deno.Conn | undefined = options.transport;
  const stop = (reason: Error) => {
    if (cancelled !== undefined) return;
    cancelled = reason;
    cancel.abort(reason);
    closeQuietly(conn);
  };
  const timeout = options.handshakeTimeout ?? 10_000;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const timer = clock.setTimeout(
    () =>
      stop(
        new TimeoutError(
          "HANDSHAKE_TIMEOUT",
          `${what}: the handshake took longer than ${timeout} ms`,
        ),
      ),
    timeout,
  );
  const signal = options.signal;
  const onAbort = () => stop(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  let redirects = options.transport === undefined ? options.followRedirects ?? 0 : 0;
  try {
    let response: ResponseHead;
    let reader: HttpHeadReader;
    let buffer: Uint8Array;
    let expectedAccept: Promise<string>;
    while (true) {
      expectedAccept = acceptKey(request.key);
      if (cancelled !== undefined) throw cancelled;
      if (conn === undefined) {
        try {
          conn = await dial(target, options, cancel.signal, (opened) => conn = opened);
        } catch (error) {
          // A proxy's refusal is the proxy's HandshakeError; the rest is the network's.
          throw cancelled ??
            (error instanceof HandshakeError ? error : transportError(error, what));
        }
      }
      if (cancelled !== undefined) throw cancelled;
      await writeAll(conn, serializeRequestHead("GET", target.resource, request.headers));
      reader = new HttpHeadReader({
        message: "response",
        maxHeadSize: options.maxHeadSize ?? 16 * 1024,
      });
      buffer = new Uint8Array(16 * 1024);
      const head = await readHead(conn, reader, buffer, EMPTY).catch((error) => {
        // Cut short mid-head: the server closed the connection, as before a byte.
        if (error instanceof HandshakeError && error.code === "TRUNCATED_HEAD") return null;
        throw error;
      });
      if (head === null) {
        throw new ConnectionError(
          "CONNECTION_CLOSED",
          `${what}: the server closed the connection during the handshake`,
        );
      }
      response = parseResponseHead(head);
      if (!REDIRECTS.has(response.status) || redirects === 0) break;
      // A redirect to follow: a new connection, and a new request, there.
      const next = redirectTarget(target, response);
      redirects--;
      closeQuietly(conn);
      conn = undefined;
      request = requestFor(next, headersFor(options, target, next));
      target = next;
      what = `Cannot connect to ${target.href}`;
      connection.redirected(target.href);
    }
    if (response.status !== 101) {
      const body = await readRefusal(conn, response, reader.rest, buffer, clock);
      if (REDIRECTS.has(response.status) && (options.followRedirects ?? 0) > 0) {
        throw new HandshakeError(
          "TOO_MANY_REDIRECTS",
          response.status,
          `${what}: redirected again after ${options.followRedirects} redirects`,
          { headers: response.headers, body },
        );
      }
      throw new HandshakeError(
        "UNEXPECTED_STATUS",
        response.status,
        `${what}: the server answered ${response.status} ${response.statusText}`.trimEnd(),
        { headers: response.headers, body },
      );
    }
    const result = validateUpgradeResponse(response, request, await expectedAccept);
    const compression = agreedCompression(result.extensions, deflate, offer, response);
    if (cancelled !== undefined) {
      compression?.compressor.close?.();
      throw cancelled;
    }
    connection.open(conn, reader.rest, {
      protocol: result.protocol,
      extensions: formatExtensions(result.extensions),
      headers: response.headers,
      ...(compression !== undefined ? { compression } : {}),
    });
  } catch (error) {
    closeQuietly(conn);
    const reason = cancelled ??
      (error instanceof HandshakeError || error instanceof ConnectionError
        ? error
        : transportError(error, what));
    connection.fail(reason);
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** permessage-deflate as the server accepted it, checked against what was offered. */
function agreedCompression(
  extensions: readonly Extension[],
  deflate: PerMessageDeflate | undefined,
  offer: Extension | undefined,
  response: ResponseHead,
): DeflateSession | undefined {
  const accepted = extensions.find((extension) => extension.name === PERMESSAGE_DEFLATE);
  // validateUpgradeResponse() refused an extension that was not offered.
  if (accepted === undefined || deflate === undefined) return undefined;
  try {
    return deflate.acceptResponse(accepted, offer);
  } catch (error) {
    throw new HandshakeError(
      "INVALID_EXTENSIONS",
      response.status,
      `Cannot open WebSocket: ${(error as Error).message}`,
      { headers: response.headers },
    );
  }
}

/** Dials TCP, then TLS for `wss:`; `onOpen` lets a cancel close a half-made connection. */
async function dial(
  target: WebSocketUrl,
  options: ConnectOptions,
  signal: AbortSignal,
  onOpen: (conn: Deno.Conn) => void,
): Promise<Deno.Conn> {
  const proxy = proxyFor(target, options.proxy);
  const tcp = await Deno.connect({
    hostname: proxy?.hostname ?? target.hostname,
    port: proxy?.port ?? target.port,
    signal,
  });
  onOpen(tcp);
  if (signal.aborted) throw signal.reason;
  if (proxy !== null) {
    const clock = options.clock ?? SYSTEM_CLOCK;
    await openTunnel(
      tcp,
      target,
      proxy,
      (conn, rest, buffer, response) => readRefusal(conn, response, rest, buffer, clock),
    );
  }
  if (!target.secure) return tcp;
  const tls = await Deno.startTls(tcp, {
    hostname: options.serverName ?? target.hostname,
    ...(options.caCerts !== undefined ? { caCerts: options.caCerts } : {}),
  });
  onOpen(tls);
  // Complete the TLS handshake now, so certificate errors surface as such.
  await tls.handshake();
  return tls;
}

/**
 * Reads the body of a refused upgrade, for the error, without holding the
 * client: a body delimited by the connection's end is what has already
 * arrived; a length-delimited or chunked one is read for at most
 * REFUSAL_WAIT ms and MAX_REFUSAL_BODY bytes, then kept as it is.
 */
async function readRefusal(
  conn: Deno.Conn,
  response: ResponseHead,
  rest: Uint8Array,
  buffer: Uint8Array,
  clock: Clock,
): Promise<string> {
  let decoder: BodyDecoder;
  try {
    const framing = bodyFraming(response.headers, { status: response.status, method: "GET" });
    if (framing.kind === "close") return TEXT.decode(rest.subarray(0, MAX_REFUSAL_BODY));
    decoder = new BodyDecoder(framing, { maxSize: MAX_REFUSAL_BODY, overflow: "truncate" });
    decoder.push(rest);
  } catch {
    // A malformed body: the status and headers still say enough.
    return "";
  }
  // The connection is closed after the refusal anyway: closing it ends a wait.
  const timer = clock.setTimeout(() => closeQuietly(conn), REFUSAL_WAIT);
  try {
    while (!decoder.done && decoder.body.length < MAX_REFUSAL_BODY) {
      const n = await conn.read(buffer);
      if (n === null) break;
      decoder.push(buffer.subarray(0, n));
    }
  } catch {
    // Cut short, malformed or out of time: what arrived is kept.
  } finally {
    clock.clearTimeout(timer);
  }
  return TEXT.decode(decoder.body);
}
