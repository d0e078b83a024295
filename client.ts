// Copyright 2026 the Duplex authors. MIT license.
/**
 * The WebSocket client: {@linkcode connect} dials `ws://` over
 * `Deno.connect` and `wss://` over TLS, performs the opening handshake with
 * the codec's helpers, and resolves to a {@linkcode WebSocketConnection}.
 *
 * Unlike Deno's native client it refuses a wrong `Sec-WebSocket-Accept`, a
 * subprotocol or extension it did not offer, and masked server frames; a
 * refused upgrade (401, 403, 404…) rejects with a `HandshakeError` that
 * carries the status, headers and body of the refusal.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@duplex/websocket/client";
 *
 * const connection = await connect("wss://example.com/chat", {
 *   protocols: ["chat.v2"],
 *   headers: { authorization: "Bearer t0ken" },
 * });
 * await connection.send("hello");
 * console.log(await connection.receive({ timeout: 5_000 }));
 * await connection.close(1000, "bye");
 * ```
 *
 * @module
 */

import { type ConnectOptions, startClient } from "./_client.ts";
import type { WebSocketConnection } from "./connection.ts";

export type { ConnectOptions };

/**
 * Opens a WebSocket connection.
 *
 * @param url A `ws:`, `wss:`, `http:` or `https:` URL.
 * @param options Subprotocols, headers, TLS, timeouts and limits.
 * @returns The open connection.
 * @throws {SyntaxError} For an invalid URL or subprotocol.
 * @throws {TypeError} For an invalid header.
 * @throws {ConnectionError} If the host cannot be reached, or the TLS or TCP
 * connection fails.
 * @throws {HandshakeError} If the server refuses the upgrade (with its
 * status, headers and body) or answers it wrongly.
 * @throws {TimeoutError} After `handshakeTimeout` (`"HANDSHAKE_TIMEOUT"`).
 *
 * @example Connect, exchange a message, close
 * ```ts
 * import { connect, serve, upgradeWebSocket } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const server = serve({ port: 0, onListen() {} }, (request) => {
 *   const { connection, response } = upgradeWebSocket(request);
 *   connection.listen({ message: (data) => connection.send(data) });
 *   return response;
 * });
 *
 * const client = await connect(`ws://localhost:${server.addr.port}/`);
 * await client.send("hello");
 * assert.equal(await client.receive(), "hello");
 * const { code } = await client.close(1000);
 * assert.equal(code, 1000);
 * await server.shutdown();
 * ```
 */
export async function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection> {
  const connection = startClient(url, options);
  await connection.opened;
  return connection;
}
