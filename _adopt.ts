// Copyright 2026 the Duplex authors. MIT license.
// How a server wraps a connection it already has in a WHATWG WebSocket: it
// passes the constructor an Adoption instead of options. The class is
// internal, so no caller can make one. Internal.

import type { WebSocketConnection } from "./connection.ts";
import { WebSocket, type WebSocketOptions } from "./websocket.ts";

/** A connection for the WebSocket constructor to wrap, instead of dialing. */
export class Adoption {
  constructor(readonly connection: WebSocketConnection, readonly binaryType: BinaryType) {}
}

/**
 * Wraps a connection in a WHATWG `WebSocket`, as `upgradeWebSocket()` does
 * for server sockets. The wrapper takes the connection's messages: use one
 * or the other.
 */
export function wrapConnection(
  connection: WebSocketConnection,
  binaryType: BinaryType = "arraybuffer",
): WebSocket {
  return new WebSocket(connection.url, new Adoption(connection, binaryType) as WebSocketOptions);
}
