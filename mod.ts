// Copyright 2026 the Duplex authors. MIT license.
/**
 * Duplex: a WebSocket client and server for Deno (RFC 6455) that you can
 * read, trust and tune, on a Sans-I/O codec that also runs in browsers.
 *
 * - {@linkcode connect} opens a client connection (`ws://`, `wss://`) and
 *   resolves to a {@linkcode WebSocketConnection}: awaited `send()`,
 *   `receive()` with a timeout, async iteration with backpressure, `ping()`
 *   with the round-trip time, `readable`/`writable` streams, and a `closed`
 *   promise that always settles.
 * - {@linkcode WebSocket} is the same client behind the WHATWG interface,
 *   so browser code runs unchanged (with `headers` and more as options).
 * - {@linkcode serve} is a server shaped like `Deno.serve`;
 *   {@linkcode upgradeWebSocket} works like `Deno.upgradeWebSocket`, inside
 *   `serve` and inside `Deno.serve` alike; {@linkcode acceptWebSocket}
 *   upgrades a connection another server accepted.
 * - The codec (`@duplex/websocket/codec`) is the protocol as Sans-I/O code.
 *
 * Every failure is a typed error with a stable `code`: a
 * {@linkcode ProtocolError} carries the close code sent to the peer, a
 * {@linkcode HandshakeError} the HTTP status, and {@linkcode ConnectionError},
 * {@linkcode TimeoutError} and {@linkcode ClosedError} say what ended.
 *
 * @example An echo server and a client
 * ```ts
 * import { connect, serve, upgradeWebSocket } from "@duplex/websocket";
 * import assert from "node:assert/strict";
 *
 * const server = serve({ port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = upgradeWebSocket(request);
 *   socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * });
 *
 * const client = await connect(`ws://localhost:${server.addr.port}/`);
 * await client.send("Hello");
 * assert.equal(await client.receive(), "Hello");
 * const rtt = await client.ping();
 * assert.ok(rtt >= 0);
 * await client.close(1000, "done");
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./codec/mod.ts";
export { ConnectionError, SlowConsumerError, TimeoutError } from "./errors.ts";
export { connect, type ConnectOptions } from "./client.ts";
export { reconnect, type ReconnectOptions, type ReconnectRetry } from "./reconnect.ts";
export {
  type Clock,
  type ConnectionCloseInfo,
  type ConnectionListener,
  type ConnectionOptions,
  type MessageWriter,
  type MessageWriterOptions,
  type ReceiveOptions,
  type SendData,
  type SendMessageOptions,
  type WebSocketConnection,
} from "./connection.ts";
export { WebSocket, type WebSocketOptions } from "./websocket.ts";
export {
  type BackpressurePolicy,
  type BroadcastOptions,
  Hub,
  type HubBackplaneStats,
  HubConnection,
  type HubEvents,
  type HubOptions,
  type HubStats,
} from "./hub.ts";
export {
  type Backplane,
  type BackplaneReceiver,
  type BackplaneStats,
  BroadcastChannelBackplane,
  type BroadcastChannelBackplaneOptions,
} from "./backplane.ts";
export {
  type AcceptOptions,
  acceptWebSocket,
  serve,
  type ServeHandler,
  type ServeHandlerInfo,
  type ServeOptions,
  type Server,
  type UpgradeOptions,
  type UpgradeResult,
  upgradeWebSocket,
} from "./server.ts";
