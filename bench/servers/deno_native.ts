// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Deno's native WebSocket (Deno.serve + Deno.upgradeWebSocket).
// `/` echoes; `/broadcast` sends every message to every member. Prints "ready PORT".
const members = new Set<WebSocket>();
const port = Number(Deno.args[0] ?? 0);
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    socket.binaryType = "arraybuffer";
    if (new URL(request.url).pathname === "/broadcast") {
      socket.onopen = () => members.add(socket);
      socket.onclose = () => members.delete(socket);
      socket.onmessage = (event) => {
        for (const member of members) member.send(event.data);
      };
    } else {
      socket.onmessage = (event) => socket.send(event.data);
    }
    return response;
  },
);
