// Copyright 2026 the Duplex authors. MIT license.
// The upgrade of a request that came through Duplex's own server: the
// requests serve() and acceptWebSocket() made, the upgrade responses handed
// out and waiting to be written, and the connection each will open. The
// handshake's decisions are the codec's acceptUpgrade(). Internal: the
// public face is server.ts.

import {
  type AcceptedHandshake,
  acceptUpgrade,
  fieldValue,
  type KeepaliveOptions,
  serializeResponseHead,
} from "./codec/mod.ts";
import type { WebSocketConnection } from "./connection.ts";
import { deflateFor } from "./_deflate.ts";
import { type OpenInfo, SocketConnection } from "./_socket.ts";
import type { UpgradeOptions, UpgradeResult } from "./server.ts";
import { webSocketUrl } from "./_util.ts";
import type { WebSocket } from "./websocket.ts";
import { wrapConnection } from "./_adopt.ts";

export interface RequestContext {
  version: string;
  upgrade: Response | null;
  /** The request head as Latin-1 text, from which a connection's headers are parsed if asked for. */
  head: string;
  /** The head's fields, as the request's headers hold them, for lookups without Headers' conversions. */
  fields: readonly [string, string][];
}

export interface PendingUpgrade {
  connection: SocketConnection;
  /** What the handshake settled. */
  accepted: AcceptedHandshake;
  /** The response upgradeWebSocket() handed out; its headers go into the 101. */
  response: SwitchingProtocols;
  /** The request head as Latin-1 text: the connection parses its headers from it if asked. */
  requestHeaders: string;
}

// Requests that came through serve(), and upgrade responses waiting to be written.
export const contexts = new WeakMap<Request, RequestContext>();
export const pendingUpgrades = new WeakMap<Response, PendingUpgrade>();

/**
 * Drops an upgraded request's entries. A WeakMap would drop them too, but
 * only at a full garbage collection: until then the entries, and the head,
 * fields and upgrade state they hold, outlive every young-generation
 * collection, at a cost in RSS per idle connection (bench/RESULTS.md,
 * "Design measurements").
 */
export function forget(request: Request, response: Response): void {
  forgetRequest(request);
  pendingUpgrades.delete(response);
}

// Marks a request whose handler has returned, once its context is gone.
export const ANSWERED: unique symbol = Symbol("duplex.answered");

export function forgetRequest(request: Request): void {
  contexts.delete(request);
  (request as Request & { [ANSWERED]?: true })[ANSWERED] = true;
}

/**
 * The response `upgradeWebSocket()` hands out. The Response constructor
 * refuses status 101, and the server writes the real head itself, so this
 * one only has to look right to the handler. Its `Headers` are made only if
 * the handler looks at them: most never do, and the head is written
 * straight from the field list.
 */
export class SwitchingProtocols extends Response {
  readonly #fields: [string, string][];
  #headers: Headers | undefined;

  constructor(fields: [string, string][]) {
    super(null, { status: 200 });
    this.#fields = fields;
  }

  override get status(): number {
    return 101;
  }

  override get statusText(): string {
    return "Switching Protocols";
  }

  override get headers(): Headers {
    return this.#headers ??= new Headers(this.#fields);
  }

  /** The head to write: the handshake's fields, and what the handler added to the headers. */
  serialize(): Uint8Array {
    const headers = this.#headers;
    if (headers === undefined) {
      // The handler never looked: straight from the field list.
      return serializeResponseHead(101, "Switching Protocols", this.#fields);
    }
    // The handshake's own fields win over a handler's edits.
    for (const [name, value] of this.#fields) {
      if (name.startsWith("sec-websocket-") || name === "upgrade" || name === "connection") {
        headers.set(name, value);
      }
    }
    return serializeResponseHead(101, "Switching Protocols", headers);
  }
}

export /** The keepalive an upgrade asks for: `keepalive` (ms), else `idleTimeout` (s) as Deno has it. */
function keepaliveOf(options: UpgradeOptions): KeepaliveOptions | undefined {
  if (options.keepalive !== undefined) return options.keepalive;
  const seconds = options.idleTimeout ?? 30;
  return seconds > 0 ? { pingInterval: seconds * 1000, pongTimeout: seconds * 1000 } : undefined;
}

/** What the connection opens with. */
export function openInfo(pending: PendingUpgrade): OpenInfo {
  const { accepted } = pending;
  return {
    protocol: accepted.protocol,
    extensions: accepted.extensions,
    headers: pending.requestHeaders,
    ...(accepted.deflate !== null ? { compression: accepted.deflate } : {}),
  };
}

/**
 * upgradeWebSocket() for a request that came through Duplex's own server:
 * the codec accepts the handshake under the options' policy; the connection
 * is made now and opened once the handler returns `response`.
 */
export function upgradeOwn(
  request: Request,
  context: RequestContext,
  options: UpgradeOptions,
): UpgradeResult {
  if (context.upgrade !== null) {
    throw new TypeError("Cannot upgrade: this request was already upgraded");
  }
  // The request's headers are its head's fields (a Request's are immutable):
  // looked up there, without Headers' conversions.
  const fields = context.fields;
  const accepted = acceptUpgrade({
    method: request.method,
    headers: { get: (name: string) => fieldValue(fields, name) },
    httpVersion: context.version,
  }, {
    protocol: options.protocol,
    allowedOrigins: options.allowedOrigins,
    headers: options.headers,
    deflate: deflateFor(options.compression),
  });
  const keepalive = keepaliveOf(options);
  const connection = new SocketConnection({
    ...options,
    ...(keepalive !== undefined ? { keepalive } : {}),
    role: "server",
    url: webSocketUrl(request.url),
  });
  if (accepted.deflate !== null) connection.reserve(accepted.deflate);
  const response = new SwitchingProtocols(accepted.fields);
  pendingUpgrades.set(response, {
    connection,
    accepted,
    response,
    requestHeaders: context.head,
  });
  context.upgrade = response;
  let socket: WebSocket | undefined;
  return {
    response,
    get socket(): WebSocket {
      return socket ??= wrapConnection(connection, "arraybuffer");
    },
    get connection(): WebSocketConnection {
      return connection;
    },
  };
}
