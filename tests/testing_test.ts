// Copyright 2026 the Duplex authors. MIT license.
// The testing kit: the in-memory pair behaves as the TCP path does (the
// same scenarios run over both and are compared), the assertions fail with
// messages that say what arrived, and handlers and hubs run without a port.
import assert from "node:assert/strict";
import {
  type AcceptOptions,
  acceptWebSocket,
  connect as connectTcp,
  type ConnectionCloseInfo,
  type ConnectOptions,
  Hub,
  upgradeWebSocket,
  type WebSocketConnection,
} from "../mod.ts";
import {
  connect,
  createPair,
  ExpectationError,
  type Pair,
  TestConnection,
  testServer,
} from "../testing.ts";

type Sides = { client?: ConnectOptions; server?: AcceptOptions };
type MakePair = (sides: Sides) => Promise<{ pair: Pair; done: () => Promise<void> }>;

const memory: MakePair = async (sides) => ({
  pair: await createPair(sides),
  done: () => Promise.resolve(),
});

const tcp: MakePair = async (sides) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept().then((conn) => acceptWebSocket(conn, sides.server ?? {}));
  const client = await connectTcp(`ws://127.0.0.1:${listener.addr.port}/`, sides.client ?? {});
  const server = await accepted;
  listener.close();
  return {
    pair: { client: new TestConnection(client), server: new TestConnection(server) },
    done: () => Promise.resolve(),
  };
};

/** A close as the scenarios compare it. */
function outcome(info: ConnectionCloseInfo): Record<string, unknown> {
  return {
    code: info.code,
    reason: info.reason,
    wasClean: info.wasClean,
    closedByPeer: info.closedByPeer,
    error: info.error === undefined
      ? undefined
      : `${info.error.name}${"code" in info.error ? ` ${String(info.error.code)}` : ""}`,
  };
}

/** Scenarios: each returns what it saw, which must be the same over TCP and in memory. */
const SCENARIOS: [string, Sides, (pair: Pair) => Promise<unknown>][] = [
  ["echo of text and binary, then a client close with a reason", {}, async ({ client, server }) => {
    await client.send("héllo");
    await client.send(new Uint8Array([0, 1, 255]));
    const got = [await server.receive(), await server.receive()];
    await server.send(got[0]!);
    const back = await client.receive();
    const closing = client.close(4000, "done");
    return {
      got: got.map((m) => typeof m === "string" ? m : [...m]),
      back,
      client: outcome(await closing),
      server: outcome(await server.closed),
    };
  }],
  ["a server close with 1001", {}, async ({ client, server }) => {
    const closing = server.close(1001, "going");
    return { server: outcome(await closing), client: outcome(await client.closed) };
  }],
  ["a message over maxMessageSize fails with 1009", {
    server: { maxMessageSize: 10 },
  }, async ({ client, server }) => {
    await client.send("x".repeat(11));
    return { server: outcome(await server.closed), client: outcome(await client.closed) };
  }],
  ["terminate() is a 1006 on both sides", {}, async ({ client, server }) => {
    client.terminate();
    return { client: outcome(await client.closed), server: outcome(await server.closed) };
  }],
  ["ping and pong", {}, async ({ client, server }) => {
    const rtt = await client.ping("p");
    const pongs: string[] = [];
    client.listen({ pong: (data) => pongs.push(new TextDecoder().decode(data)) });
    await server.ping("q");
    await client.close(1000);
    return { rtt: rtt >= 0, closed: outcome(await server.closed) };
  }],
  ["compression round trip", {
    client: { compression: true },
    server: { compression: true },
  }, async ({ client, server }) => {
    const text = "compress me ".repeat(500);
    await client.send(text);
    const got = await server.receive();
    await server.close(1000);
    return {
      extensions: client.extensions,
      same: got === text,
      client: outcome(await client.closed),
    };
  }],
];

for (const [name, sides, run] of SCENARIOS) {
  Deno.test(`the in-memory pair behaves as TCP: ${name}`, async () => {
    const results: unknown[] = [];
    for (const make of [tcp, memory]) {
      const { pair, done } = await make(sides);
      results.push(await run(pair));
      await Promise.all([pair.client.closed, pair.server.closed]);
      await done();
    }
    assert.deepEqual(results[1], results[0]);
  });
}

Deno.test("expectMessage says what arrived instead, or that nothing did", async () => {
  const { client, server } = await createPair();
  await server.send("bye");
  await assert.rejects(
    client.expectMessage("hi"),
    (error: unknown) =>
      error instanceof ExpectationError && error.message === 'expected "hi", got "bye"',
  );
  await server.send(new Uint8Array([1, 2]));
  await assert.rejects(
    client.expectMessage(new Uint8Array([1, 2, 3])),
    (error: unknown) =>
      error instanceof ExpectationError &&
      error.message === "expected 3 bytes [01 02 03], got 2 bytes [01 02]",
  );
  await assert.rejects(
    client.expectMessage("late", { timeout: 20 }),
    (error: unknown) =>
      error instanceof ExpectationError &&
      error.message === 'expected "late", but nothing arrived within 20 ms',
  );
  await server.send("accepted");
  assert.equal(await client.expectMessage((m) => m === "accepted"), "accepted");
  await server.close(4001, "over");
  await assert.rejects(
    client.expectMessage("more"),
    (error: unknown) =>
      error instanceof ExpectationError &&
      error.message === 'expected "more", but the connection closed (4001 "over")',
  );
});

Deno.test("expectClose fails on a message first or another code; expectNoMessage on a message", async () => {
  const { client, server } = await createPair();
  await server.send("surprise");
  await assert.rejects(
    client.expectClose(1000),
    (error: unknown) =>
      error instanceof ExpectationError &&
      error.message === 'expected the connection to close with 1000, got the message "surprise"',
  );
  await server.send("again");
  await assert.rejects(
    client.expectNoMessage({ within: 200 }),
    (error: unknown) =>
      error instanceof ExpectationError &&
      error.message === 'expected no message within 200 ms, got "again"',
  );
  await client.expectNoMessage({ within: 10 });
  await server.close(1001);
  await assert.rejects(
    client.expectClose(1000),
    (error: unknown) =>
      error instanceof ExpectationError &&
      error.message === "expected the connection to close with 1000, but it closed with 1001",
  );
  assert.equal((await server.expectClose(1001)).code, 1001);
});

Deno.test("a handler run by testServer sees a real Request, with its URL and headers", async () => {
  const seen: { url: string; auth: string | null; protocol: string | null }[] = [];
  await using server = testServer((request) => {
    seen.push({
      url: request.url,
      auth: request.headers.get("authorization"),
      protocol: request.headers.get("sec-websocket-protocol"),
    });
    const { connection, response } = upgradeWebSocket(request, { protocol: "chat" });
    (async () => {
      for await (const message of connection) await connection.send(`echo ${message}`);
    })().catch(() => {});
    return response;
  });
  const client = await server.connect("/room/1?name=ada", {
    headers: { authorization: "Bearer token" },
    protocols: ["chat"],
  });
  assert.equal(client.protocol, "chat");
  await client.send("hi");
  await client.expectMessage("echo hi");
  assert.deepEqual(seen, [{
    url: "http://memory/room/1?name=ada",
    auth: "Bearer token",
    protocol: "chat",
  }]);
  await client.close(1000);
});

Deno.test("testServer: a refused upgrade is the client's HandshakeError", async () => {
  await using server = testServer(() => new Response("no", { status: 403 }));
  await assert.rejects(server.connect("/"), (error: unknown) => {
    assert.ok(error instanceof Error && error.name === "HandshakeError");
    assert.equal((error as Error & { status: number }).status, 403);
    return true;
  });
});

Deno.test("a hub's rooms and broadcast work through testServer, and shutdown sends 1001", async () => {
  const hub = new Hub<{ name: string }>({
    data: (request) => ({ name: new URL(request.url).searchParams.get("name") ?? "?" }),
  });
  hub.on("open", (member) => member.join("lobby"));
  hub.on("message", (member, message) => {
    hub.broadcast(`${member.data.name}: ${message}`, { room: "lobby", except: member });
  });
  const server = testServer(hub);
  const alice = await server.connect("/?name=alice");
  const bob = await server.connect("/?name=bob");
  const carol = await server.connect("/?name=carol");
  // connect() waits for the hub's "open" handlers: no sleep, no polling.
  assert.equal(hub.roomSize("lobby"), 3);
  await alice.send("hi all");
  await bob.expectMessage("alice: hi all");
  await carol.expectMessage("alice: hi all");
  await alice.expectNoMessage({ within: 10 });
  await server.shutdown();
  for (const client of [alice, bob, carol]) await client.expectClose(1001);
  assert.equal(hub.size, 0);
});

Deno.test("the hub's slow-consumer policy works in memory: a client that stops reading gets 1008", async () => {
  const hub = new Hub({ maxBackpressure: 64 * 1024, backpressureGrace: 0 });
  await using server = testServer(hub);
  // It reads nothing, and stops reading from the pipe once 16 KiB wait.
  const slow = await server.connect("/", { receiveHighWaterMark: 16 * 1024 });
  assert.equal(hub.size, 1);
  const closed = new Promise<number>((resolve) => hub.on("close", (_, code) => resolve(code)));
  let cut: Error | undefined;
  hub.on("error", (_, error) => cut = error);
  // With no grace, the policy applies as soon as a send finds it over the mark.
  const chunk = new Uint8Array(16 * 1024);
  let sent = 0;
  while (cut === undefined && sent < 100) {
    hub.broadcast(chunk);
    sent++;
  }
  assert.equal(cut?.name, "SlowConsumerError");
  // Four frames of 16 KiB and a 4-byte header each are past 64 KiB.
  assert.equal(sent, 4, "cut by the send that would take it past 64 KiB");
  // The client reads again: the 1008 close frame (what it had not taken was dropped).
  await slow.expectClose(1008);
  assert.equal(await closed, 1008);
});

Deno.test("testServer().connect() resolves once the server's open handlers have run, even for a burst of clients", async () => {
  const opened: string[] = [];
  const hub = new Hub<{ name: string }>({
    data: (request) => ({ name: new URL(request.url).searchParams.get("name") ?? "?" }),
  });
  hub.on("open", (member) => {
    opened.push(member.data.name);
    member.join("room");
    member.send(`welcome ${member.data.name}`);
  });
  await using server = testServer(hub);
  const clients = await Promise.all(
    Array.from({ length: 20 }, (_, i) => server.connect(`/?name=c${i}`)),
  );
  assert.equal(opened.length, 20);
  assert.equal(hub.roomSize("room"), 20);
  for (const [i, client] of clients.entries()) await client.expectMessage(`welcome c${i}`);
  // A handler of serve()'s kind: its open reaction has run too.
  let greeted = false;
  await using plain = testServer((request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.listen({ open: () => greeted = true });
    return response;
  });
  const client = await plain.connect();
  assert.equal(greeted, true);
  await client.close(1000);
  for (const member of clients) await member.close(1000);
});

Deno.test("connect(hub) is a one-connection test; its closed waits for the server to shut down", async () => {
  const hub = new Hub();
  hub.on("message", (member, message) => member.send(`echo: ${message}`));
  const client: WebSocketConnection = await connect(hub, "/", { protocols: [] });
  await client.send("hi");
  assert.equal(await client.receive(), "echo: hi");
  await client.close(1000);
  assert.equal((await client.closed).code, 1000);
  assert.equal(hub.size, 0);
});
