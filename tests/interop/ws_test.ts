// Copyright 2026 the Duplex authors. MIT license.
// Interop with npm:ws, which we did not write, run under Deno: Duplex's
// client against a ws WebSocketServer, and a ws client against Duplex's serve().
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { Buffer } from "node:buffer";
import * as ws from "npm:ws@8.18.3";
import {
  connect,
  HandshakeError,
  Hub,
  prepareMessage,
  serve,
  type UpgradeOptions,
  upgradeWebSocket,
} from "../../mod.ts";
import {
  assertEchoes,
  assertMixedEchoes,
  binaryOf,
  mixedMessage,
  sameBytes,
  sameMessage,
  SIZES,
  textOf,
} from "./_util.ts";

// The part of ws's API these tests use (ws ships no types, and @types/ws
// would bring Node's global types into every test).
type Listener = (...args: never[]) => void;
interface WsSocket {
  readonly protocol: string;
  readonly extensions: string;
  send(data: string | Uint8Array, options?: { binary?: boolean; fin?: boolean }): void;
  ping(data?: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: string, listener: Listener): WsSocket;
  once(event: string, listener: Listener): WsSocket;
}
interface WsServerInstance {
  on(event: string, listener: Listener): WsServerInstance;
  once(event: string, listener: Listener): WsServerInstance;
  address(): { port: number };
  close(callback: () => void): void;
}
const { WebSocket: WsClient, WebSocketServer } = ws as unknown as {
  WebSocket: new (url: string, protocols?: string[], options?: Record<string, unknown>) => WsSocket;
  WebSocketServer: new (options: Record<string, unknown>) => WsServerInstance;
};

interface WsServer {
  url: string;
  seen: {
    headers?: IncomingMessage["headers"];
    extensions?: string;
    close?: { code: number; reason: string };
    pongs: string[];
  };
  closed: Promise<{ code: number; reason: string }>;
  stop(): Promise<void>;
}

/** A ws echo server with a few scripted commands. */
async function wsServer(options: Record<string, unknown> = {}): Promise<WsServer> {
  const closed = Promise.withResolvers<{ code: number; reason: string }>();
  const seen: WsServer["seen"] = { pongs: [] };
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (protocols: Set<string>) => (protocols.has("chat.v2") ? "chat.v2" : false),
    verifyClient: (
      info: { req: IncomingMessage },
      done: (
        ok: boolean,
        code?: number,
        message?: string,
        headers?: Record<string, string>,
      ) => void,
    ) => {
      if (info.req.headers.authorization === "Bearer wrong") {
        done(false, 401, "bad token", { "www-authenticate": "Bearer" });
      } else done(true);
    },
    ...options,
  });
  await new Promise((resolve) => wss.once("listening", resolve));
  wss.on("connection", (socket: WsSocket, request: IncomingMessage) => {
    seen.headers = request.headers;
    seen.extensions = socket.extensions;
    socket.on("pong", (data: Buffer) => seen.pongs.push(data.toString()));
    socket.on(
      "close",
      (code: number, reason: Buffer) => closed.resolve({ code, reason: reason.toString() }),
    );
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? "" : data.toString();
      if (text === "fragments please") {
        // Three fragments of one text message, then one of binary.
        socket.send("Hel", { fin: false });
        socket.send("lo, ", { fin: false });
        socket.send("world", { fin: true });
        socket.send(new Uint8Array([1, 2]), { binary: true, fin: false });
        socket.send(new Uint8Array([3]), { binary: true, fin: true });
      } else if (text === "ping me") {
        socket.ping("from ws");
      } else if (text === "close 4001") {
        socket.close(4001, "ws says bye");
      } else {
        socket.send(data, { binary: isBinary });
      }
    });
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    seen,
    closed: closed.promise,
    stop: () => new Promise((resolve) => wss.close(() => resolve())),
  };
}

Deno.test("Duplex client echoes text and binary of 0 B to 16 MiB through a ws server", async () => {
  const server = await wsServer();
  const client = await connect(server.url);
  await assertEchoes(client, SIZES);
  await client.close(1000);
  await server.closed;
  await server.stop();
});

Deno.test("Duplex client reassembles fragmented messages a ws server sends", async () => {
  const server = await wsServer();
  const client = await connect(server.url);
  await client.send("fragments please");
  assert.equal(await client.receive(), "Hello, world");
  assert.deepEqual(await client.receive(), new Uint8Array([1, 2, 3]));
  await client.close();
  await server.closed;
  await server.stop();
});

Deno.test("pings cross between Duplex's client and a ws server both ways", async () => {
  const server = await wsServer();
  const client = await connect(server.url);
  const pinged = Promise.withResolvers<Uint8Array>();
  client.listen({ ping: (data) => pinged.resolve(data) });
  // Duplex pings ws: ws answers, and the round trip is measured.
  const rtt = await client.ping("from duplex");
  assert.ok(rtt >= 0);
  // ws pings Duplex: Duplex answers automatically.
  client.listen({ ping: (data) => pinged.resolve(data) });
  await client.send("ping me");
  assert.equal(new TextDecoder().decode(await pinged.promise), "from ws");
  const deadline = Date.now() + 2000;
  while (server.seen.pongs.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(server.seen.pongs, ["from ws"]);
  await client.close();
  await server.closed;
  await server.stop();
});

Deno.test("close codes cross between Duplex's client and a ws server both ways", async () => {
  const first = await wsServer();
  const client = await connect(first.url);
  assert.deepEqual(await client.close(4000, "duplex says bye"), {
    code: 4000,
    reason: "duplex says bye", // ws echoes the reason
    wasClean: true,
    closedByPeer: false,
  });
  assert.deepEqual(await first.closed, { code: 4000, reason: "duplex says bye" });
  await first.stop();

  const second = await wsServer();
  const other = await connect(second.url);
  await other.send("close 4001");
  assert.deepEqual(await other.closed, {
    code: 4001,
    reason: "ws says bye",
    wasClean: true,
    closedByPeer: true,
  });
  // Duplex echoes the reason, as ws does.
  assert.deepEqual(await second.closed, { code: 4001, reason: "ws says bye" });
  await second.stop();
});

Deno.test("Duplex client negotiates a subprotocol with ws and sends its custom headers", async () => {
  const server = await wsServer();
  const client = await connect(server.url, {
    protocols: ["chat.v1", "chat.v2"],
    headers: { authorization: "Bearer t0ken", "x-trace": "abc" },
  });
  assert.equal(client.protocol, "chat.v2");
  assert.equal(server.seen.headers?.authorization, "Bearer t0ken");
  assert.equal(server.seen.headers?.["x-trace"], "abc");
  await client.close();
  await server.closed;
  await server.stop();
});

Deno.test("Duplex client surfaces ws's 401 refusal as a HandshakeError with status, headers and body", async () => {
  const server = await wsServer();
  await assert.rejects(
    connect(server.url, { headers: { authorization: "Bearer wrong" } }),
    (error) => {
      assert.ok(error instanceof HandshakeError);
      assert.equal(error.status, 401);
      assert.equal(error.headers.get("www-authenticate"), "Bearer");
      assert.equal(error.body, "bad token");
      return true;
    },
  );
  await server.stop();
});

/** A Duplex echo server for ws clients. */
function duplexServer(options: UpgradeOptions = {}) {
  const closes: { code: number; reason: string }[] = [];
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request, {
      protocol: (offered) => offered.find((protocol) => protocol.startsWith("chat.")),
      headers: { "set-cookie": "session=abc; HttpOnly", "x-server": "duplex" },
      allowedOrigins: ["https://good.example"],
      ...options,
    });
    (async () => {
      for await (const message of connection) {
        if (message === "close 4002") await connection.close(4002, "duplex says bye");
        else if (message === "ping me") {
          await connection.send(`rtt ${await connection.ping("from duplex")}`);
        } else await connection.send(message);
      }
    })().catch(() => {});
    connection.closed.then(({ code, reason }) => closes.push({ code, reason }));
    return response;
  });
  return { server, closes, url: `ws://127.0.0.1:${server.addr.port}/` };
}

function wsOpen(url: string, protocols?: string[], options?: Record<string, unknown>) {
  const ws = new WsClient(url, protocols, options);
  const upgrade = new Promise<IncomingMessage>((resolve) => ws.once("upgrade", resolve));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
  );
  const messages: { data: Buffer; isBinary: boolean }[] = [];
  const waiting: ((message: { data: Buffer; isBinary: boolean }) => void)[] = [];
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    const message = { data, isBinary };
    const next = waiting.shift();
    if (next) next(message);
    else messages.push(message);
  });
  const receive = () =>
    new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => {
      const message = messages.shift();
      if (message) resolve(message);
      else waiting.push(resolve);
    });
  return { ws, upgrade, opened, closed, receive };
}

/** Sends text and binary of each size from a ws client and checks the echoes, with their types. */
async function wsEchoes(client: ReturnType<typeof wsOpen>, sizes: number[]): Promise<void> {
  for (const size of sizes) {
    const text = textOf(size);
    client.ws.send(text);
    const echoedText = await client.receive();
    assert.equal(echoedText.isBinary, false);
    assert.equal(echoedText.data.toString(), text, `text of ${size} bytes`);
    const bytes = binaryOf(size);
    client.ws.send(bytes, { binary: true });
    const echoed = await client.receive();
    assert.equal(echoed.isBinary, true);
    assert.ok(sameBytes(new Uint8Array(echoed.data), bytes), `binary of ${size} bytes`);
  }
}

Deno.test("a ws client echoes text and binary of 0 B to 16 MiB through Duplex's server", async () => {
  const { server, url } = duplexServer();
  const client = wsOpen(url);
  await client.opened;
  await wsEchoes(client, SIZES);
  client.ws.close(1000);
  await client.closed;
  await server.shutdown();
});

Deno.test("Duplex's server reassembles fragmented messages from a ws client", async () => {
  const { server, url } = duplexServer();
  const client = wsOpen(url);
  await client.opened;
  client.ws.send("Hel", { fin: false });
  client.ws.send("lo", { fin: true });
  client.ws.send(new Uint8Array([9, 8]), { binary: true, fin: false });
  client.ws.send(new Uint8Array([7]), { binary: true, fin: true });
  assert.equal((await client.receive()).data.toString(), "Hello");
  assert.deepEqual(new Uint8Array((await client.receive()).data), new Uint8Array([9, 8, 7]));
  client.ws.close();
  await client.closed;
  await server.shutdown();
});

Deno.test("pings cross between a ws client and Duplex's server both ways", async () => {
  const { server, url } = duplexServer();
  const client = wsOpen(url);
  await client.opened;
  const pong = new Promise<Buffer>((resolve) => client.ws.once("pong", resolve));
  client.ws.ping("from ws");
  assert.equal((await pong).toString(), "from ws");
  const ping = new Promise<Buffer>((resolve) => client.ws.once("ping", resolve));
  client.ws.send("ping me");
  assert.equal((await ping).toString(), "from duplex");
  assert.match((await client.receive()).data.toString(), /^rtt \d+(\.\d+)?$/);
  client.ws.close();
  await client.closed;
  await server.shutdown();
});

Deno.test("close codes cross between a ws client and Duplex's server both ways", async () => {
  const { server, closes, url } = duplexServer();
  const first = wsOpen(url);
  await first.opened;
  first.ws.close(4003, "ws says bye");
  assert.deepEqual(await first.closed, { code: 4003, reason: "ws says bye" });
  const second = wsOpen(url);
  await second.opened;
  second.ws.send("close 4002");
  assert.deepEqual(await second.closed, { code: 4002, reason: "duplex says bye" });
  await server.shutdown();
  assert.deepEqual(closes.sort((a, b) => a.code - b.code), [
    { code: 4002, reason: "duplex says bye" },
    { code: 4003, reason: "ws says bye" },
  ]);
});

Deno.test("a ws client gets Duplex's subprotocol choice and 101 response headers", async () => {
  const { server, url } = duplexServer();
  const client = wsOpen(url, ["mqtt", "chat.v3"]);
  const response = await client.upgrade;
  await client.opened;
  assert.equal(client.ws.protocol, "chat.v3");
  assert.deepEqual(response.headers["set-cookie"], ["session=abc; HttpOnly"]);
  assert.equal(response.headers["x-server"], "duplex");
  client.ws.close();
  await client.closed;
  await server.shutdown();
});

Deno.test("Duplex's server refuses a ws client from an origin it does not allow with 403", async () => {
  const { server, url } = duplexServer();
  const ws = new WsClient(url, [], { origin: "https://evil.example" });
  ws.on("error", () => {}); // terminate() during the handshake reports one
  const status = await new Promise<number>((resolve) => {
    ws.once("unexpected-response", (_request: unknown, response: IncomingMessage) => {
      resolve(response.statusCode ?? 0);
      response.resume();
      ws.terminate();
    });
  });
  assert.equal(status, 403);
  await new Promise((resolve) => ws.once("close", resolve));
  await server.shutdown();
});

// permessage-deflate (RFC 7692): ws compresses with its own zlib binding.
const DEFLATE_SIZES = [0, 1, 1023, 1024, 64 * 1024, 1024 * 1024];

Deno.test("Duplex client and a ws server agree on permessage-deflate and echo compressed messages", async () => {
  const server = await wsServer({ perMessageDeflate: { threshold: 0 } });
  const client = await connect(server.url, { compression: { threshold: 0 } });
  // ws takes Duplex's offer as it is: takeover both ways, and chooses no client window.
  assert.equal(client.extensions, "permessage-deflate");
  await assertEchoes(client, DEFLATE_SIZES);
  assert.equal(server.seen.extensions, "permessage-deflate");
  await client.close(1000);
  await server.closed;
  await server.stop();
});

Deno.test("a ws client's default permessage-deflate offer is accepted by Duplex's server, with takeover", async () => {
  const { server, url } = duplexServer({ compression: { threshold: 0 } });
  const client = wsOpen(url, undefined, { perMessageDeflate: { threshold: 0 } });
  await client.opened;
  const agreed = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12";
  assert.equal((await client.upgrade).headers["sec-websocket-extensions"], agreed);
  assert.equal(client.ws.extensions, "permessage-deflate"); // ws states the names only
  await wsEchoes(client, DEFLATE_SIZES);
  client.ws.close(1000);
  await client.closed;
  await server.shutdown();
});

/** Sends `count` mixed messages from a ws client, `window` in flight, and checks the echoes. */
async function wsMixedEchoes(
  client: ReturnType<typeof wsOpen>,
  count: number,
  window = 16,
): Promise<void> {
  const send = (i: number) => {
    const message = mixedMessage(i);
    client.ws.send(message, { binary: typeof message !== "string" });
  };
  let sent = 0;
  for (; sent < Math.min(window, count); sent++) send(sent);
  for (let received = 0; received < count; received++) {
    const echoed = await client.receive();
    const expected = mixedMessage(received);
    const message = echoed.isBinary ? new Uint8Array(echoed.data) : echoed.data.toString();
    assert.ok(sameMessage(message, expected), `message ${received} came back changed`);
    if (sent < count) send(sent++);
  }
}

// ws's permessage-deflate settings, each against Duplex as client and as
// server: what was agreed, as both sides state it, and a run of mixed
// messages echoed byte for byte (with takeover, one message inflated in
// the wrong window corrupts every later one).
const WS_SETTINGS: [string, Record<string, unknown>, string, string, number][] = [
  // [name, ws options, agreed with a Duplex client, agreed with a Duplex server, messages]
  [
    "defaults (takeover both ways)",
    {},
    "permessage-deflate",
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    10_000,
  ],
  [
    "serverNoContextTakeover",
    { serverNoContextTakeover: true },
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
    2_000,
  ],
  [
    "clientNoContextTakeover",
    { clientNoContextTakeover: true },
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
    2_000,
  ],
  [
    "serverMaxWindowBits 10",
    { serverMaxWindowBits: 10 },
    "permessage-deflate; server_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
    2_000,
  ],
  [
    "clientMaxWindowBits 9",
    { clientMaxWindowBits: 9 },
    "permessage-deflate; client_max_window_bits=9",
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
    2_000,
  ],
];

for (const [name, options, withClient, withServer, count] of WS_SETTINGS) {
  Deno.test(`permessage-deflate with a ws server, ws ${name}: ${count} mixed messages echo byte for byte`, async () => {
    const server = await wsServer({ perMessageDeflate: { threshold: 0, ...options } });
    const client = await connect(server.url, { compression: { threshold: 0 } });
    // As ws answered it; ws itself states the names only.
    assert.equal(client.extensions, withClient);
    assert.equal(server.seen.extensions, "permessage-deflate");
    await assertMixedEchoes(client, count);
    await client.close(1000);
    await server.closed;
    await server.stop();
  });

  Deno.test(`permessage-deflate with a ws client, ws ${name}: ${count} mixed messages echo byte for byte`, async () => {
    const { server, url } = duplexServer({ compression: { threshold: 0 } });
    const client = wsOpen(url, undefined, { perMessageDeflate: { threshold: 0, ...options } });
    await client.opened;
    assert.equal((await client.upgrade).headers["sec-websocket-extensions"], withServer);
    await wsMixedEchoes(client, count);
    client.ws.close(1000);
    await client.closed;
    await server.shutdown();
  });
}

Deno.test("every window size from 8 to 15, both ways, against ws: 300 mixed messages each", async () => {
  for (let bits = 8; bits <= 15; bits++) {
    // ws as the server, told to use these windows; Duplex's client offers the same.
    const server = await wsServer({
      perMessageDeflate: { threshold: 0, serverMaxWindowBits: bits, clientMaxWindowBits: bits },
    });
    const client = await connect(server.url, {
      compression: { threshold: 0, serverMaxWindowBits: bits, clientMaxWindowBits: bits },
    });
    assert.equal(
      client.extensions,
      `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`,
    );
    await assertMixedEchoes(client, 300);
    await client.close(1000);
    await server.closed;
    await server.stop();
    // ws as the client, Duplex's server limiting both windows.
    const duplex = duplexServer({
      compression: { threshold: 0, serverMaxWindowBits: bits, clientMaxWindowBits: bits },
    });
    const wsClient = wsOpen(duplex.url, undefined, { perMessageDeflate: { threshold: 0 } });
    await wsClient.opened;
    assert.equal(
      (await wsClient.upgrade).headers["sec-websocket-extensions"],
      // 15 is what either side assumes: not stated.
      bits === 15
        ? "permessage-deflate"
        : `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`,
    );
    await wsMixedEchoes(wsClient, 300);
    wsClient.ws.close(1000);
    await wsClient.closed;
    await duplex.server.shutdown();
  }
});

Deno.test("Duplex's server answers a ws client without permessage-deflate when compression is off", async () => {
  const { server, url } = duplexServer();
  const client = wsOpen(url, undefined, { perMessageDeflate: true });
  await client.opened;
  assert.equal(client.ws.extensions, "");
  client.ws.send("plain");
  assert.equal((await client.receive()).data.toString(), "plain");
  client.ws.close(1000);
  await client.closed;
  await server.shutdown();
});

Deno.test("prepared messages reach ws clients with and without compression, as text and as binary", async () => {
  const hub = new Hub({ compression: { threshold: 0 } });
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.handler);
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const plain = wsOpen(url);
  const deflating = wsOpen(url, undefined, { perMessageDeflate: true });
  await Promise.all([plain.opened, deflating.opened]);
  while (hub.size < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const text = "prepared ".repeat(200);
  const sent = [
    prepareMessage(text),
    prepareMessage(text, { binary: true }),
    prepareMessage(text, { compress: false }),
    prepareMessage(new Uint8Array([1, 2, 3]), { compress: true }),
  ];
  for (const message of sent) assert.equal(hub.broadcast(message), 2);
  // One more through a connection's own send().
  for (const member of hub.connections) await member.connection.send(sent[0]!);
  for (const client of [plain, deflating]) {
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await client.receive());
    assert.deepEqual(got.map((m) => m.isBinary), [false, true, false, true, false]);
    assert.equal(got[0]!.data.toString(), text);
    assert.equal(got[1]!.data.toString(), text);
    assert.equal(got[2]!.data.toString(), text);
    assert.deepEqual([...got[3]!.data], [1, 2, 3]);
    assert.equal(got[4]!.data.toString(), text);
    client.ws.close(1000);
    await client.closed;
  }
  await server.shutdown();
});

Deno.test("a message from a Duplex writer, in fragments, reaches a ws client whole", async () => {
  let writing: Promise<void> = Promise.resolve();
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { connection, response } = upgradeWebSocket(request, { fragmentSize: 1000 });
    writing = connection.opened.then(async () => {
      const text = connection.writer();
      for (let i = 0; i < 10; i++) await text.write(`piece ${i} `.repeat(100));
      await text.end();
      const bytes = connection.writer({ binary: true });
      await bytes.write(new Uint8Array(5000).fill(1));
      await bytes.end(new Uint8Array([2]));
    });
    return response;
  });
  const client = wsOpen(`ws://127.0.0.1:${server.addr.port}/`);
  await client.opened;
  const text = await client.receive();
  const bytes = await client.receive();
  await writing;
  assert.equal(text.isBinary, false);
  assert.equal(
    text.data.toString(),
    Array.from({ length: 10 }, (_, i) => `piece ${i} `.repeat(100)).join(""),
  );
  assert.equal(bytes.isBinary, true);
  assert.equal(bytes.data.length, 5001);
  assert.equal(bytes.data[5000], 2);
  client.ws.close(1000);
  await client.closed;
  await server.shutdown();
});
