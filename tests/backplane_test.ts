// Copyright 2026 the Duplex authors. MIT license.
// A hub on a backplane: two hubs in this process, joined by the built-in
// BroadcastChannel (the real backplane) or by a recording one that shows
// what the hub asks of a backplane, with clients in memory (the testing
// kit). Redis, processes and Workers are in redis_test.ts and cluster_test.ts.
import assert from "node:assert/strict";
import {
  type Backplane,
  type BackplaneReceiver,
  type BackplaneStats,
  BroadcastChannelBackplane,
  Hub,
  prepareMessage,
} from "../mod.ts";
import { type TestConnection, type TestServer, testServer } from "../testing.ts";
import { decodeEnvelope, encodeEnvelope, newNodeId } from "../_backplane.ts";

let namespaces = 0;
/** A namespace of its own for each test, so tests never hear each other. */
function namespace(): string {
  return `test-${Deno.pid}-${++namespaces}`;
}

/** Two hubs on one BroadcastChannel namespace, each served in memory. */
function pairOfNodes(): {
  hubs: [Hub, Hub];
  servers: [TestServer, TestServer];
  [Symbol.asyncDispose](): Promise<void>;
} {
  const name = namespace();
  const hubs: [Hub, Hub] = [
    new Hub({ backplane: new BroadcastChannelBackplane({ namespace: name }) }),
    new Hub({ backplane: new BroadcastChannelBackplane({ namespace: name }) }),
  ];
  for (const hub of hubs) {
    hub.on("open", (connection) => {
      const room = new URL(connection.url).searchParams.get("room");
      if (room !== null) connection.join(room);
    });
  }
  const servers: [TestServer, TestServer] = [testServer(hubs[0]), testServer(hubs[1])];
  return {
    hubs,
    servers,
    async [Symbol.asyncDispose]() {
      await Promise.all(hubs.map((hub) => hub.close()));
      await Promise.all(servers.map((server) => server.shutdown()));
    },
  };
}

/** Waits until `check` holds, a turn of the event loop at a time, for at most `ms`. */
async function until(check: () => boolean, what: string, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

Deno.test("backplane: a broadcast to a room reaches its members on the other node, and no other room", async () => {
  await using nodes = pairOfNodes();
  const [a, b] = nodes.servers;
  const alice = await a.connect("/?room=red");
  const bob = await b.connect("/?room=red");
  const carol = await b.connect("/?room=blue");
  const dave = await b.connect("/");

  assert.equal(nodes.hubs[0].broadcast("to red", { room: "red" }), 1);
  await alice.expectMessage("to red");
  await bob.expectMessage("to red");
  nodes.hubs[1].broadcast("to blue", { room: "blue" });
  await carol.expectMessage("to blue");
  // Nothing else arrives anywhere: not red's message in blue, not blue's in
  // red, nothing to a connection in no room, and no copy of one's own.
  await Promise.all(
    [alice, bob, carol, dave].map((client) => client.expectNoMessage({ within: 50 })),
  );
  assert.equal(nodes.hubs[1].stats().backplane?.received, 1);
  assert.equal(nodes.hubs[0].stats().backplane?.received, 0);
  for (const client of [alice, bob, carol, dave]) await client.close();
});

Deno.test("backplane: a room-less broadcast reaches every connection on every node; except is the sender's own", async () => {
  await using nodes = pairOfNodes();
  const [a, b] = nodes.servers;
  const alice = await a.connect("/");
  const ann = await a.connect("/");
  const bob = await b.connect("/");
  const sender = [...nodes.hubs[0].connections][0]!;
  assert.equal(nodes.hubs[0].broadcast("everyone", { except: sender }), 1);
  await bob.expectMessage("everyone");
  // One of alice and ann is the sender: exactly one of them hears it.
  const heard = await Promise.all([alice, ann].map(async (client) => {
    try {
      await client.expectMessage("everyone", { timeout: 200 });
      return 1;
    } catch {
      return 0;
    }
  }));
  assert.equal(heard[0]! + heard[1]!, 1);
  await Promise.all([alice, ann, bob].map((client) => client.expectNoMessage({ within: 30 })));
  for (const client of [alice, ann, bob]) await client.close();
});

Deno.test("backplane: text and binary from 0 B to 1 MiB arrive byte for byte on the other node", async () => {
  await using nodes = pairOfNodes();
  const receiver = await nodes.servers[1].connect("/?room=r");
  const sizes = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024 - 64];
  for (const size of sizes) {
    const bytes = crypto.getRandomValues(new Uint8Array(Math.min(size, 65_536)));
    const binary = new Uint8Array(size);
    for (let i = 0; i < size; i += bytes.length) binary.set(bytes.subarray(0, size - i), i);
    const text = "é€😀a".repeat(Math.ceil(size / 10)).slice(0, size);
    nodes.hubs[0].broadcast(binary, { room: "r" });
    nodes.hubs[0].broadcast(text, { room: "r" });
    const gotBinary = await receiver.receive();
    assert.ok(gotBinary instanceof Uint8Array, `${size} B binary arrives as binary`);
    assert.deepEqual(gotBinary, binary);
    assert.equal(await receiver.receive(), text);
  }
  await receiver.close();
});

Deno.test("backplane: 10,000 broadcasts of one node arrive in order on the other", async () => {
  await using nodes = pairOfNodes();
  const receiver = await nodes.servers[1].connect("/?room=r");
  for (let i = 0; i < 10_000; i++) nodes.hubs[0].broadcast(`m${i}`, { room: "r" });
  for (let i = 0; i < 10_000; i++) assert.equal(await receiver.receive(), `m${i}`);
  const stats = nodes.hubs[1].stats().backplane!;
  assert.equal(stats.received, 10_000);
  assert.equal(nodes.hubs[0].stats().backplane!.published, 10_000);
  await receiver.close();
});

Deno.test("backplane: a local broadcast stays on its node; compress travels with the message", async () => {
  await using nodes = pairOfNodes();
  const here = await nodes.servers[0].connect("/?room=r");
  const there = await nodes.servers[1].connect("/?room=r");
  nodes.hubs[0].broadcast("just here", { room: "r", local: true });
  nodes.hubs[0].broadcast(prepareMessage("prepared", { compress: false }), { room: "r" });
  await here.expectMessage("just here");
  await here.expectMessage("prepared");
  await there.expectMessage("prepared");
  await there.expectNoMessage({ within: 30 });
  await Promise.all([here.close(), there.close()]);
});

Deno.test("backplane: the envelope keeps kind and compression, and refuses what is not one", () => {
  const node = newNodeId();
  for (const compress of [undefined, true, false]) {
    for (const data of ["text é", new Uint8Array([0, 255, 7])]) {
      const message = prepareMessage(data, compress === undefined ? {} : { compress });
      const decoded = decodeEnvelope(encodeEnvelope(node, message))!;
      assert.deepEqual(decoded.data, data);
      assert.equal(decoded.compress, compress);
    }
  }
  assert.equal(decodeEnvelope(new Uint8Array(3)), null, "too short");
  const bad = encodeEnvelope(node, prepareMessage("x"));
  bad[0] = 0x01;
  assert.equal(decodeEnvelope(bad), null, "unknown version");
  const both = encodeEnvelope(node, prepareMessage("x"));
  both[1] = 6;
  assert.equal(decodeEnvelope(both), null, "compress both yes and no");
  const notUtf8 = encodeEnvelope(node, prepareMessage(new Uint8Array([0xff])));
  notUtf8[1] = 0;
  assert.equal(decodeEnvelope(notUtf8), null, "text that is not UTF-8");
});

/** A backplane that records what the hub asks, and lets a test play the other nodes and the outages. */
class RecordingBackplane implements Backplane {
  calls: string[] = [];
  receiver: BackplaneReceiver | undefined;
  published: [string, Uint8Array][] = [];
  closed = false;
  attach(receiver: BackplaneReceiver): void {
    if (this.receiver !== undefined) throw new TypeError("attached twice");
    this.receiver = receiver;
  }
  subscribe(channel: string): void {
    this.calls.push(`+${channel}`);
  }
  unsubscribe(channel: string): void {
    this.calls.push(`-${channel}`);
  }
  publish(channel: string, payload: Uint8Array): boolean {
    this.published.push([channel, payload.slice()]);
    return true;
  }
  stats(): BackplaneStats {
    return { published: this.published.length, dropped: 7, reconnects: 2, connected: !this.closed };
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

Deno.test("backplane: a node subscribes to a room on its first member and unsubscribes on its last", async () => {
  const backplane = new RecordingBackplane();
  const hub = new Hub({ backplane });
  await using server = testServer(hub);
  const one = await server.connect("/");
  assert.deepEqual(
    backplane.calls,
    ["+all"],
    "the first connection subscribes to room-less broadcasts",
  );
  const two = await server.connect("/");
  const [first, second] = [...hub.connections];
  first!.join("a");
  assert.deepEqual(backplane.calls, ["+all", "+room:a"]);
  second!.join("a");
  first!.join("b");
  assert.deepEqual(backplane.calls, ["+all", "+room:a", "+room:b"], "0 → 1 only");
  first!.leave("a");
  assert.deepEqual(backplane.calls.length, 3, "2 → 1 keeps the subscription");
  second!.leave("a");
  assert.deepEqual(backplane.calls.slice(3), ["-room:a"]);
  await one.close();
  // Leaving by closing counts too: b loses its only member.
  await until(() => backplane.calls.length === 5, "the close to unsubscribe b");
  assert.deepEqual(backplane.calls.slice(4), ["-room:b"]);
  await two.close();
  await until(() => backplane.calls.length === 6, "the last close to unsubscribe all");
  assert.deepEqual(backplane.calls.slice(5), ["-all"]);
  await hub.close();
  assert.ok(backplane.closed, "hub.close() closes its backplane");
});

Deno.test("backplane: the hub ignores its own echoes, counts what is malformed, and reports figures", async () => {
  const backplane = new RecordingBackplane();
  const hub = new Hub({ backplane });
  await using server = testServer(hub);
  const client = await server.connect("/");
  [...hub.connections][0]!.join("r");
  hub.broadcast("mine", { room: "r" });
  await client.expectMessage("mine");
  const [channel, envelope] = backplane.published[0]!;
  assert.equal(channel, "room:r");
  // Redis delivers a subscriber's own publications back to it.
  backplane.receiver!.message(channel, envelope);
  backplane.receiver!.message(channel, new Uint8Array([1, 2, 3]));
  const other = encodeEnvelope(newNodeId(), prepareMessage("theirs"));
  backplane.receiver!.message(channel, other);
  backplane.receiver!.message("room:nobody", other);
  await client.expectMessage("theirs");
  await client.expectNoMessage({ within: 30 });
  assert.deepEqual(hub.stats().backplane, {
    published: 1,
    dropped: 7,
    reconnects: 2,
    connected: true,
    received: 2,
    malformed: 1,
    subscriptions: 2,
  });
  await client.close();
  await hub.close();
  assert.equal(hub.broadcast("after close", { room: "r" }), 0);
  assert.equal(backplane.published.length, 1, "a closed hub publishes nothing");
});

Deno.test("backplane: an outage is a backplaneError event; without a listener the hub logs it", async () => {
  const backplane = new RecordingBackplane();
  const hub = new Hub({ backplane });
  const errors: Error[] = [];
  const off = hub.on("backplaneError", (error) => errors.push(error));
  backplane.receiver!.error(new Error("link down"));
  assert.deepEqual(errors.map((error) => error.message), ["link down"]);
  off();
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args.join(" "));
  try {
    backplane.receiver!.error(new Error("down again"));
  } finally {
    console.error = original;
  }
  assert.deepEqual(logged, ["Hub: backplane: down again"]);
  await hub.close();
});

Deno.test("backplane: bad options are TypeErrors at the call", () => {
  assert.throws(() => new Hub({ backplane: {} as Backplane }), {
    name: "TypeError",
    message: /backplane must be a Backplane .*without attach/,
  });
  assert.throws(() => new Hub({ backplane: "redis" as unknown as Backplane }), TypeError);
  assert.throws(() => new Hub({ backplane: null as unknown as Backplane }), TypeError);
  assert.throws(() => new BroadcastChannelBackplane({ namespace: "" }), TypeError);
  assert.throws(
    () => new BroadcastChannelBackplane({ namespace: 3 as unknown as string }),
    TypeError,
  );
  const shared = new BroadcastChannelBackplane();
  const hub = new Hub({ backplane: shared });
  assert.throws(() => new Hub({ backplane: shared }), {
    name: "TypeError",
    message: "Cannot attach backplane: it serves a hub already",
  });
  return hub.close();
});

Deno.test("backplane: a BroadcastChannel node hears only the rooms it has members in", async () => {
  await using nodes = pairOfNodes();
  const watcher = await nodes.servers[1].connect("/?room=watched");
  const [a] = nodes.servers;
  const talker = await a.connect("/?room=other");
  // Node b has no member in "other": it must not even receive it.
  for (let i = 0; i < 10; i++) nodes.hubs[0].broadcast("x", { room: "other" });
  nodes.hubs[0].broadcast("seen", { room: "watched" });
  await watcher.expectMessage("seen");
  assert.equal(nodes.hubs[1].stats().backplane!.received, 1);
  assert.equal(nodes.hubs[1].stats().backplane!.subscriptions, 2);
  await Promise.all([watcher.close(), talker.close()]);
});

/** Reads every message a client gets within `ms`. */
async function drain(client: TestConnection, ms: number): Promise<number> {
  let count = 0;
  try {
    while (true) {
      await client.expectMessage(() => true, { timeout: ms });
      count++;
    }
  } catch {
    return count;
  }
}

Deno.test("backplane: a closed node's rooms stop hearing at once, and the other node goes on", async () => {
  await using nodes = pairOfNodes();
  const stays = await nodes.servers[1].connect("/?room=r");
  const leaves = await nodes.servers[0].connect("/?room=r");
  await nodes.hubs[0].close();
  await leaves.expectClose(1001);
  nodes.hubs[1].broadcast("still here", { room: "r" });
  await stays.expectMessage("still here");
  assert.equal(await drain(stays, 30), 0);
  await stays.close();
});

Deno.test("backplane: across a real Worker, a burst of 10,000 broadcasts in one turn all arrive, in order", async () => {
  const name = namespace();
  // The Worker is a node with one member (in memory); it reports what that member received.
  const source = `
    import { BroadcastChannelBackplane, Hub } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    import { testServer } from ${JSON.stringify(new URL("../testing.ts", import.meta.url).href)};
    const hub = new Hub({ backplane: new BroadcastChannelBackplane({ namespace: ${
    JSON.stringify(name)
  } }) });
    hub.on("open", (connection) => connection.join("r"));
    const server = testServer(hub);
    const client = await server.connect("/");
    self.postMessage("ready");
    const got = [];
    // Bounded: a lost message ends the wait after 5 s, and the count shows it.
    try {
      while (got.length < 10000) got.push(await client.receive({ timeout: 5000 }));
    } catch { /* reported below */ }
    self.postMessage({ inOrder: got.every((m, i) => m === "m" + i), stats: hub.stats().backplane });
    await client.close();
    await hub.close();
    await server.shutdown();
  `;
  const url = `data:application/typescript,${encodeURIComponent(source)}`;
  const worker = new Worker(url, { type: "module" });
  const messages: unknown[] = [];
  let wake = () => {};
  worker.onmessage = (event) => {
    messages.push(event.data);
    wake();
  };
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((resolve) => wake = resolve);
    return messages.shift();
  };
  const hub = new Hub({ backplane: new BroadcastChannelBackplane({ namespace: name }) });
  try {
    assert.equal(await next(), "ready");
    for (let i = 0; i < 10_000; i++) hub.broadcast(`m${i}`, { room: "r" });
    const report = await next() as { inOrder: boolean; stats: { received: number; lost: number } };
    assert.equal(report.stats.received, 10_000);
    assert.equal(report.inOrder, true);
    assert.equal(report.stats.lost, 0);
  } finally {
    await hub.close();
    worker.terminate();
  }
});

Deno.test("backplane: a BroadcastChannel node counts the publications it missed", async () => {
  const name = namespace();
  const hub = new Hub({ backplane: new BroadcastChannelBackplane({ namespace: name }) });
  await using server = testServer(hub);
  const client = await server.connect("/");
  [...hub.connections][0]!.join("r");
  // Another sender's batches, by hand: publications 1–2, then 6 (3–5 lost on the way).
  const raw = new BroadcastChannel(`${name}:room:r`);
  const batch = (first: number, texts: string[]) => {
    const parts = texts.map((text) => encodeEnvelope(newNodeId(), prepareMessage(text)));
    const bytes = new Uint8Array(12 + parts.reduce((sum, part) => sum + 4 + part.length, 0));
    const view = new DataView(bytes.buffer);
    bytes.set([9, 9, 9, 9, 9, 9, 9, 9]);
    view.setUint32(8, first);
    let offset = 12;
    for (const part of parts) {
      view.setUint32(offset, part.length);
      bytes.set(part, offset + 4);
      offset += 4 + part.length;
    }
    return bytes;
  };
  raw.postMessage(batch(1, ["one", "two"]));
  raw.postMessage(batch(6, ["six"]));
  await client.expectMessage("one");
  await client.expectMessage("two");
  await client.expectMessage("six");
  assert.equal(hub.stats().backplane!.lost, 3);
  raw.close();
  await client.close();
  await hub.close();
});
