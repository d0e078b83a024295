// Copyright 2026 the Duplex authors. MIT license.
// The server's behaviour: plain HTTP, limits and slow clients, shutdown,
// scale, TLS, and handler code shared with Deno.serve.
import assert from "node:assert/strict";
import {
  acceptWebSocket,
  connect,
  type ConnectionCloseInfo,
  encodeFrame,
  type Frame,
  FrameDecoder,
  HandshakeError,
  type Message,
  Opcode,
  Protocol,
  serve,
  type ServeHandler,
  upgradeWebSocket,
  type WebSocketConnection,
} from "../mod.ts";
import { generateTestCertificates } from "./_tls.ts";
import { ManualClock } from "../testing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sends raw bytes to the server and reads until it closes or `until` matches. */
async function exchange(
  port: number,
  request: string | Uint8Array,
  until?: RegExp,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(typeof request === "string" ? encoder.encode(request) : request);
    let text = "";
    const buffer = new Uint8Array(16 * 1024);
    while (until === undefined || !until.test(text)) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

function echoHandler(): ServeHandler {
  return (request) => {
    const url = new URL(request.url);
    if (request.headers.get("upgrade") === null) {
      if (url.pathname === "/boom") throw new Error("handler exploded");
      if (url.pathname === "/stream") {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < 3; i++) {
              controller.enqueue(encoder.encode(`part ${i};`.repeat(10_000)));
            }
            controller.close();
          },
        });
        return new Response(body);
      }
      if (request.method === "POST") {
        return request.text().then((text) =>
          new Response(`got ${text.length}: ${text.slice(0, 20)}`)
        );
      }
      return new Response(`page ${url.pathname}`, { headers: { "x-served-by": "duplex" } });
    }
    const { connection, response } = upgradeWebSocket(request);
    (async () => {
      for await (const message of connection) await connection.send(message);
    })().catch(() => {});
    return response;
  };
}

Deno.test("serve answers plain HTTP: pages, HEAD, keep-alive, request bodies, streamed responses", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, echoHandler());
  const base = `http://127.0.0.1:${server.addr.port}`;
  const page = await fetch(`${base}/health`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("x-served-by"), "duplex");
  assert.equal(await page.text(), "page /health");
  const head = await fetch(`${base}/health`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const posted = await fetch(`${base}/form`, { method: "POST", body: "x".repeat(100_000) });
  assert.equal(await posted.text(), "got 100000: xxxxxxxxxxxxxxxxxxxx");
  const streamed = await fetch(`${base}/stream`);
  assert.equal((await streamed.text()).length, 3 * 7 * 10_000);
  // Two requests on one connection, the second with a chunked body.
  const raw = await exchange(
    server.addr.port,
    "GET /one HTTP/1.1\r\nHost: a\r\n\r\n" +
      "POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  );
  assert.match(raw, /^HTTP\/1\.1 200 OK\r\n[^]*connection: keep-alive[^]*page \/one/);
  assert.match(raw, /HTTP\/1\.1 200 OK\r\n[^]*connection: close[^]*got 5: hello$/);
  await server.shutdown();
});

Deno.test("serve answers 500 when the handler throws, or what onError returns", async () => {
  const errors: unknown[] = [];
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    onError(error) {
      errors.push(error);
      return new Response("sorry", { status: 503 });
    },
  }, echoHandler());
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/boom`);
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "sorry");
  assert.equal((errors[0] as Error).message, "handler exploded");
  await server.shutdown();
});

Deno.test("serve answers each malformed request with its status and closes the connection", async () => {
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    maxHeadSize: 4096,
    maxHeaderCount: 50,
    maxRequestLineLength: 1024,
    maxBodySize: 1000,
  }, echoHandler());
  const port = server.addr.port;
  const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
  const cases: [string, string, RegExp?][] = [
    ["GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", "400"],
    ["GET / HTTP/1.1\nHost: a\n\n", "400"],
    ["GET / HTTP/1.1\r\n\r\n", "400"],
    [`GET /${"x".repeat(2000)} HTTP/1.1\r\nHost: a\r\n\r\n`, "414"],
    [`GET / HTTP/1.1\r\nHost: a\r\n${"X-Flood: y\r\n".repeat(60)}\r\n`, "431"],
    [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"y".repeat(5000)}\r\n\r\n`, "431"],
    ["GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505"],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", "413"],
    [`GET / HTTP/1.1\r\nHost: a\r\n${upgrade}\r\n`, "400"], // no key
    [
      `GET / HTTP/1.1\r\nHost: a\r\n${
        upgrade.replace("13", "25")
      }Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      "426",
      /sec-websocket-version: 13/,
    ],
    [
      `POST / HTTP/1.1\r\nHost: a\r\n${upgrade}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 0\r\n\r\n`,
      "405",
      /allow: GET/,
    ],
  ];
  for (const [request, status, header] of cases) {
    const response = await exchange(port, request);
    assert.match(
      response,
      new RegExp(`^HTTP/1\\.1 ${status} `),
      `${JSON.stringify(request.slice(0, 60))} → ${response.slice(0, 40)}`,
    );
    assert.match(response, /connection: close/);
    if (header) assert.match(response, header);
  }
  // The server still serves others.
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/ok`)).text(), "page /ok");
  await server.shutdown();
});

Deno.test("serve answers a plain GET on a WebSocket-only route with 426", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => upgradeWebSocket(request).response,
  );
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/ws`);
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("upgrade"), "websocket");
  await response.body?.cancel();
  await server.shutdown();
});

Deno.test("serve drops a slowloris client at the request deadline and keeps serving others", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, requestTimeout: 300 },
    echoHandler(),
  );
  const slow = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const started = performance.now();
  let dropped = false;
  try {
    for (
      const piece of [
        "GET / HTTP/1.1\r\n",
        "Host: a\r\n",
        "X-A: 1\r\n",
        "X-B: 2\r\n",
        "X-C: 3\r\n",
        "X-D: 4\r\n",
      ]
    ) {
      await slow.write(encoder.encode(piece));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch {
    dropped = true;
  }
  // A read ends once the server has dropped it.
  const n = await slow.read(new Uint8Array(16)).catch(() => null);
  assert.equal(n, null);
  assert.ok(dropped || performance.now() - started < 1500);
  slow.close();
  assert.equal(
    await (await fetch(`http://127.0.0.1:${server.addr.port}/still`)).text(),
    "page /still",
  );
  await server.shutdown();
});

Deno.test("serve drops each silent client no sooner than its own request deadline, and serves the punctual", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, requestTimeout: 400 },
    echoHandler(),
  );
  const port = server.addr.port;
  const closedAt = (conn: Deno.Conn) =>
    conn.read(new Uint8Array(64)).then(() => performance.now(), () => performance.now());
  const started = performance.now();
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  const firstClosed = closedAt(first);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = await Deno.connect({ hostname: "127.0.0.1", port });
  const secondClosed = closedAt(second);
  // A client that sends its request in time gets its answer, past the first's deadline.
  const punctual = await Deno.connect({ hostname: "127.0.0.1", port });
  await punctual.write(
    encoder.encode("GET /late HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
  );
  const [a, b] = await Promise.all([firstClosed, secondClosed]);
  // Lower bounds only: a loaded machine may fire the timer late, never early.
  assert.ok(a - started >= 350, `the first was dropped after ${a - started} ms`);
  assert.ok(b - started >= 550, `the second was dropped after ${b - started} ms`);
  let answer = "";
  const buffer = new Uint8Array(1024);
  for (let n; (n = await punctual.read(buffer)) !== null;) {
    answer += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /page \/late/);
  for (const conn of [first, second, punctual]) conn.close();
  await server.shutdown();
});

Deno.test("serve closes a keep-alive connection that sends no next request within keepAliveTimeout", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, keepAliveTimeout: 200 },
    echoHandler(),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode("GET /one HTTP/1.1\r\nHost: a\r\n\r\n"));
  const buffer = new Uint8Array(4096);
  let received = "";
  let n: number | null;
  while ((n = await conn.read(buffer)) !== null) {
    received += new TextDecoder().decode(buffer.subarray(0, n));
  }
  // The one response, then the server hung up on its own.
  assert.equal(received.match(/HTTP\/1\.1 200 /g)?.length, 1);
  assert.match(received, /connection: keep-alive/i);
  conn.close();
  await server.shutdown();
});

Deno.test("the 101 carries upgrade option headers and headers the handler set on the response", async () => {
  for (const touch of [false, true]) {
    const opened: WebSocketConnection[] = [];
    const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const { connection, response } = upgradeWebSocket(request, {
        protocol: "chat",
        headers: { "set-cookie": "id=1" },
      });
      if (touch) {
        // Deno.upgradeWebSocket users may add headers to the response they return.
        assert.equal(response.headers.get("sec-websocket-protocol"), "chat");
        response.headers.append("x-added", "late");
      }
      connection.listen({ message: (message) => connection.send(message) });
      opened.push(connection);
      return response;
    });
    const client = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
      protocols: ["chat"],
      headers: { "x-client": "c1" },
    });
    assert.equal(client.protocol, "chat");
    assert.equal(client.headers.get("set-cookie"), "id=1");
    assert.equal(client.headers.get("x-added"), touch ? "late" : null);
    assert.equal(client.headers.get("upgrade"), "websocket");
    await client.send("ok");
    assert.equal(await client.receive(), "ok");
    // The server's connection exposes the request's headers, parsed when asked for.
    assert.equal(opened[0]!.headers.get("x-client"), "c1");
    assert.equal(opened[0]!.headers.get("sec-websocket-protocol"), "chat");
    await client.close();
    await server.shutdown();
  }
});

Deno.test("listen() calls its callbacks as methods, so a class instance can listen", async () => {
  class Counter {
    messages: string[] = [];
    opened = 0;
    open(): void {
      this.opened++;
    }
    message(data: string | Uint8Array): void {
      this.messages.push(String(data));
    }
  }
  const counter = new Counter();
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.listen(counter);
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  await client.send("one");
  await client.send("two");
  await client.close();
  await server.shutdown();
  assert.equal(counter.opened, 1);
  assert.deepEqual(counter.messages, ["one", "two"]);
});

Deno.test("the same handler runs on serve and on Deno.serve", async () => {
  const seen: string[] = [];
  // Code written for Deno.serve + Deno.upgradeWebSocket, using Duplex's
  // upgradeWebSocket: the WHATWG socket on one side, the connection on the other.
  const handler = (request: Request): Response => {
    const url = new URL(request.url);
    if (url.pathname === "/socket") {
      const { socket, response } = upgradeWebSocket(request, { protocol: "chat" });
      socket.onopen = () => seen.push("open");
      socket.onmessage = (event) => socket.send(`socket: ${event.data}`);
      socket.onclose = (event) => seen.push(`close ${event.code}`);
      return response;
    }
    const { connection, response } = upgradeWebSocket(request, { protocol: "chat" });
    (async () => {
      for await (const message of connection) await connection.send(`connection: ${message}`);
    })().catch(() => {});
    return response;
  };
  const ours = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  for (const port of [ours.addr.port, deno.addr.port]) {
    for (const path of ["socket", "connection"]) {
      const client = await connect(`ws://127.0.0.1:${port}/${path}`, { protocols: ["chat"] });
      assert.equal(client.protocol, "chat");
      await client.send("hi");
      assert.equal(await client.receive(), `${path}: hi`);
      await client.close(1000);
    }
  }
  await ours.shutdown();
  await deno.shutdown();
  assert.deepEqual(seen, ["open", "close 1000", "open", "close 1000"]);
});

Deno.test("shutdown sends 1001 to every client, waits for them, then resolves finished", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, echoHandler());
  const clients = await Promise.all(
    Array.from({ length: 20 }, () => connect(`ws://127.0.0.1:${server.addr.port}/`)),
  );
  await Promise.all(clients.map(async (client, i) => {
    await client.send(`hello ${i}`);
    assert.equal(await client.receive(), `hello ${i}`);
  }));
  await server.shutdown();
  for (const client of clients) {
    assert.deepEqual(await client.closed, {
      code: 1001,
      reason: "server shutting down",
      wasClean: true,
      closedByPeer: true,
    });
  }
  await server.finished;
  // Nothing listens any more.
  await assert.rejects(connect(`ws://127.0.0.1:${server.addr.port}/`), /refused/);
});

Deno.test("shutdown does not wait forever for a client that ignores its close frame", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    return upgradeWebSocket(request, { closeTimeout: 200 }).response;
  });
  // A raw client that completes the handshake, then ignores everything.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode(
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  assert.match(decoder.decode(buffer.subarray(0, n!)), /^HTTP\/1\.1 101 /);
  const started = performance.now();
  await server.shutdown();
  assert.ok(performance.now() - started < 2000, "shutdown waited for a client that never answered");
  conn.close();
});

Deno.test("1,000 concurrent connections each echo through one server", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, echoHandler());
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const clients: WebSocketConnection[] = [];
  for (let batch = 0; batch < 10; batch++) {
    clients.push(...await Promise.all(Array.from({ length: 100 }, () => connect(url))));
  }
  const replies: Message[] = await Promise.all(clients.map(async (client, i) => {
    await client.send(`echo ${i}`);
    return await client.receive({ timeout: 10_000 });
  }));
  assert.deepEqual(replies, clients.map((_, i) => `echo ${i}`));
  await Promise.all(clients.map((client) => client.close(1000)));
  await server.shutdown();
});

Deno.test("serve and connect speak wss:// with a certificate generated for the test", async () => {
  const { caCert, cert, key } = await generateTestCertificates();
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {}, cert, key }, echoHandler());
  const client = await connect(`wss://localhost:${server.addr.port}/`, { caCerts: [caCert] });
  await client.send("over TLS");
  assert.equal(await client.receive(), "over TLS");
  const big = new Uint8Array(1 << 20).fill(3);
  await client.send(big);
  assert.deepEqual(await client.receive(), big);
  await client.close();
  // An untrusted certificate fails as a TLS error, not a hang.
  await assert.rejects(
    connect(`wss://localhost:${server.addr.port}/`),
    (error) =>
      error instanceof Error && error.name === "ConnectionError" &&
      (error as { code?: string }).code === "TLS_ERROR",
  );
  await server.shutdown();
});

Deno.test("connect speaks wss:// to Deno.serve over TLS, with a serverName for an IP", async () => {
  const { caCert, cert, key } = await generateTestCertificates();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (event) => socket.send(event.data);
      return response;
    },
  );
  const client = await connect(`wss://127.0.0.1:${server.addr.port}/`, {
    caCerts: [caCert],
    serverName: "localhost",
  });
  await client.send("native TLS");
  assert.equal(await client.receive(), "native TLS");
  await client.close();
  await server.shutdown();
});

Deno.test("acceptWebSocket upgrades a connection with request bytes already read", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clientPromise = connect(`ws://127.0.0.1:${listener.addr.port}/raw`);
  const conn = await listener.accept();
  listener.close();
  // Another server peeked at the first bytes before handing the connection over.
  const head = new Uint8Array(10);
  const n = (await conn.read(head))!;
  const server = await acceptWebSocket(conn, { head: head.subarray(0, n), protocol: ["x"] });
  const client = await clientPromise;
  await client.send("through acceptWebSocket");
  assert.equal(await server.receive(), "through acceptWebSocket");
  assert.equal(server.url.endsWith("/raw"), true);
  await client.close();
  await server.closed;
});

Deno.test("acceptWebSocket answers a bad request with its status and rejects", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const raw = exchange(
    listener.addr.port,
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  );
  const conn = await listener.accept();
  listener.close();
  await assert.rejects(
    acceptWebSocket(conn),
    (error) => error instanceof HandshakeError && error.status === 426,
  );
  assert.match(await raw, /^HTTP\/1\.1 426 [^]*sec-websocket-version: 13/);
});

Deno.test("a server connection enforces maxMessageSize with 1009", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request, { maxMessageSize: 1024 });
    (async () => {
      for await (const message of connection) await connection.send(message);
    })().catch(() => {});
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  await client.send(new Uint8Array(1024));
  assert.equal(((await client.receive()) as Uint8Array).length, 1024);
  await client.send(new Uint8Array(1025));
  const closed = await client.closed;
  assert.equal(closed.code, 1009);
  assert.equal(closed.wasClean, true);
  await server.shutdown();
});

Deno.test("a handler that calls upgradeWebSocket but returns another response leaves no socket open", async () => {
  let connection: WebSocketConnection | undefined;
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    connection = upgradeWebSocket(request).connection;
    return new Response("changed my mind", { status: 403 });
  });
  await assert.rejects(
    connect(`ws://127.0.0.1:${server.addr.port}/`),
    (error) => error instanceof HandshakeError && error.status === 403,
  );
  const closed = await connection!.closed;
  assert.equal(closed.code, 1006);
  assert.ok(closed.error instanceof HandshakeError);
  await server.shutdown();
});

Deno.test("the server echoes a message that arrived with a violation, then fails with 1002", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, echoHandler());
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode(
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const buffer = new Uint8Array(4096);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    head += decoder.decode(buffer.subarray(0, (await conn.read(buffer))!));
  }
  // Autobahn 4.1.3: a text message, a frame with reserved opcode 5, a ping; one write.
  const key = new Uint8Array([1, 2, 3, 4]);
  const frames = [
    encodeFrame(Opcode.Text, "Hello, world!", { mask: key }),
    encodeFrame(5, "", { mask: key }),
    encodeFrame(Opcode.Ping, "", { mask: key }),
  ];
  await conn.write(new Uint8Array(frames.flatMap((frame) => [...frame])));
  const received: Uint8Array[] = [];
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer).catch(() => null)) {
    received.push(buffer.slice(0, n));
  }
  conn.close();
  const bytes = new Uint8Array(received.flatMap((chunk) => [...chunk]));
  const decoded = new FrameDecoder({ role: "client" });
  decoded.push(bytes);
  const replies: Frame[] = [];
  for (let frame = decoded.next(); frame; frame = decoded.next()) replies.push(frame);
  assert.deepEqual(replies.map((frame) => frame.opcode), [Opcode.Text, Opcode.Close]);
  assert.equal(decoder.decode(replies[0]!.payload), "Hello, world!");
  assert.equal((replies[1]!.payload[0]! << 8) | replies[1]!.payload[1]!, 1002);
  await server.shutdown();
});

Deno.test("a handler that returns an upgrade response already used by another request gets a 500", async () => {
  let used: Response | undefined;
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (used !== undefined) return used;
    const { response } = upgradeWebSocket(request);
    used = response;
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  const answer = await exchange(
    server.addr.port,
    "GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  );
  assert.match(answer, /^HTTP\/1\.1 500 /);
  assert.doesNotMatch(answer, /sec-websocket-accept/i);
  await client.close();
  await server.shutdown();
});

Deno.test("upgradeWebSocket() after the handler has returned throws a TypeError", async () => {
  const late = Promise.withResolvers<unknown>();
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    setTimeout(() => {
      try {
        upgradeWebSocket(request);
        late.resolve(undefined);
      } catch (error) {
        late.resolve(error);
      }
    }, 10);
    return new Response("not yet");
  });
  const answer = await exchange(
    server.addr.port,
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  assert.match(answer, /^HTTP\/1\.1 200 /);
  const error = await late.promise;
  assert.ok(error instanceof TypeError && /already returned/.test(error.message), String(error));
  await server.shutdown();
});

Deno.test("a connection whose read cannot start fails alone, with 1006 and no unhandled rejection", async () => {
  // Fault injection: preparing the read of a large payload throws, as an
  // allocation failure would.
  const original = Protocol.prototype.receiveTarget;
  let armed = false;
  Protocol.prototype.receiveTarget = function (min: number) {
    const target = original.call(this, min);
    if (armed && target !== undefined) throw new RangeError("Array buffer allocation failed");
    return target;
  };
  try {
    const closed = Promise.withResolvers<ConnectionCloseInfo>();
    const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const { connection, response } = upgradeWebSocket(request);
      connection.closed.then(closed.resolve);
      return response;
    });
    const client = await connect(`ws://127.0.0.1:${server.addr.port}/`);
    armed = true;
    client.send(new Uint8Array(4 * 1024 * 1024)).catch(() => {});
    const info = await closed.promise;
    armed = false;
    assert.equal(info.code, 1006);
    assert.match(String(info.error), /allocation failed/);
    assert.equal((await client.closed).wasClean, false);
    await server.shutdown();
  } finally {
    Protocol.prototype.receiveTarget = original;
  }
});

Deno.test("a server connection's headers are the request's, Latin-1 bytes included, parsed when asked", async () => {
  const headers = Promise.withResolvers<Headers>();
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    // Asked for after the upgrade, once the server kept only the head's text.
    connection.opened.then(() => headers.resolve(connection.headers));
    return response;
  });
  const request = new Uint8Array([
    ...encoder.encode(
      "GET /h HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        "Cookie: id=7\r\nX-Name: caf",
    ),
    0xe9, // "é" in Latin-1 (obs-text)
    ...encoder.encode("\r\n\r\n"),
  ]);
  const answer = await exchange(server.addr.port, request, /\r\n\r\n/);
  assert.match(answer, /^HTTP\/1\.1 101 /);
  const received = await headers.promise;
  assert.equal(received.get("cookie"), "id=7");
  assert.equal(received.get("x-name"), "caf\u00e9");
  assert.equal(received.get("sec-websocket-version"), "13");
  await server.shutdown();
});

Deno.test("acceptBackoff: a connection that died in the backlog costs no wait; EMFILE waits, doubling to 1 s", async () => {
  const { acceptBackoff } = await import("../_server.ts");
  for (const error of [new Deno.errors.NotConnected("x"), new Deno.errors.ConnectionAborted("x")]) {
    // However many in a row: a reset storm leaves hundreds queued.
    for (const failures of [1, 2, 50, 400]) assert.equal(acceptBackoff(error, failures), 0);
  }
  const emfile = new Error("Too many open files (os error 24)");
  assert.deepEqual([1, 2, 3, 8, 30].map((n) => acceptBackoff(emfile, n)), [10, 20, 40, 1000, 1000]);
  const other = new Error("something else");
  assert.deepEqual([1, 2, 3, 9, 30].map((n) => acceptBackoff(other, n)), [0, 1, 2, 100, 100]);
});

Deno.test("on Deno.serve, a peer gone without a close frame is 1006, as on serve()", async () => {
  const closed = Promise.withResolvers<ConnectionCloseInfo>();
  const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.closed.then(closed.resolve);
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${deno.addr.port}/`);
  client.terminate();
  await client.closed;
  const info = await closed.promise;
  // Deno's own socket says 0.
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
  assert.equal(info.closedByPeer, true);
  await deno.shutdown();
});

for (
  const [name, options, why] of [
    ["receiveHighWaterMark", { receiveHighWaterMark: 1024 }, "Deno's socket cannot pause reading"],
    ["clock", { clock: new ManualClock() }, "Deno's socket keeps its own time"],
  ] as const
) {
  Deno.test(`inside Deno.serve, upgradeWebSocket refuses ${name}: ${why}`, async () => {
    let refusal: unknown;
    const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      try {
        return upgradeWebSocket(request, options).response;
      } catch (error) {
        refusal = error;
        return new Response("refused", { status: 400 });
      }
    });
    await assert.rejects(
      connect(`ws://127.0.0.1:${deno.addr.port}/`),
      (error: unknown) => error instanceof HandshakeError && error.status === 400,
    );
    assert.ok(refusal instanceof TypeError);
    assert.match(refusal.message, new RegExp(`${name} needs Duplex's own server`));
    await deno.shutdown();
  });
}

Deno.test("inside Deno.serve, a writer's pieces are joined and sent by end()", async () => {
  const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.opened.then(async () => {
      const writer = connection.writer();
      await writer.write("one, ");
      await writer.end("two");
      const bytes = connection.writer({ binary: true });
      await bytes.write(new Uint8Array([1]));
      await bytes.end(new Uint8Array([2]));
    });
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${deno.addr.port}/`);
  assert.equal(await client.receive(), "one, two");
  assert.deepEqual(await client.receive(), new Uint8Array([1, 2]));
  await client.close(1000);
  await deno.shutdown();
});
