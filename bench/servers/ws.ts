// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: npm:ws's WebSocketServer, run under Deno. `/` echoes;
// `/broadcast` sends every message to every member. Prints "ready PORT".
import * as ws from "npm:ws@8.18.3";

interface Socket {
  send(data: unknown, options: { binary: boolean }): void;
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): void;
  on(event: "close", listener: () => void): void;
}
const { WebSocketServer } = ws as unknown as {
  WebSocketServer: new (options: Record<string, unknown>) => {
    on(event: string, listener: (socket: Socket, request: { url?: string }) => void): void;
    address(): { port: number };
  };
};
const members = new Set<Socket>();
const server = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  perMessageDeflate: false,
});
server.on("listening", () => console.log(`ready ${server.address().port}`));
server.on("connection", (socket, request) => {
  if (request.url === "/broadcast") {
    members.add(socket);
    socket.on("close", () => members.delete(socket));
    socket.on("message", (data, isBinary) => {
      for (const member of members) member.send(data, { binary: isBinary });
    });
  } else {
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  }
});
