// Copyright 2026 the Duplex authors. MIT license.
// The client's HTTP CONNECT proxy: which proxy a URL goes through (the
// `proxy` option, or HTTPS_PROXY / HTTP_PROXY / NO_PROXY with "env"), and
// the tunnel itself. TLS for wss: runs inside the tunnel, end to end with
// the server. Internal.
import type { WebSocketUrl } from "./codec/mod.ts";
import { HandshakeError, HttpHeadReader, parseResponseHead } from "./codec/mod.ts";
import { readHead } from "./_http.ts";
import { writeAll } from "./_util.ts";

const ENCODER = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** A proxy's address and credentials. */
export interface ProxyTarget {
  hostname: string;
  port: number;
  username: string;
  password: string;
  href: string;
}

/**
 * Reads a proxy URL: `http://[user:pass@]host[:port]`.
 *
 * @throws {TypeError} For anything else.
 */
export function parseProxy(value: string, what = "connect"): ProxyTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(
      `Cannot ${what}: proxy must be an http:// URL or "env", got ${JSON.stringify(value)}`,
    );
  }
  if (url.protocol !== "http:") {
    throw new TypeError(
      `Cannot ${what}: proxy must be an http:// URL (an HTTP CONNECT proxy), got ${url.protocol}`,
    );
  }
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? 80 : Number(url.port),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    href: `http://${url.host}/`,
  };
}

/** An environment variable, in either case; undefined when unset or not readable. */
function env(name: string): string | undefined {
  try {
    const value = Deno.env.get(name) ?? Deno.env.get(name.toLowerCase());
    return value === "" ? undefined : value;
  } catch {
    // No --allow-env: as if unset.
    return undefined;
  }
}

/** Whether NO_PROXY names the host: `*`, a host, `.suffix` or `suffix`, each maybe with a port. */
export function bypassed(target: WebSocketUrl, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  const host = target.hostname.toLowerCase();
  for (let entry of noProxy.split(",")) {
    entry = entry.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    let port: number | undefined;
    const match = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[(.*)\](.*)$/, "$1$2"));
    if (match !== null && match[2] !== undefined && !entry.includes("::")) {
      entry = match[1]!;
      port = Number(match[2]);
    }
    if (port !== undefined && port !== target.port) continue;
    const name = entry.startsWith(".") ? entry.slice(1) : entry;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/**
 * The proxy a connection to `target` goes through, if any: the option's,
 * or with `"env"`, HTTPS_PROXY (wss:) or HTTP_PROXY (ws:) unless NO_PROXY
 * names the host.
 */
export function proxyFor(target: WebSocketUrl, proxy: string | undefined): ProxyTarget | null {
  if (proxy === undefined) return null;
  if (proxy !== "env") return parseProxy(proxy);
  if (bypassed(target, env("NO_PROXY"))) return null;
  const value = target.secure ? env("HTTPS_PROXY") ?? env("HTTP_PROXY") : env("HTTP_PROXY");
  return value === undefined ? null : parseProxy(value);
}

/**
 * Opens a tunnel to `target` through `proxy` over `conn` (already
 * connected to the proxy): CONNECT, then the proxy's 2xx.
 *
 * @throws {HandshakeError} `"PROXY_REFUSED"` with the proxy's status,
 * headers and body, for anything but 2xx.
 */
export async function openTunnel(
  conn: Deno.Conn,
  target: WebSocketUrl,
  proxy: ProxyTarget,
  readBody: (
    conn: Deno.Conn,
    rest: Uint8Array,
    buffer: Uint8Array,
    response: ReturnType<typeof parseResponseHead>,
  ) => Promise<string>,
): Promise<void> {
  const authority = `${
    target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname
  }:${target.port}`;
  let request = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (proxy.username !== "" || proxy.password !== "") {
    const credentials = ENCODER.encode(`${proxy.username}:${proxy.password}`);
    let binary = "";
    for (const byte of credentials) binary += String.fromCharCode(byte);
    request += `Proxy-Authorization: Basic ${btoa(binary)}\r\n`;
  }
  await writeAll(conn, ENCODER.encode(`${request}\r\n`));
  const reader = new HttpHeadReader({ message: "response", maxHeadSize: 16 * 1024 });
  const buffer = new Uint8Array(16 * 1024);
  const head = await readHead(conn, reader, buffer, EMPTY);
  if (head === null) {
    throw new HandshakeError("PROXY_REFUSED", 0, `The proxy ${proxy.href} closed the connection`);
  }
  const response = parseResponseHead(head);
  if (response.status < 200 || response.status > 299) {
    const body = await readBody(conn, reader.rest, buffer, response);
    throw new HandshakeError(
      "PROXY_REFUSED",
      response.status,
      `The proxy ${proxy.href} refused to connect to ${authority}: ${response.status} ${response.statusText}`
        .trimEnd(),
      { headers: response.headers, body },
    );
  }
  if (reader.rest.length > 0) {
    throw new HandshakeError(
      "PROXY_REFUSED",
      response.status,
      `The proxy ${proxy.href} sent data before the tunnel was used`,
    );
  }
}
