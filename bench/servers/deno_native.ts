// Copyright 2026 the Duplex authors. MIT license.
// Benchmark peer: Deno's native WebSocket (Deno.serve + Deno.upgradeWebSocket). Prints "ready PORT".
const port = Number(Deno.args[0] ?? 0);
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: ({ port }) => console.log(`ready ${port}`) },
  (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  },
);
