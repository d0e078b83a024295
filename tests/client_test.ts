// Copyright 2026 the Duplex authors. MIT license.
// The client's behaviour at its edges, against scripted raw-socket servers.
import assert from "node:assert/strict";
import {
  acceptKey,
  ClosedError,
  type CompressionOptions,
  connect,
  ConnectionError,
  encodeFrame,
  FrameDecoder,
  HandshakeError,
  Opcode,
  serve,
  TimeoutError,
  upgradeWebSocket,
  WebSocket,
} from "../mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A server that accepts one connection and hands it to `script`. */
function scriptedServer(script: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const conn = await listener.accept();
    try {
      await script(conn);
    } finally {
      try {
        conn.close();
      } catch {
        // The script closed it.
      }
    }
  })();
  return {
    url: `ws://127.0.0.1:${listener.addr.port}/chat?room=1`,
    async stop() {
      listener.close();
      await done;
    },
  };
}

/** Reads an HTTP request head from `conn`. */
async function readRequest(conn: Deno.Conn): Promise<{ text: string; headers: Headers }> {
  const buffer = new Uint8Array(8192);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("client closed");
    text += decoder.decode(buffer.subarray(0, n));
  }
  const headers = new Headers();
  for (const line of text.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { text, headers };
}

/** Answers a valid 101, with optional extra header lines; returns the request. */
async function accept(conn: Deno.Conn, extra = "", accept?: string) {
  const request = await readRequest(conn);
  const value = accept ?? await acceptKey(request.headers.get("sec-websocket-key")!);
  await conn.write(encoder.encode(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${value}\r\n${extra}\r\n`,
  ));
  return request;
}

/** Writes all of `data`: a socket may take only part of it once the peer stops reading. */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
}

/**
 * Plays a well-behaved server's part in the closing handshake: waits for the
 * client's close frame, answers it unless the server closed first, and
 * returns (the caller then closes TCP, as RFC 6455 §7.1.1 asks of servers).
 */
async function finishClose(conn: Deno.Conn, answer = true): Promise<void> {
  const frames = new FrameDecoder({ role: "server" });
  const buffer = new Uint8Array(8192);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return;
    frames.push(buffer.subarray(0, n));
    for (let frame = frames.next(); frame !== undefined; frame = frames.next()) {
      if (frame.opcode !== Opcode.Close) continue;
      if (answer) await conn.write(encodeFrame(Opcode.Close, frame.payload));
      return;
    }
  }
}

/** Reads until EOF, returning everything read. */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buffer = new Uint8Array(8192);
  while (true) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch {
      break;
    }
    if (n === null) break;
    chunks.push(...buffer.subarray(0, n));
  }
  return new Uint8Array(chunks);
}

function throwsCode<E extends Error & { code: string }>(
  type: new (...args: never[]) => E,
  code: string,
) {
  return (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    assert.equal(error.code, code);
    return true;
  };
}

Deno.test("connect sends the RFC 6455 §4.1 request with the subprotocols and headers asked for", async () => {
  let request = { text: "", headers: new Headers() };
  const server = scriptedServer(async (conn) => {
    request = await accept(conn, "Sec-WebSocket-Protocol: chat\r\n");
    await finishClose(conn);
  });
  const client = await connect(server.url, {
    protocols: ["chat", "superchat"],
    headers: { authorization: "Bearer t0ken", origin: "https://example.com" },
  });
  assert.equal(client.protocol, "chat");
  assert.match(request.text, /^GET \/chat\?room=1 HTTP\/1\.1\r\n/);
  const headers = request.headers;
  assert.equal(headers.get("host"), server.url.slice(5, server.url.indexOf("/chat")));
  assert.equal(headers.get("upgrade"), "websocket");
  assert.equal(headers.get("connection"), "Upgrade");
  assert.equal(headers.get("sec-websocket-version"), "13");
  assert.match(headers.get("sec-websocket-key")!, /^[A-Za-z0-9+/]{22}==$/);
  assert.equal(headers.get("sec-websocket-protocol"), "chat, superchat");
  assert.equal(headers.get("authorization"), "Bearer t0ken");
  assert.equal(headers.get("origin"), "https://example.com");
  client.close();
  await client.closed;
  await server.stop();
});

Deno.test("connect refuses a header with CR or LF before touching the network", async () => {
  await assert.rejects(
    connect("ws://127.0.0.1:1/", { headers: { "x-evil": "a\r\nx-injected: 1" } }),
    TypeError,
  );
  await assert.rejects(
    connect("ws://127.0.0.1:1/", { headers: { "sec-websocket-key": "mine" } }),
    TypeError,
  );
  await assert.rejects(connect("ftp://127.0.0.1/"), SyntaxError);
  await assert.rejects(connect("ws://127.0.0.1/#fragment"), SyntaxError);
});

Deno.test("connect rejects with ConnectionError CONNECTION_REFUSED when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    connect(`ws://127.0.0.1:${port}/`),
    throwsCode(ConnectionError, "CONNECTION_REFUSED"),
  );
});

Deno.test("connect rejects with a HandshakeError for a wrong Sec-WebSocket-Accept", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn, "", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });
  await assert.rejects(connect(server.url), (error) => {
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.code, "INVALID_ACCEPT");
    assert.equal(error.status, 101);
    return true;
  });
  await server.stop();
});

Deno.test("connect rejects a subprotocol or an extension it did not offer", async () => {
  for (
    const [extra, code] of [
      ["Sec-WebSocket-Protocol: chat\r\n", "UNEXPECTED_PROTOCOL"],
      ["Sec-WebSocket-Extensions: permessage-deflate\r\n", "UNEXPECTED_EXTENSION"],
    ]
  ) {
    const server = scriptedServer(async (conn) => {
      await accept(conn, extra);
    });
    await assert.rejects(
      connect(server.url, { protocols: ["other"] }),
      throwsCode(HandshakeError, code!),
    );
    await server.stop();
  }
});

Deno.test("connect rejects a refusal with its status, headers and body", async () => {
  const server = scriptedServer(async (conn) => {
    await readRequest(conn);
    await conn.write(encoder.encode(
      "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-Why: origin\r\n\r\n" +
        "7\r\nnot you\r\n0\r\n\r\n",
    ));
  });
  await assert.rejects(connect(server.url), (error) => {
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.status, 403);
    assert.equal(error.headers.get("x-why"), "origin");
    assert.equal(error.body, "not you");
    return true;
  });
  await server.stop();
});

Deno.test("connect rejects a server that answers with garbage", async () => {
  const server = scriptedServer(async (conn) => {
    await readRequest(conn);
    await conn.write(encoder.encode("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
  });
  await assert.rejects(connect(server.url), (error) => {
    assert.ok(error instanceof HandshakeError);
    assert.equal(error.code, "INVALID_STATUS_LINE");
    assert.equal(error.status, 0);
    return true;
  });
  await server.stop();
});

Deno.test("connect rejects with CONNECTION_CLOSED when the server hangs up mid-handshake", async () => {
  const server = scriptedServer(async (conn) => {
    await readRequest(conn);
    await conn.write(encoder.encode("HTTP/1.1 101 Switching"));
  });
  await assert.rejects(connect(server.url), throwsCode(ConnectionError, "CONNECTION_CLOSED"));
  await server.stop();
});

Deno.test("connect times out on a server that never answers the handshake", async () => {
  const server = scriptedServer(async (conn) => {
    await readToEnd(conn); // reads the request, answers nothing
  });
  const started = performance.now();
  await assert.rejects(
    connect(server.url, { handshakeTimeout: 200 }),
    throwsCode(TimeoutError, "HANDSHAKE_TIMEOUT"),
  );
  assert.ok(performance.now() - started < 2000);
  await server.stop();
});

Deno.test("connect stops at once when its signal aborts, before or during the handshake", async () => {
  const aborted = new AbortController();
  aborted.abort(new DOMException("changed my mind", "AbortError"));
  await assert.rejects(connect("ws://127.0.0.1:9/", { signal: aborted.signal }), (error) => {
    assert.ok(error instanceof DOMException);
    assert.equal(error.message, "changed my mind");
    return true;
  });
  const server = scriptedServer(async (conn) => {
    await readToEnd(conn);
  });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(connect(server.url, { signal: controller.signal }), (error) => {
    assert.ok(error instanceof DOMException && error.name === "AbortError");
    return true;
  });
  await server.stop();
});

Deno.test("the client processes frames the server sent in the same write as its 101", async () => {
  const server = scriptedServer(async (conn) => {
    const request = await readRequest(conn);
    const head =
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Accept: ${await acceptKey(request.headers.get("sec-websocket-key")!)}\r\n\r\n`;
    const frames = [encodeFrame(Opcode.Text, "early"), encodeFrame(Opcode.Text, "bird")];
    await conn.write(new Uint8Array([...encoder.encode(head), ...frames[0]!, ...frames[1]!]));
    await finishClose(conn);
  });
  const client = await connect(server.url);
  assert.equal(await client.receive(), "early");
  assert.equal(await client.receive(), "bird");
  client.close();
  await client.closed;
  await server.stop();
});

Deno.test("large messages arriving in pieces are read whole, and a hang-up inside one is a 1006", async () => {
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
  const text = "ü".repeat(600_000);
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    // Each frame trickles in: the client's reads stop short of its end many times.
    for (const frame of [encodeFrame(Opcode.Binary, big), encodeFrame(Opcode.Text, text)]) {
      for (let offset = 0; offset < frame.length; offset += 300_000) {
        await writeAll(conn, frame.subarray(offset, offset + 300_000));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    // Then a frame announcing 1 MiB, of which only 200 KiB ever come.
    const cut = encodeFrame(Opcode.Binary, new Uint8Array(1024 * 1024));
    await writeAll(conn, cut.subarray(0, 10 + 200 * 1024));
  });
  const client = await connect(server.url);
  assert.deepEqual(await client.receive(), big);
  assert.equal(await client.receive(), text);
  await assert.rejects(client.receive(), throwsCode(ConnectionError, "CONNECTION_CLOSED"));
  const closed = await client.closed;
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  await server.stop();
});

Deno.test("a reset after the handshake ends the connection with 1006 and a ConnectionError", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await conn.write(encodeFrame(Opcode.Text, "one"));
    // Close without a close frame.
  });
  const client = await connect(server.url);
  assert.equal(await client.receive(), "one");
  await assert.rejects(client.receive(), throwsCode(ConnectionError, "CONNECTION_CLOSED"));
  const closed = await client.closed;
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  assert.ok(closed.error instanceof ConnectionError);
  await assert.rejects(client.send("late"), ClosedError);
  await server.stop();
});

Deno.test("iteration throws the error that ended the connection, after the messages that came first", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    // A valid message, then a masked frame, which a client must reject.
    await conn.write(
      new Uint8Array([
        ...encodeFrame(Opcode.Text, "ok"),
        ...encodeFrame(Opcode.Text, "bad", { mask: true }),
      ]),
    );
    await readToEnd(conn);
  });
  const client = await connect(server.url);
  const received: unknown[] = [];
  await assert.rejects(
    (async () => {
      for await (const message of client) received.push(message);
    })(),
    (error) =>
      error instanceof Error && error.name === "ProtocolError" &&
      (error as { closeCode?: number }).closeCode === 1002,
  );
  assert.deepEqual(received, ["ok"]);
  assert.equal((await client.closed).code, 1002);
  await server.stop();
});

Deno.test("iteration ends quietly after a clean close", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await conn.write(
      new Uint8Array([
        ...encodeFrame(Opcode.Text, "last words"),
        ...encodeFrame(Opcode.Close, new Uint8Array([0x03, 0xe8])),
      ]),
    );
    await finishClose(conn, false);
  });
  const client = await connect(server.url);
  const received: unknown[] = [];
  for await (const message of client) received.push(message);
  assert.deepEqual(received, ["last words"]);
  assert.deepEqual(await client.closed, {
    code: 1000,
    reason: "",
    wasClean: true,
    closedByPeer: true,
  });
  await server.stop();
});

Deno.test("receive() times out or aborts without losing later messages", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await conn.write(encodeFrame(Opcode.Text, "late"));
    await finishClose(conn);
  });
  const client = await connect(server.url);
  await assert.rejects(
    client.receive({ timeout: 20 }),
    throwsCode(TimeoutError, "RECEIVE_TIMEOUT"),
  );
  const controller = new AbortController();
  const aborted = client.receive({ signal: controller.signal });
  controller.abort(new Error("not now"));
  await assert.rejects(aborted, /not now/);
  assert.equal(await client.receive({ timeout: 2000 }), "late");
  client.close();
  await client.closed;
  await server.stop();
});

Deno.test("close() gives up on a server that never answers, after closeTimeout", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await readToEnd(conn); // never answers the close frame
  });
  const client = await connect(server.url, { closeTimeout: 100 });
  const closed = await client.close(1000);
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  assert.ok(closed.error instanceof TimeoutError && closed.error.code === "CLOSE_TIMEOUT");
  await server.stop();
});

Deno.test("with compression the client offers permessage-deflate and refuses a bad answer to it", async () => {
  const noTakeover = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  const cases: [true | CompressionOptions, string, [string, boolean][]][] = [
    // The default: takeover both ways, and the server may limit the client's window.
    [true, "permessage-deflate; client_max_window_bits", [
      ["permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", true],
      ["permessage-deflate", true],
      [noTakeover, true],
      ["permessage-deflate; client_max_window_bits", false], // a response needs the value
      ["permessage-deflate; server_max_window_bits=16", false],
      ["permessage-deflate; mystery", false],
    ]],
    // Without takeover either way, asked for.
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, clientMaxWindowBits: false },
      noTakeover,
      [
        [noTakeover, true],
        ["permessage-deflate", false], // must answer server_no_context_takeover, which was offered
        ["permessage-deflate; server_no_context_takeover; client_max_window_bits=9", false],
        ["permessage-deflate; server_no_context_takeover; mystery", false],
      ],
    ],
  ];
  for (const [compression, offer, answers] of cases) {
    for (const [answer, accepted] of answers) {
      let offered: string | null = null;
      const server = scriptedServer(async (conn) => {
        const request = await accept(conn, `Sec-WebSocket-Extensions: ${answer}\r\n`);
        offered = request.headers.get("sec-websocket-extensions");
        await readToEnd(conn);
      });
      const connecting = connect(server.url, { compression });
      if (accepted) {
        const client = await connecting;
        assert.equal(client.extensions, answer);
        client.terminate();
      } else {
        await assert.rejects(
          connecting,
          (error) => error instanceof HandshakeError && error.code === "INVALID_EXTENSIONS",
          answer,
        );
      }
      await server.stop();
      assert.equal(offered, offer, answer);
    }
  }
});

Deno.test("keepalive closes the connection to a server that stops answering pings", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await readToEnd(conn); // reads the pings, never pongs
  });
  const client = await connect(server.url, { keepalive: { pingInterval: 50, pongTimeout: 100 } });
  const closed = await client.closed;
  assert.equal(closed.code, 1006);
  assert.ok(closed.error instanceof TimeoutError && closed.error.code === "PONG_TIMEOUT");
  await server.stop();
});

Deno.test("keepalive keeps a responsive connection open", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => upgradeWebSocket(request).response,
  );
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
    keepalive: { pingInterval: 20, pongTimeout: 1_000 },
  });
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal(client.readyState, 1);
  await client.close();
  await server.shutdown();
});

Deno.test("keepalive on a shared clock ends only the connections whose peer went silent", async () => {
  const silentPeer = async (conn: Deno.Conn) => {
    await accept(conn);
    await readToEnd(conn); // reads the pings, never pongs
  };
  const silent = [scriptedServer(silentPeer), scriptedServer(silentPeer)];
  const live = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => upgradeWebSocket(request).response,
  );
  // Generous pong timeouts: a responsive peer on a loaded machine must not look dead.
  const keepalive = { pingInterval: 40, pongTimeout: 800 };
  const other = { pingInterval: 30, pongTimeout: 700 };
  // Two connections on one clock period, one on another; the silent ones leave mid-tick.
  const dead = await Promise.all([
    connect(silent[0]!.url, { keepalive }),
    connect(silent[1]!.url, { keepalive: other }),
  ]);
  const alive = await Promise.all([
    connect(`ws://127.0.0.1:${live.addr.port}/`, { keepalive }),
    connect(`ws://127.0.0.1:${live.addr.port}/`, { keepalive: other }),
  ]);
  for (const client of dead) {
    const closed = await client.closed;
    assert.ok(closed.error instanceof TimeoutError && closed.error.code === "PONG_TIMEOUT");
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const client of alive) {
    assert.equal(client.readyState, 1);
    assert.ok((await client.ping()) >= 0);
    await client.close();
  }
  await live.shutdown();
  for (const server of silent) await server.stop();
});

Deno.test("a client that does not read stops reading the socket (receive backpressure)", async () => {
  const chunk = encodeFrame(Opcode.Binary, new Uint8Array(64 * 1024));
  let written = 0;
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    try {
      for (let i = 0; i < 1024; i++) {
        await writeAll(conn, chunk);
        written += chunk.length;
      }
    } catch {
      // The client closed.
    }
  });
  const client = await connect(server.url, { receiveHighWaterMark: 256 * 1024 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  // 64 MiB were offered; only the queue limit and the kernel's buffers were taken.
  assert.ok(
    written < 24 * 1024 * 1024,
    `the server wrote ${written} bytes to a client that reads nothing`,
  );
  // Reading drains the queue and lets the rest flow.
  for (let i = 0; i < 64; i++) {
    assert.equal(((await client.receive()) as Uint8Array).length, 64 * 1024);
  }
  client.close();
  await client.closed;
  await server.stop();
});

Deno.test("close() while reading waits for the application reads on to the peer's close frame", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.opened.then(async () => {
      // Far more than the client's receive high-water mark, then an answer to its close.
      for (let i = 0; i < 32; i++) await connection.send(new Uint8Array(64 * 1024));
    }).catch(() => {});
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`, {
    receiveHighWaterMark: 128 * 1024,
    closeTimeout: 3_000,
  });
  // Let the server's messages fill the queue past the mark: reading pauses.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const closed = await client.close(1000, "done");
  // A close frame read from the peer: clean, not a 1006 when the close timer fires.
  assert.ok(client.bufferedAmount === 0);
  assert.equal(closed.wasClean, true);
  assert.equal(closed.code, 1000);
  await server.shutdown();
});

Deno.test("send() resolves once written past the high-water mark, at once under it", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => upgradeWebSocket(request).response,
  );
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`, { highWaterMark: 1024 });
  const small = client.send("tiny");
  assert.ok(client.bufferedAmount > 0);
  await small;
  const big = client.send(new Uint8Array(4096));
  assert.ok(client.bufferedAmount >= 4096);
  await big;
  assert.equal(client.bufferedAmount, 0);
  await client.close();
  await server.shutdown();
});

Deno.test("ping() rejects a payload over 125 bytes, and after closing", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => upgradeWebSocket(request).response,
  );
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  assert.throws(() => client.ping(new Uint8Array(126)), RangeError);
  assert.ok((await client.ping(new Uint8Array(125))) >= 0);
  await client.close();
  await assert.rejects(client.ping(), ClosedError);
  await server.shutdown();
});

Deno.test("readable and writable pipe messages with backpressure", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.readable.pipeTo(connection.writable).catch(() => {});
    return response;
  });
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`);
  const messages = Array.from(
    { length: 100 },
    (_, i) => (i % 2 ? `text ${i}` : new Uint8Array([i])),
  );
  const writer = client.writable.getWriter();
  for (const message of messages) await writer.write(message);
  writer.releaseLock();
  const received: unknown[] = [];
  const reader = client.readable.getReader();
  while (received.length < messages.length) received.push((await reader.read()).value);
  reader.releaseLock();
  assert.deepEqual(received, messages);
  await client.close();
  await server.shutdown();
});

Deno.test("connect works over a transport you opened, such as a Unix socket", async () => {
  const path = await Deno.makeTempFile({ suffix: ".sock" });
  await Deno.remove(path);
  const listener = Deno.listen({ transport: "unix", path });
  const accepted = (async () => {
    const { acceptWebSocket } = await import("../server.ts");
    const connection = await acceptWebSocket(await listener.accept());
    for await (const message of connection) await connection.send(`unix: ${message}`);
  })();
  const transport = await Deno.connect({ transport: "unix", path });
  const client = await connect("ws://localhost/", { transport });
  await client.send("hi");
  assert.equal(await client.receive(), "unix: hi");
  await client.close();
  await accepted;
  listener.close();
  await Deno.remove(path).catch(() => {}); // Deno removes the socket file itself
});

Deno.test("WebSocket behaves as the WHATWG class: events, binaryType, errors", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  assert.throws(
    () => new WebSocket("http://[::1"),
    (error) => error instanceof DOMException && error.name === "SyntaxError",
  );
  const socket = new WebSocket(url);
  assert.equal(socket.readyState, WebSocket.CONNECTING);
  assert.equal(socket.binaryType, "blob");
  assert.throws(
    () => socket.send("too early"),
    (error) => error instanceof DOMException && error.name === "InvalidStateError",
  );
  await new Promise((resolve) => socket.onopen = resolve);
  assert.equal(socket.readyState, WebSocket.OPEN);
  // Buffer every message: several can arrive in one read and be dispatched back to back.
  const inbox: MessageEvent[] = [];
  const waiting: ((event: MessageEvent) => void)[] = [];
  socket.addEventListener("message", (event) => {
    const take = waiting.shift();
    if (take) take(event as MessageEvent);
    else inbox.push(event as MessageEvent);
  });
  const next = () =>
    new Promise<MessageEvent>((resolve) => {
      const event = inbox.shift();
      if (event) resolve(event);
      else waiting.push(resolve);
    });
  socket.send("text");
  const first = await next();
  assert.equal(first.data, "text");
  // WHATWG: a message's origin is the serialization of the WebSocket URL's origin.
  assert.equal(first.origin, `ws://127.0.0.1:${server.addr.port}`);
  assert.equal(socket.onmessage, null);
  socket.send(new Uint8Array([1, 2, 3]));
  const blob = (await next()).data as Blob;
  assert.ok(blob instanceof Blob);
  assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), new Uint8Array([1, 2, 3]));
  socket.binaryType = "arraybuffer";
  // A Blob, then a string: they arrive in the order sent.
  socket.send(new Blob([new Uint8Array([4, 5])]));
  socket.send("after the blob");
  assert.deepEqual(new Uint8Array((await next()).data), new Uint8Array([4, 5]));
  assert.equal((await next()).data, "after the blob");
  assert.throws(
    () => socket.close(1001),
    (error) => error instanceof DOMException && error.name === "InvalidAccessError",
  );
  assert.throws(
    () => socket.close(4000, "x".repeat(124)),
    (error) => error instanceof DOMException && error.name === "SyntaxError",
  );
  socket.close(4000, "bye");
  assert.equal(socket.readyState, WebSocket.CLOSING);
  socket.send("discarded");
  assert.equal(socket.bufferedAmount >= 9, true);
  const close = await new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  assert.deepEqual([close.code, close.wasClean], [4000, true]);
  assert.equal(socket.readyState, WebSocket.CLOSED);
  await server.shutdown();
});

Deno.test("WebSocket reports a refused handshake as error then close 1006, with the typed error", async () => {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("nope", { status: 404 }),
  );
  const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  const errored = new Promise<ErrorEvent>((resolve) =>
    socket.onerror = (event) => resolve(event as ErrorEvent)
  );
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  const error = await errored;
  assert.ok(error.error instanceof HandshakeError);
  assert.equal(error.error.status, 404);
  assert.equal(error.error.body, "nope");
  const close = await closed;
  assert.deepEqual([close.code, close.wasClean], [1006, false]);
  await server.shutdown();
});

Deno.test("sends issued in the same tick go out in one write, each frame header and payload together", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  let writes = 0;
  // The client writes through this transport: count its writes.
  const counted = new Proxy(tcp, {
    get(target, property) {
      if (property === "write") {
        return (bytes: Uint8Array) => {
          writes++;
          return target.write(bytes);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const client = await connect(`ws://127.0.0.1:${server.addr.port}/`, { transport: counted });
  writes = 0;
  for (let i = 0; i < 100; i++) client.send(`message ${i}`);
  client.send(new Uint8Array(1000));
  for (let i = 0; i < 100; i++) assert.equal(await client.receive(), `message ${i}`);
  assert.equal(((await client.receive()) as Uint8Array).length, 1000);
  assert.equal(writes, 1, "101 frames should have taken one write");
  await client.close();
  await server.shutdown();
});

Deno.test("connect() sends User-Agent duplex/VERSION (Deno/VERSION); userAgent replaces or removes it, headers win", async () => {
  const { VERSION } = await import("../_version.ts");
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, config.version, "_version.ts agrees with deno.json");
  const { testServer } = await import("../testing.ts");
  const seen: (string | null)[] = [];
  await using server = testServer((request) => {
    seen.push(request.headers.get("user-agent"));
    return upgradeWebSocket(request).response;
  });
  for (
    const options of [
      {},
      { userAgent: "my-app/2.1" },
      { userAgent: false },
      { userAgent: "ignored", headers: { "user-agent": "from-headers/1" } },
    ]
  ) {
    const client = await server.connect("/", options);
    await client.close(1000);
  }
  assert.deepEqual(seen, [
    `duplex/${VERSION} (Deno/${Deno.version.deno})`,
    "my-app/2.1",
    null,
    "from-headers/1",
  ]);
  for (const userAgent of ["bad\nvalue", 5]) {
    await assert.rejects(
      connect("ws://127.0.0.1:9/", { userAgent: userAgent as string }),
      TypeError,
    );
  }
});
