// Copyright 2026 the Duplex authors. MIT license.
// The Redis backplane against a real redis-server (Debian's package): two
// chat processes as one chat, room scoping, byte-exact payloads, per-node
// order, the subscribe and unsubscribe transitions as Redis sees them, and
// Redis down at start, killed and restarted. CI (`.ci/run`) installs
// redis-server, starts one for the run (DUPLEX_REDIS_URL) and sets
// DUPLEX_REQUIRE_REDIS=1, so a missing one fails there; elsewhere these
// tests are skipped with a notice. Tests that only need a Redis use that one
// (each in a namespace of its own) or start their own on a free loopback
// port; those that kill and restart Redis always start their own.
import assert from "node:assert/strict";
import { createClient } from "npm:redis@^6.4.0";
import { connect, Hub, type WebSocketConnection } from "../mod.ts";
import { RedisBackplane } from "../redis.ts";
import { type TestConnection, type TestServer, testServer } from "../testing.ts";

const REDIS = Deno.env.get("DUPLEX_REDIS_SERVER") ?? "/usr/bin/redis-server";
const HOST = "127.0.0.1";
const required = Deno.env.get("DUPLEX_REQUIRE_REDIS") === "1";
const SHARED_URL = Deno.env.get("DUPLEX_REDIS_URL");
const present = (() => {
  try {
    return Deno.statSync(REDIS).isFile;
  } catch {
    return false;
  }
})();
if (!present && !required) {
  console.warn(`Skipping Redis tests: no redis-server at ${REDIS} (apt-get install redis-server)`);
}

function redisTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: !present && !required,
    async fn() {
      if (!present) throw new Error(`No redis-server at ${REDIS}: apt-get install redis-server`);
      await fn();
    },
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

let namespaces = 0;
/** A namespace no other test uses, so that tests can share one Redis. */
function uniqueNamespace(): string {
  return `test-${Deno.pid}-${++namespaces}`;
}

/** A redis-server of the test's own, which it can kill and start again on the same port. */
class Redis {
  readonly url: string;
  readonly #port: number;
  readonly #shared: boolean;
  #child: Deno.ChildProcess | undefined;
  constructor(port = freePort(), url?: string) {
    this.#port = port;
    this.#shared = url !== undefined;
    this.url = url ?? `redis://${HOST}:${port}`;
  }
  /** The run's Redis (`DUPLEX_REDIS_URL`), or one of the test's own, started. */
  static async shared(): Promise<Redis> {
    if (SHARED_URL !== undefined) return new Redis(0, SHARED_URL);
    const redis = new Redis();
    await redis.start();
    return redis;
  }
  async start(): Promise<void> {
    if (this.#shared) throw new Error("The shared Redis is not the test's to start");
    const port = this.#port;
    this.#child = new Deno.Command(REDIS, {
      args: ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 200; i++) {
      try {
        (await Deno.connect({ hostname: HOST, port })).close();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    throw new Error(`redis-server did not listen on ${port}`);
  }
  /** SIGKILL: no goodbye to its clients. */
  async kill(): Promise<void> {
    if (this.#child === undefined) return;
    this.#child.kill("SIGKILL");
    await this.#child.status;
    this.#child = undefined;
  }
  /** How many connections subscribe to `channel`, as Redis counts them. */
  async subscribers(channel: string): Promise<number> {
    const client = createClient({ url: this.url });
    client.on("error", () => {});
    await client.connect();
    try {
      const reply = await client.sendCommand(["PUBSUB", "NUMSUB", channel]) as [string, number];
      return Number(reply[1]);
    } finally {
      await client.close();
    }
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}

/** Waits until `check` holds, for at most `ms`. */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  ms = 10_000,
) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) {
      throw new Error(`Timed out waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A hub on a RedisBackplane, served in memory, its connections joining `?room=`. */
function node(url: string, namespace: string, options: { maxBuffered?: number } = {}) {
  const backplane = new RedisBackplane({
    url,
    namespace,
    minDelay: 20,
    maxDelay: 200,
    ...options,
  });
  const hub = new Hub({ backplane });
  const errors: Error[] = [];
  hub.on("backplaneError", (error) => errors.push(error));
  hub.on("open", (connection) => {
    const room = new URL(connection.url).searchParams.get("room");
    if (room !== null) connection.join(room);
  });
  const server: TestServer = testServer(hub);
  return {
    hub,
    backplane,
    server,
    errors,
    async [Symbol.asyncDispose]() {
      await hub.close();
      await server.shutdown();
    },
  };
}

redisTest("redis: two chat processes on one Redis are one chat, room by room", async () => {
  await using redis = await Redis.shared();
  const ports = [freePort(), freePort()];
  const chats = ports.map((port) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../examples/chat/server.ts", import.meta.url).pathname,
        "--port",
        String(port),
        "--redis",
        redis.url,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn()
  );
  const logs = chats.map((child) => new Response(child.stderr).text());
  const clients: WebSocketConnection[] = [];
  try {
    for (const port of ports) {
      await until(
        async () => {
          try {
            (await Deno.connect({ hostname: HOST, port })).close();
            return true;
          } catch {
            return false;
          }
        },
        `the chat on ${port}`,
        30_000,
      );
    }
    const join = async (port: number, nick: string, room: string) => {
      const client = await connect(`ws://${HOST}:${port}/ws?nick=${nick}&room=${room}`);
      clients.push(client);
      return client;
    };
    const next = async (client: WebSocketConnection, type: string) => {
      while (true) {
        const event = JSON.parse(await client.receive({ timeout: 5_000 }) as string);
        if (event.type === type) return event;
      }
    };
    const alice = await join(ports[0]!, "alice", "a");
    const bob = await join(ports[1]!, "bob", "a");
    const carol = await join(ports[1]!, "carol", "b");
    // Both nodes subscribed to room a before anyone speaks.
    await until(async () => await redis.subscribers("chat:room:a") === 2, "two nodes in room a");
    await alice.send(JSON.stringify({ type: "say", text: "hi from node 1" }));
    const line = await next(bob, "message");
    assert.equal(line.text, "hi from node 1");
    assert.equal(line.nick, "alice");
    await carol.send(JSON.stringify({ type: "say", text: "room b only" }));
    await bob.send(JSON.stringify({ type: "say", text: "hi back" }));
    assert.equal((await next(alice, "message")).text, "hi from node 1");
    // Room b's line never reaches room a: the next line alice hears is bob's.
    assert.equal((await next(alice, "message")).text, "hi back");
    assert.equal((await next(carol, "message")).text, "room b only");
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    for (const child of chats) child.kill("SIGTERM");
    const statuses = await Promise.all(chats.map((child) => child.status));
    const texts = await Promise.all(logs);
    for (const [i, status] of statuses.entries()) {
      assert.equal(status.code, 0, `chat ${i} exited with ${status.code}: ${texts[i]}`);
    }
  }
});

redisTest(
  "redis: text and binary from 0 B to 1 MiB arrive byte for byte, in order per node",
  async () => {
    await using redis = await Redis.shared();
    const ns = uniqueNamespace();
    await using a = node(redis.url, ns);
    await using b = node(redis.url, ns);
    await Promise.all([a.backplane.ready(), b.backplane.ready()]);
    const receiver = await b.server.connect("/?room=r");
    await until(async () => await redis.subscribers(`${ns}:room:r`) === 1, "b's subscription");
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024 - 64];
    const sent: (string | Uint8Array)[] = [];
    for (const size of sizes) {
      const binary = new Uint8Array(size);
      for (let i = 0; i < size; i++) binary[i] = (i * 131 + size) & 0xff;
      const text = "é€😀a".repeat(Math.ceil(size / 10)).slice(0, size);
      sent.push(binary, text);
      a.hub.broadcast(binary, { room: "r" });
      a.hub.broadcast(text, { room: "r" });
    }
    for (const expected of sent) {
      assert.deepEqual(
        await receiver.receive({ timeout: 5_000 }),
        expected,
      );
    }

    for (let i = 0; i < 10_000; i++) a.hub.broadcast(`m${i}`, { room: "r" });
    for (let i = 0; i < 10_000; i++) {
      assert.equal(
        await receiver.receive({ timeout: 5_000 }),
        `m${i}`,
      );
    }
    const stats = b.hub.stats().backplane!;
    assert.equal(stats.received, sent.length + 10_000);
    assert.equal(stats.lost, 0);
    await until(
      () => a.hub.stats().backplane!.published === sent.length + 10_000,
      "acknowledgements",
    );
    assert.equal(a.hub.stats().backplane!.dropped, 0);
    await receiver.close();
  },
);

redisTest(
  "redis: a node subscribes on a room's first member and unsubscribes on its last; rooms stay apart",
  async () => {
    await using redis = await Redis.shared();
    const ns = uniqueNamespace();
    await using a = node(redis.url, ns);
    await using b = node(redis.url, ns);
    await Promise.all([a.backplane.ready(), b.backplane.ready()]);
    assert.equal(await redis.subscribers(`${ns}:room:x`), 0);
    assert.equal(await a.backplane.nodes(), 0);
    assert.equal(await a.backplane.nodes("x"), 0);
    const first = await b.server.connect("/?room=x");
    await until(
      async () => await redis.subscribers(`${ns}:room:x`) === 1,
      "the 0 → 1 subscription",
    );
    const second = await b.server.connect("/?room=x");
    const other = await b.server.connect("/?room=y");
    const elsewhere = await a.server.connect("/?room=y");
    // Cluster-wide figures, as Redis counts subscribers.
    await until(async () => await a.backplane.nodes("y") === 2, "both nodes in room y");
    assert.equal(await a.backplane.nodes("x"), 1);
    assert.equal(await b.backplane.nodes(), 2);
    await assert.rejects(a.backplane.nodes(7 as unknown as string), TypeError);
    await elsewhere.close();
    a.hub.broadcast("to x", { room: "x" });
    await first.expectMessage("to x");
    await second.expectMessage("to x");
    await other.expectNoMessage({ within: 100 });
    await first.close();
    // 2 → 1 keeps it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await redis.subscribers(`${ns}:room:x`), 1);
    await second.close();
    await until(
      async () => await redis.subscribers(`${ns}:room:x`) === 0,
      "the 1 → 0 unsubscription",
    );
    assert.equal(await redis.subscribers(`${ns}:room:y`), 1);
    await other.close();
  },
);

redisTest(
  "redis: killed and restarted, the hub serves its members, errs once, caps its buffer, and resubscribes",
  async () => {
    await using redis = new Redis();
    await redis.start();
    const ns = uniqueNamespace();
    await using a = node(redis.url, ns, { maxBuffered: 64 * 1024 });
    await using b = node(redis.url, ns);
    await Promise.all([a.backplane.ready(), b.backplane.ready()]);
    const local = await a.server.connect("/?room=r");
    const remote = await b.server.connect("/?room=r");
    await until(async () => await redis.subscribers(`${ns}:room:r`) === 2, "both subscriptions");
    // b also has a member in room t, who leaves during the outage.
    const leaver = await b.server.connect("/?room=t");
    await until(async () => await redis.subscribers(`${ns}:room:t`) === 1, "b in room t");
    a.hub.broadcast("before", { room: "r" });
    await remote.expectMessage("before");
    await local.expectMessage("before");
    await until(() => a.hub.stats().backplane!.published === 1, "the acknowledgement");

    await redis.kill();
    await until(() => !a.hub.stats().backplane!.connected, "a to see the outage");
    // Local members are served throughout; what cannot wait is dropped and counted.
    const payload = "x".repeat(1000);
    let accepted = 0;
    for (let i = 0; i < 200; i++) {
      a.hub.broadcast(payload, { room: "r" });
      await local.expectMessage(payload);
      accepted++;
    }
    assert.equal(accepted, 200);
    // Each publication holds 4 + 10 + 1,000 bytes: 64 fit in 64 KiB. (More
    // are dropped if a's publishing connection had not yet seen the outage
    // when the first went out: lost with the link, and counted too.)
    const during = a.hub.stats().backplane!;
    assert.ok(during.dropped >= 200 - 64, `${during.dropped} dropped past the 64 KiB cap`);
    assert.equal(during.published, 1);
    // Rooms joined and left while Redis is away.
    await until(() => !b.hub.stats().backplane!.connected, "b to see the outage");
    const joiner = await b.server.connect("/?room=s");
    await leaver.close();
    await new Promise((resolve) => setTimeout(resolve, 300)); // several retries
    assert.equal(a.errors.length, 1, "one error for the outage, not one per retry");
    assert.equal(a.errors[0]!.name, "ConnectionError");
    assert.match(a.errors[0]!.message, /Cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);

    await redis.start();
    await Promise.all([
      until(() => a.hub.stats().backplane!.connected, "a to reconnect"),
      until(() => b.hub.stats().backplane!.connected, "b to reconnect"),
    ]);
    await until(async () => await redis.subscribers(`${ns}:room:r`) === 2, "both to resubscribe");
    await until(async () => await redis.subscribers(`${ns}:room:s`) === 1, "b in the new room");
    await until(
      async () => await redis.subscribers(`${ns}:room:t`) === 0,
      "b out of the left room",
    );
    a.hub.broadcast("to s", { room: "s" });
    await joiner.expectMessage("to s");
    a.hub.broadcast("after", { room: "r" });
    // What a held while Redis was away (at most the cap) went out first,
    // in order; b subscribed again only after some of it, so it may miss it.
    let last: unknown;
    while ((last = await remote.receive({ timeout: 5_000 })) !== "after") {
      assert.equal(last, payload);
    }
    await local.expectMessage("after");
    // Once each: node-redis's own resubscription and ours did not double a listener.
    await remote.expectNoMessage({ within: 200 });
    await joiner.expectNoMessage({ within: 0 });
    // Every publication is accounted for: "before", the 200 of the outage,
    // "to s" and "after" were published or dropped, none silently lost.
    await until(
      () => a.hub.stats().backplane!.published + a.hub.stats().backplane!.dropped === 203,
      () => `every acknowledgement: ${JSON.stringify(a.hub.stats().backplane)}`,
    );
    const after = a.hub.stats().backplane!;
    assert.ok(after.published >= 3, "before, to s and after were published");
    assert.ok(after.dropped >= 136);
    assert.equal(after.reconnects, 1);
    assert.equal(b.hub.stats().backplane!.reconnects, 1);
    assert.equal(a.errors.length, 1);
    // The connections never noticed.
    assert.equal(local.readyState, 1);
    assert.equal(remote.readyState, 1);
    await Promise.all([local.close(), remote.close(), joiner.close()]);
  },
);

redisTest("redis: down at start, the hub serves locally and joins once Redis is up", async () => {
  const redis = new Redis();
  const ns = uniqueNamespace();
  await using a = node(redis.url, ns);
  const client: TestConnection = await a.server.connect("/?room=r");
  a.hub.broadcast("local", { room: "r" });
  await client.expectMessage("local");
  await until(() => a.errors.length === 1, "the outage's error");
  assert.equal(a.hub.stats().backplane!.connected, false);
  await assert.rejects(a.backplane.nodes("r"), { name: "ConnectionError", code: "BACKPLANE_DOWN" });
  await redis.start();
  try {
    await a.backplane.ready();
    await until(async () => await redis.subscribers(`${ns}:room:r`) === 1, "the subscription");
    assert.equal(a.hub.stats().backplane!.reconnects, 0, "the first connection is not a reconnect");
    assert.equal(a.errors.length, 1);
  } finally {
    await client.close();
    await redis.kill();
  }
});

redisTest("redis: bad options are errors at the call, before any connection", () => {
  assert.throws(() => new RedisBackplane({ url: "http://127.0.0.1" }), TypeError);
  assert.throws(() => new RedisBackplane({ url: "not a url" }), TypeError);
  assert.throws(() => new RedisBackplane({ maxBuffered: 0 }), RangeError);
  assert.throws(() => new RedisBackplane({ minDelay: "1" as unknown as number }), TypeError);
  assert.throws(() => new RedisBackplane({ minDelay: 500, maxDelay: 100 }), RangeError);
  assert.throws(() => new RedisBackplane({ namespace: "" }), TypeError);
  const closed = new RedisBackplane();
  return Promise.all([
    closed.close(),
    assert.rejects(closed.ready(), { name: "ConnectionError", code: "BACKPLANE_CLOSED" }),
    assert.rejects(closed.nodes(), { name: "ConnectionError", code: "BACKPLANE_CLOSED" }),
  ]).then(() => {});
});
