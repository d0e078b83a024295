// Copyright 2026 the Duplex authors. MIT license.
// Regressions from the reliability review (issue 12), over real loopback
// sockets against scripted raw peers: every promise settles, close replies
// wait for the replies before them, a refused handshake does not hold the
// client, and errors carry the right code.
import assert from "node:assert/strict";
import {
  acceptKey,
  connect,
  type ConnectionCloseInfo,
  ConnectionError,
  HandshakeError,
  serve,
  TimeoutError,
  upgradeWebSocket,
  type WebSocketConnection,
} from "../mod.ts";
import { encodeClosePayload, encodeFrame, FrameDecoder, parseClosePayload } from "../codec/mod.ts";
import { concat as concatBytes } from "./_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

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
    url: `ws://127.0.0.1:${listener.addr.port}/`,
    async stop() {
      listener.close();
      await done;
    },
  };
}

/** Reads a request head; answers 101. */
async function accept(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(8192);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("client closed");
    text += decoder.decode(buffer.subarray(0, n));
  }
  const key = /sec-websocket-key: *(\S+)/i.exec(text)![1]!;
  await conn.write(encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
  ));
}

/** Whether `promise` is still pending after the event loop has had a few turns. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol("pending");
  const timer = new Promise((resolve) => setTimeout(() => resolve(marker), 20));
  return await Promise.race([promise.then(() => "settled", () => "settled"), timer]) === marker;
}

/** Sends 256 KiB messages to a peer that does not read until one send() is held back. */
async function sendUntilHeld(client: WebSocketConnection): Promise<{ held: Promise<void> }> {
  const chunk = new Uint8Array(256 * 1024);
  for (let i = 0; i < 200; i++) {
    const sent = client.send(chunk);
    sent.catch(() => {});
    if (await pending(sent)) return { held: sent };
  }
  throw new Error("the peer's socket never filled");
}

for (
  const [name, end, expected] of [
    [
      "terminate()",
      (client: WebSocketConnection) => client.terminate(),
      (error: unknown) => error instanceof ConnectionError && error.code === "TERMINATED",
    ],
    [
      "the close deadline",
      (client: WebSocketConnection) => void client.close(1000),
      (error: unknown) => error instanceof TimeoutError && error.code === "CLOSE_TIMEOUT",
    ],
  ] as const
) {
  Deno.test(`a send() held by backpressure settles when ${name} ends the connection`, async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    const server = scriptedServer(async (conn) => {
      await accept(conn);
      // Never read: the client's writes stall once the socket buffers fill.
      await released;
    });
    const client = await connect(server.url, { closeTimeout: 100 });
    const { held } = await sendUntilHeld(client);
    end(client);
    await assert.rejects(held, expected);
    // Later sends reject too, and closed settles.
    await assert.rejects(client.send("late"), Error);
    const info = await client.closed;
    assert.equal(info.code, 1006);
    release();
    await server.stop();
  });
}

Deno.test("a send() held by backpressure settles when the peer drops the connection", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // An abortive close: unread data makes the kernel send a reset.
    conn.close();
  });
  const client = await connect(server.url);
  const sends: Promise<void>[] = [];
  const chunk = new Uint8Array(256 * 1024);
  for (let i = 0; i < 64; i++) {
    const sent = client.send(chunk);
    sent.catch(() => {});
    sends.push(sent);
  }
  const results = await Promise.allSettled(sends);
  assert.ok(results.some((result) => result.status === "rejected"), "no send failed");
  for (const result of results) {
    if (result.status === "rejected") assert.ok(result.reason instanceof Error);
  }
  const info = await client.closed;
  assert.equal(info.code, 1006);
  assert.ok(info.error instanceof ConnectionError);
  await server.stop();
});

Deno.test("a peer that floods pings and reads nothing is owed a few pongs, not one per ping", async () => {
  const BURSTS = 100;
  // Server frames (unmasked): 500 pings with 125-byte payloads a burst,
  // about 6 MiB in all, then a text message "end".
  const ping = new Uint8Array(127);
  ping[0] = 0x89;
  ping[1] = 125;
  const burst = new Uint8Array(ping.length * 500);
  for (let i = 0; i < 500; i++) burst.set(ping, i * ping.length);
  const writeAll = async (conn: Deno.Conn, bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  };
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    // Never read the pongs.
    for (let i = 0; i < BURSTS; i++) await writeAll(conn, burst);
    await writeAll(conn, new Uint8Array([0x81, 3, ...encoder.encode("end")]));
    await released;
  });
  const client = await connect(server.url, { closeTimeout: 100 });
  let most = 0;
  client.listen({
    ping() {
      most = Math.max(most, client.bufferedAmount);
    },
  });
  assert.equal(await client.receive(), "end");
  // Without coalescing the client would hold about 50,000 pongs (6.5 MB)
  // less what the socket buffers took. With it: the batch the stalled write
  // holds, and at most 16 pongs of 131 bytes.
  assert.ok(most > 0, "no pong was ever owed");
  assert.ok(most < 256 * 1024, `the client held ${most} bytes of pongs`);
  client.terminate();
  await client.closed;
  release();
  await server.stop();
});

Deno.test("connect() to a host that does not resolve fails with HOST_NOT_FOUND", async () => {
  // .invalid never resolves (RFC 2606 §2); the lookup fails without a network.
  await assert.rejects(
    connect("ws://no-such-host.invalid/", { handshakeTimeout: 5_000 }),
    (error: unknown) =>
      error instanceof ConnectionError && error.code === "HOST_NOT_FOUND" &&
      error.message.includes("the host was not found"),
  );
});

Deno.test("connect() to port 0 is a SyntaxError at the call, for ws: and wss:", async () => {
  for (const url of ["ws://127.0.0.1:0/", "wss://127.0.0.1:0/"]) {
    await assert.rejects(
      connect(url),
      (error: unknown) => error instanceof SyntaxError && /port 0/.test(error.message),
      url,
    );
  }
});

Deno.test("terminate() reports a close this end made: 1006, not clean, not by the peer", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    // Wait for the client to go.
    const buffer = new Uint8Array(64);
    while (await conn.read(buffer).catch(() => null) !== null);
  });
  const client = await connect(server.url);
  client.terminate();
  assert.deepEqual(
    { ...(await client.closed), error: undefined },
    { code: 1006, reason: "", wasClean: false, closedByPeer: false, error: undefined },
  );
  await server.stop();
});

for (
  const [name, answer, body] of [
    [
      "a body delimited by the connection's end, while the server keeps it open",
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nnot a websocket server",
      "not a websocket server",
    ],
    [
      "a Content-Length body that never arrives whole",
      "HTTP/1.1 403 Forbidden\r\nContent-Length: 100000\r\n\r\nno entry",
      "no entry",
    ],
    [
      "a chunked body that never ends",
      "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n",
      "busy",
    ],
  ] as const
) {
  Deno.test(`a refused handshake fails at once with ${name}`, async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    const server = scriptedServer(async (conn) => {
      const buffer = new Uint8Array(8192);
      await conn.read(buffer);
      await conn.write(encoder.encode(answer));
      // Holds the connection open until the test ends.
      await released;
    });
    // A handshake deadline far off: the client must not wait for it.
    const error = await connect(server.url, { handshakeTimeout: 60_000 }).then(
      () => assert.fail("the handshake succeeded"),
      (error: unknown) => error,
    );
    release();
    assert.ok(error instanceof HandshakeError, `got ${error}`);
    assert.equal(error.status, Number(answer.slice(9, 12)));
    assert.equal(error.body, body);
    await server.stop();
  });
}

/** Reads frames from `conn` until a close frame or the end: their opcodes and text payloads. */
async function framesUntilClose(
  conn: Deno.Conn,
  role: "client" | "server",
): Promise<[number, string][]> {
  const frames: [number, string][] = [];
  const decoder = new FrameDecoder({ role });
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return frames;
    decoder.push(buffer.subarray(0, n));
    for (let frame; (frame = decoder.next()) !== undefined;) {
      frames.push([
        frame.opcode,
        frame.opcode === 0x8 ? String(parseClosePayload(frame.payload).code) : text(frame.payload),
      ]);
      if (frame.opcode === 0x8) return frames;
    }
  }
}

Deno.test("serve(): the echo of a message that came in one write with the close goes out before the close reply (Autobahn 7.1.1)", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    (async () => {
      for await (const message of connection) await connection.send(message);
    })().catch(() => {});
    return response;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  // The 101's head alone, byte by byte: nothing follows it yet.
  let head = "";
  const one = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    assert.notEqual(await conn.read(one), null);
    head += decoder.decode(one);
  }
  assert.match(head, /^HTTP\/1\.1 101 /);
  const mask = new Uint8Array([1, 2, 3, 4]);
  await conn.write(concatBytes(
    encodeFrame(0x1, "Hello World!", { mask }),
    encodeFrame(0x8, encodeClosePayload(1000), { mask }),
  ));
  const frames = await framesUntilClose(conn, "client");
  assert.deepEqual(frames, [[0x1, "Hello World!"], [0x8, "1000"]]);
  conn.close();
  await server.shutdown();
});

Deno.test("connect(): the echo of a message that came in one write with the close goes out before the close reply", async () => {
  const server = scriptedServer(async (conn) => {
    await accept(conn);
    await conn.write(concatBytes(
      encodeFrame(0x1, "Hello World!"),
      encodeFrame(0x8, encodeClosePayload(1000, "bye")),
    ));
    const frames = await framesUntilClose(conn, "server");
    assert.deepEqual(frames, [[0x1, "Hello World!"], [0x8, "1000"]]);
  });
  const client = await connect(server.url);
  for await (const message of client) await client.send(message);
  assert.deepEqual((await client.closed).code, 1000);
  await server.stop();
});

Deno.test("a connection whose open fails (a clock that throws) ends with 1006, and shutdown() does not wait on it", async () => {
  const broken = {
    now: () => 0,
    setTimeout: (): number => {
      throw new Error("the clock broke");
    },
    clearTimeout: () => {},
  };
  const ended = Promise.withResolvers<ConnectionCloseInfo>();
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    // Keepalive makes open() start a timer on the clock.
    const { connection, response } = upgradeWebSocket(request, {
      clock: broken,
      keepalive: { pingInterval: 1_000 },
    });
    connection.closed.then(ended.resolve);
    return response;
  });
  // Bounded: before the fix, both waits below never ended.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const within = <T>(promise: Promise<T>) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("still waiting after 5 s")), 5_000);
      }),
    ]).finally(() => clearTimeout(timer));
  const client: WebSocketConnection | Error = await connect(`ws://127.0.0.1:${server.addr.port}/`)
    .catch((error) => error);
  const info = await within(ended.promise);
  assert.equal(info.code, 1006);
  assert.match(String(info.error?.message), /the clock broke/);
  if (!(client instanceof Error)) assert.equal((await within(client.closed)).code, 1006);
  await within(server.shutdown());
});
