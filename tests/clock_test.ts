// Copyright 2026 the Duplex authors. MIT license.
// Time under control: ManualClock itself, and every deadline that follows
// the `clock` option (keepalive, the closing handshake, handshake and
// request deadlines, receive() timeouts, the hub's grace period), driven
// in milliseconds of real time through the in-memory pair.
import assert from "node:assert/strict";
import { acceptWebSocket, Hub, ReadyState, SlowConsumerError, TimeoutError } from "../mod.ts";
import { createPair, ManualClock, testServer } from "../testing.ts";
import { MemoryListener, memoryPair } from "../_memory.ts";
import { DuplexServer } from "../_server.ts";

const ENCODER = new TextEncoder();

/** Whether `promise` has settled by now (after pending reactions have run). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

Deno.test("ManualClock fires due timers in time order, ties in the order set, each at its time", async () => {
  const clock = new ManualClock(100);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  const cleared = clock.setTimeout(() => fired.push("cleared"), 5);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => {
    fired.push(`c@${clock.now()}`);
    // Set by a callback, due within the advance: it fires in the same call.
    clock.setTimeout(() => fired.push(`d@${clock.now()}`), 5);
  }, 20);
  clock.setTimeout(() => fired.push(`e@${clock.now()}`), 31);
  clock.setTimeout(() => fired.push(`now@${clock.now()}`), -5);
  clock.clearTimeout(cleared);
  clock.clearTimeout(cleared); // twice: ignored
  clock.clearTimeout("not a handle");
  assert.equal(clock.pending, 5);
  assert.equal(clock.now(), 100);

  await clock.advance(30);
  assert.deepEqual(fired, ["now@100", "a@110", "b@120", "c@120", "d@125"]);
  assert.equal(clock.now(), 130);
  assert.equal(clock.pending, 1);
  await clock.advance(0);
  assert.equal(fired.length, 5);
  await clock.advance(1);
  assert.deepEqual(fired.slice(5), ["e@131"]);
  assert.equal(clock.pending, 0);
});

Deno.test("ManualClock refuses a start or a step that is not a finite number ≥ 0", async () => {
  assert.throws(() => new ManualClock(Infinity), RangeError);
  assert.throws(() => new ManualClock(Number.NaN), RangeError);
  const clock = new ManualClock();
  for (const ms of [-1, Number.NaN, Infinity, "5" as unknown as number]) {
    await assert.rejects(clock.advance(ms), RangeError);
  }
  assert.equal(clock.now(), 0);
});

Deno.test("keepalive on a ManualClock: a 30 s ping interval is answered, every 30 s, in no real time", async () => {
  const clock = new ManualClock();
  const { client, server } = await createPair({
    clock,
    server: { keepalive: { pingInterval: 30_000, pongTimeout: 10_000 } },
  });
  const pings: number[] = [];
  client.listen({ ping: () => pings.push(clock.now()) });
  await clock.advance(29_999);
  assert.deepEqual(pings, []);
  await clock.advance(1);
  assert.deepEqual(pings, [30_000]);
  // A pong is seen as activity at the next check (every quarter of the
  // shorter time: 2.5 s here), and the next ping comes 30 s after that.
  await clock.advance(70_000);
  assert.deepEqual(pings, [30_000, 62_500, 95_000]);
  assert.equal(server.readyState, ReadyState.OPEN);
  // The round-trip time is the clock's: it did not move meanwhile.
  assert.equal(await client.ping(), 0);
  await client.close(1000);
  assert.equal((await server.closed).code, 1000);
});

Deno.test("keepalive on a ManualClock: a peer that stops reading is cut with PONG_TIMEOUT after pingInterval + pongTimeout", async () => {
  const clock = new ManualClock();
  const { client, server } = await createPair({
    clock,
    server: { keepalive: { pingInterval: 30_000, pongTimeout: 10_000 } },
    client: { receiveHighWaterMark: 1 },
  });
  await server.send("unread"); // the client's queue is full: it reads no more
  await clock.advance(30_000); // the ping goes unanswered
  await clock.advance(9_999);
  assert.equal(server.readyState, ReadyState.OPEN);
  await clock.advance(1);
  const info = await server.closed;
  assert.equal(info.code, 1006);
  assert.ok(info.error instanceof TimeoutError);
  assert.equal(codeOf(info.error), "PONG_TIMEOUT");
  await client.expectMessage("unread");
  assert.equal((await client.closed).code, 1006);
});

Deno.test("closeTimeout on a ManualClock: a close the peer never answers ends at the deadline, not before", async () => {
  const clock = new ManualClock();
  const { client, server } = await createPair({
    clock,
    server: { closeTimeout: 5_000 },
    client: { receiveHighWaterMark: 1 },
  });
  await server.send("unread");
  const closing = server.close(1000, "bye");
  await clock.advance(4_999);
  assert.equal(await settled(closing), false);
  assert.equal(server.readyState, ReadyState.CLOSING);
  await clock.advance(1);
  const info = await closing;
  assert.equal(info.code, 1006);
  assert.equal(codeOf(info.error), "CLOSE_TIMEOUT");
  await client.expectMessage("unread");
  await client.closed;
});

Deno.test("handshakeTimeout on a ManualClock: a handler that never answers fails connect() at the deadline", async () => {
  const clock = new ManualClock();
  const release = Promise.withResolvers<Response>();
  const server = testServer(() => release.promise, { clock });
  try {
    const connecting = server.connect("/", { handshakeTimeout: 10_000 });
    connecting.catch(() => {});
    await clock.advance(9_999);
    assert.equal(await settled(connecting), false);
    await clock.advance(1);
    await assert.rejects(
      connecting,
      (error: unknown) => error instanceof TimeoutError && codeOf(error) === "HANDSHAKE_TIMEOUT",
    );
  } finally {
    release.resolve(new Response("late"));
    await server.shutdown();
  }
});

Deno.test("requestTimeout on a ManualClock: acceptWebSocket() and the server drop a request that does not arrive", async () => {
  const clock = new ManualClock();
  const [clientEnd, serverEnd] = memoryPair();
  const accepting = acceptWebSocket(serverEnd, { clock, requestTimeout: 10_000 });
  accepting.catch(() => {});
  await clientEnd.write(ENCODER.encode("GET / HTTP/1.1\r\n"));
  await clock.advance(9_999);
  assert.equal(await settled(accepting), false);
  await clock.advance(1);
  await assert.rejects(
    accepting,
    (error: unknown) => error instanceof TimeoutError && codeOf(error) === "HANDSHAKE_TIMEOUT",
  );
  assert.equal(await clientEnd.read(new Uint8Array(64)), null);
  clientEnd.close();

  // The same deadline in serve()'s HTTP server, whose timers are shared by every request.
  const listener = new MemoryListener();
  const server = new DuplexServer(
    { clock, requestTimeout: 5_000, onListen() {} },
    () => new Response("never"),
    listener,
  );
  const conn = listener.dial();
  try {
    await conn.write(ENCODER.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
    const read = conn.read(new Uint8Array(64));
    await clock.advance(4_999);
    assert.equal(await settled(read), false);
    await clock.advance(1);
    assert.equal(await read, null);
  } finally {
    conn.close();
    await server.shutdown();
  }
});

Deno.test("receive({ timeout }) follows the connection's clock", async () => {
  const clock = new ManualClock();
  const { client, server } = await createPair({ clock });
  const receiving = client.receive({ timeout: 1_000 });
  receiving.catch(() => {});
  await clock.advance(999);
  assert.equal(await settled(receiving), false);
  await clock.advance(1);
  await assert.rejects(receiving, (error: unknown) => codeOf(error) === "RECEIVE_TIMEOUT");
  // The assertions keep real time: they do not wait for the clock.
  await client.expectNoMessage({ within: 5 });
  await server.close(1000);
  await client.expectClose(1000);
});

Deno.test("a hub on a ManualClock: keepalive pings its members, and backpressureGrace decides a slow consumer", async () => {
  const clock = new ManualClock();
  const hub = new Hub({
    clock,
    pingInterval: 30_000,
    pongTimeout: 10_000,
    maxBackpressure: 64 * 1024,
    backpressureGrace: 1_000,
  });
  let pongs = 0;
  hub.on("pong", () => pongs++);
  const errors: Error[] = [];
  hub.on("error", (_, error) => errors.push(error));
  await using server = testServer(hub, { clock });
  const reader = await server.connect("/");
  const slow = await server.connect("/", { receiveHighWaterMark: 16 * 1024 });
  await clock.advance(30_000);
  assert.equal(pongs, 2);

  // 640 KiB in one turn: more than the pipe and the slow client take,
  // within the hard limit (1 MiB), so the grace period decides.
  const chunk = new Uint8Array(16 * 1024);
  for (let i = 0; i < 40; i++) hub.broadcast(chunk);
  for (let i = 0; i < 40; i++) await reader.expectMessage((m) => m instanceof Uint8Array);
  await clock.advance(999);
  assert.equal(errors.length, 0);
  assert.equal(hub.size, 2);
  // The first period: the pipe and the slow client took some of it (the
  // hub saw it progress), so it is given another period.
  await clock.advance(1);
  assert.equal(errors.length, 0);
  // The second: nothing more taken.
  await clock.advance(999);
  assert.equal(errors.length, 0);
  await clock.advance(1);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof SlowConsumerError);
  // The slow client reads again: what it had, then the close frame.
  while (true) {
    try {
      await slow.receive();
    } catch {
      break;
    }
  }
  assert.equal((await slow.closed).code, 1008);
  assert.equal(hub.size, 1);
  await reader.close(1000);
});
