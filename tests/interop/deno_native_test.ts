// Copyright 2026 the Duplex authors. MIT license.
// Interop with Deno's native WebSocket, which we did not write: Duplex's
// client against Deno.serve + Deno.upgradeWebSocket, and Deno's global
// WebSocket client against Duplex's serve().
import assert from "node:assert/strict";
import { connect, HandshakeError, serve, upgradeWebSocket } from "../../mod.ts";
import { assertEchoes, binaryOf, collect, once, sameBytes, SIZES, textOf } from "./_util.ts";

/** Deno's native echo server, recording what it saw. */
function nativeServer(options: { protocol?: string } = {}) {
  const seen: { headers?: Headers; close?: CloseEvent; protocols?: string | null } = {};
  const closed = Promise.withResolvers<CloseEvent>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (request.headers.get("authorization") === "Bearer wrong") {
      return new Response("bad token", { status: 401, headers: { "www-authenticate": "Bearer" } });
    }
    seen.headers = new Headers(request.headers); // Deno's are gone once the request ends
    seen.protocols = request.headers.get("sec-websocket-protocol");
    const { socket, response } = Deno.upgradeWebSocket(request, options);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (event.data === "close 4001") socket.close(4001, "server says bye");
      else socket.send(event.data);
    };
    socket.onclose = (event) => closed.resolve(event);
    return response;
  });
  return { server, seen, closed: closed.promise, url: `ws://127.0.0.1:${server.addr.port}/` };
}

Deno.test("Duplex client echoes text and binary of 0 B to 16 MiB through Deno's native server", async () => {
  const { server, url } = nativeServer();
  const client = await connect(url);
  await assertEchoes(client, SIZES);
  await client.close(1000);
  await server.shutdown();
});

Deno.test("Duplex client negotiates a subprotocol and sends custom headers to Deno's native server", async () => {
  const { server, seen, url } = nativeServer({ protocol: "chat.v2" });
  const client = await connect(url, {
    protocols: ["chat.v2", "chat.v1"],
    headers: { authorization: "Bearer t0ken", origin: "https://example.com", cookie: "session=1" },
  });
  assert.equal(client.protocol, "chat.v2");
  assert.equal(seen.protocols, "chat.v2, chat.v1");
  assert.equal(seen.headers?.get("authorization"), "Bearer t0ken");
  assert.equal(seen.headers?.get("origin"), "https://example.com");
  assert.equal(seen.headers?.get("cookie"), "session=1");
  assert.equal(client.headers.get("sec-websocket-protocol"), "chat.v2");
  await client.close();
  await server.shutdown();
});

Deno.test("Duplex client's close code and reason reach Deno's native server, and the reverse", async () => {
  const first = nativeServer();
  const client = await connect(first.url);
  const result = await client.close(4000, "client says bye");
  assert.deepEqual(result, {
    code: 4000,
    reason: "client says bye",
    wasClean: true,
    closedByPeer: false,
  });
  const serverSaw = await first.closed;
  assert.equal(serverSaw.code, 4000);
  assert.equal(serverSaw.reason, "client says bye");
  await first.server.shutdown();

  const second = nativeServer();
  const other = await connect(second.url);
  await other.send("close 4001");
  const closed = await other.closed;
  assert.deepEqual(closed, {
    code: 4001,
    reason: "server says bye",
    wasClean: true,
    closedByPeer: true,
  });
  await second.closed;
  await second.server.shutdown();
});

Deno.test("Duplex client measures a ping round trip against Deno's native server", async () => {
  const { server, url } = nativeServer();
  const client = await connect(url);
  const rtt = await client.ping("are you there");
  assert.ok(rtt >= 0 && rtt < 5000, `rtt ${rtt}`);
  await client.close();
  await server.shutdown();
});

Deno.test("Duplex client answers pings from Deno's native server", async () => {
  // Deno's server pings after idleTimeout seconds of silence, and closes
  // the connection if the pong does not come.
  const { server, url } = nativeServer({ idleTimeout: 1 } as { protocol?: string });
  const client = await connect(url);
  const pinged = Promise.withResolvers<Uint8Array>();
  client.listen({ ping: (data) => pinged.resolve(data) });
  await pinged.promise;
  // Still open well after a second ping would have found it dead.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal(client.readyState, 1);
  await client.close();
  await server.shutdown();
});

Deno.test("Duplex client surfaces a refused upgrade from Deno.serve as a HandshakeError with status, headers and body", async () => {
  const { server, url } = nativeServer();
  await assert.rejects(
    connect(url, { headers: { authorization: "Bearer wrong" } }),
    (error) => {
      assert.ok(error instanceof HandshakeError);
      assert.equal(error.code, "UNEXPECTED_STATUS");
      assert.equal(error.status, 401);
      assert.equal(error.headers.get("www-authenticate"), "Bearer");
      assert.equal(error.body, "bad token");
      return true;
    },
  );
  await server.shutdown();
});

/** A Duplex echo server for Deno's client, recording what it saw. */
function duplexServer() {
  const closes: { code: number; reason: string }[] = [];
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request, {
      protocol: ["chat.v2"],
      headers: { "set-cookie": "session=abc" },
      allowedOrigins: ["https://good.example"],
    });
    (async () => {
      for await (const message of connection) {
        if (message === "close 4002") await connection.close(4002, "duplex says bye");
        else if (message === "ping me") await connection.send(`rtt ${await connection.ping("p")}`);
        else await connection.send(message);
      }
    })().catch(() => {});
    connection.closed.then(({ code, reason }) => closes.push({ code, reason }));
    return response;
  });
  return { server, closes, url: `ws://127.0.0.1:${server.addr.port}/` };
}

Deno.test("Deno's WebSocket client echoes text and binary of 0 B to 16 MiB through Duplex's server", async () => {
  const { server, url } = duplexServer();
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  await once(socket, "open");
  for (const size of SIZES) {
    const text = textOf(size);
    socket.send(text);
    assert.equal((await once<MessageEvent>(socket, "message")).data, text, `text of ${size} bytes`);
    const bytes = binaryOf(size);
    socket.send(bytes);
    const echoed = new Uint8Array((await once<MessageEvent>(socket, "message")).data);
    assert.ok(sameBytes(echoed, bytes), `binary of ${size} bytes`);
  }
  socket.close(1000);
  await once(socket, "close");
  await server.shutdown();
});

Deno.test("Deno's WebSocket client gets the subprotocol Duplex chose, and Duplex's pings", async () => {
  const { server, url } = duplexServer();
  const socket = new WebSocket(url, ["chat.v1", "chat.v2"]);
  await once(socket, "open");
  assert.equal(socket.protocol, "chat.v2");
  socket.send("ping me");
  const reply = (await once<MessageEvent>(socket, "message")).data as string;
  assert.match(reply, /^rtt \d+(\.\d+)?$/);
  socket.close();
  await once(socket, "close");
  await server.shutdown();
});

Deno.test("close codes and reasons cross between Deno's WebSocket client and Duplex's server both ways", async () => {
  const { server, closes, url } = duplexServer();
  const first = new WebSocket(url);
  await once(first, "open");
  first.close(4003, "native says bye");
  const firstClose = await once<CloseEvent>(first, "close");
  assert.equal(firstClose.wasClean, true);
  const second = new WebSocket(url);
  await once(second, "open");
  second.send("close 4002");
  const secondClose = await once<CloseEvent>(second, "close");
  assert.deepEqual([secondClose.code, secondClose.reason, secondClose.wasClean], [
    4002,
    "duplex says bye",
    true,
  ]);
  await server.shutdown();
  // What Duplex reports is the peer's close frame: Deno's client echoes the
  // code and the reason of a server-initiated close.
  assert.deepEqual(closes.sort((a, b) => a.code - b.code), [
    { code: 4002, reason: "duplex says bye" },
    { code: 4003, reason: "native says bye" },
  ]);
});

Deno.test("Duplex's server refuses a browser origin it does not allow with 403", async () => {
  const { server, url } = duplexServer();
  const socket = new WebSocket(url, { headers: { origin: "https://evil.example" } });
  const [error, close] = await Promise.all([
    once<ErrorEvent>(socket, "error"),
    once<CloseEvent>(socket, "close"),
  ]);
  assert.match(error.message, /403/);
  assert.equal(close.wasClean, false);
  // WHATWG says 1006 here; Deno 2.9's client reports 0 (a deviation in the peer, not in Duplex).
  assert.ok(close.code === 1006 || close.code === 0, `close code ${close.code}`);
  // The same check answered over plain HTTP, to see the status itself.
  const response = await fetch(url.replace("ws:", "http:"), {
    headers: {
      origin: "https://evil.example",
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(response.status, 403);
  await response.body?.cancel();
  const allowed = new WebSocket(url, { headers: { origin: "https://good.example" } });
  await once(allowed, "open");
  allowed.close();
  await once(allowed, "close");
  await server.shutdown();
});

Deno.test("Deno's client sees many messages from Duplex in order", async () => {
  const { server, url } = duplexServer();
  const socket = new WebSocket(url);
  await once(socket, "open");
  const received = collect<MessageEvent>(socket, "message", 1000);
  for (let i = 0; i < 1000; i++) socket.send(`message ${i}`);
  const messages = (await received).map((event) => event.data);
  assert.deepEqual(messages, Array.from({ length: 1000 }, (_, i) => `message ${i}`));
  socket.close();
  await once(socket, "close");
  await server.shutdown();
});
