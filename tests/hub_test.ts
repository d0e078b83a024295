// Copyright 2026 the Duplex authors. MIT license.
// The hub: rooms, broadcast (framed once), per-connection data, targeted
// sends, slow-consumer policies, keepalive, limits, events and figures, on
// Duplex's own server and inside Deno.serve. Real sockets on loopback; raw
// clients (bench/load.ts openRaw) stand in for peers that misbehave.
import assert from "node:assert/strict";
import {
  connect,
  type ConnectOptions,
  encodeFrame,
  type Frame,
  FrameDecoder,
  HandshakeError,
  Hub,
  type HubConnection,
  type HubEvents,
  type Message,
  Opcode,
  parseClosePayload,
  ProtocolError,
  ReadyState,
  serve,
  type Server,
  SlowConsumerError,
  TimeoutError,
  type WebSocketConnection,
} from "../mod.ts";
import { openRaw } from "../bench/load.ts";
import { zlibEngine } from "../_deflate.ts";
import { concat } from "./_util.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();

/** Serves `hub` on a free loopback port. */
function start<T>(hub: Hub<T>): { server: Server; port: number; url: string } {
  const server = serve({ hostname: HOST, port: 0, onListen() {} }, hub.handler);
  const port = server.addr.port;
  return { server, port, url: `ws://${HOST}:${port}/` };
}

// Waits started by nextEvent() and not yet settled, so that finish() can
// end them when a test fails before it gets to await them.
const pendingWaits = new Set<() => void>();

/**
 * Resolves with the arguments of the hub's next `event` that `accept`
 * takes; rejects after `timeout` ms. The listener removes itself after the
 * emit is over, so it never disturbs the other listeners of that event.
 */
function nextEvent<T, K extends keyof HubEvents<T>>(
  hub: Hub<T>,
  event: K,
  accept: (...args: Parameters<HubEvents<T>[K]>) => boolean = () => true,
  timeout = 2_000,
): Promise<Parameters<HubEvents<T>[K]>> {
  let cancel = () => {};
  const promise = new Promise<Parameters<HubEvents<T>[K]>>((resolve, reject) => {
    let done = false;
    const stop = (error: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      reject(error);
    };
    const timer = setTimeout(
      () => stop(new Error(`No "${event}" event within ${timeout} ms`)),
      timeout,
    );
    const listener = (...args: Parameters<HubEvents<T>[K]>) => {
      if (done || !accept(...args)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(off);
      resolve(args);
    };
    const off = hub.on(event, listener as unknown as HubEvents<T>[K]);
    cancel = () => stop(new Error(`Stopped waiting for "${event}"`));
  });
  // A wait abandoned by a failing test must not surface in another one.
  promise.catch(() => {});
  pendingWaits.add(cancel);
  const forget = () => pendingWaits.delete(cancel);
  promise.then(forget, forget);
  return promise;
}

/** Connects a Duplex client and returns it with its connection in the hub. */
async function connectMember<T>(
  hub: Hub<T>,
  url: string,
  options: ConnectOptions = {},
): Promise<[WebSocketConnection, HubConnection<T>]> {
  const opened = nextEvent(hub, "open");
  const client = await connect(url, { handshakeTimeout: 2_000, ...options });
  const [member] = await opened;
  return [client, member];
}

/** Opens a raw client (handshake by hand, then nothing) and returns it with its hub connection. */
async function openRawMember<T>(
  hub: Hub<T>,
  port: number,
): Promise<[Deno.Conn, HubConnection<T>]> {
  const opened = nextEvent(hub, "open");
  const conn = await openRaw(HOST, port);
  const [member] = await opened;
  return [conn, member];
}

/** Polls `condition` every 5 ms; rejects after `timeout` ms. */
async function waitFor(condition: () => boolean, what: string, timeout = 2_000): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Receives messages up to and including `last`. */
async function receiveUntil(client: WebSocketConnection, last: Message): Promise<Message[]> {
  const messages: Message[] = [];
  while (true) {
    const message = await client.receive({ timeout: 2_000 });
    messages.push(message);
    if (message === last) return messages;
  }
}

/**
 * Reads server frames from a raw client until `enough` says so or the
 * connection ends; returns the frames and every byte read.
 */
async function readFrames(
  conn: Deno.Conn,
  enough: (frames: Frame[]) => boolean = () => false,
  timeout = 2_000,
  allowRsv1 = false,
): Promise<{ frames: Frame[]; bytes: Uint8Array; eof: boolean }> {
  const decoder = new FrameDecoder({ role: "client", maxMessageSize: 1 << 30, allowRsv1 });
  const frames: Frame[] = [];
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeout);
  try {
    while (!enough(frames)) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (timedOut) {
          throw new Error(`No more frames within ${timeout} ms (got ${frames.length})`);
        }
        if (error instanceof Deno.errors.ConnectionReset) n = null;
        else throw error;
      }
      if (n === null) return { frames, bytes: concat(...chunks), eof: true };
      const chunk = buffer.slice(0, n);
      chunks.push(chunk.slice());
      decoder.push(chunk);
      for (let frame; (frame = decoder.next());) {
        frames.push({ ...frame, payload: frame.payload.slice() });
      }
    }
    return { frames, bytes: concat(...chunks), eof: false };
  } finally {
    clearTimeout(timer);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Closes raw clients, then Duplex clients, then the server, and checks the hub is empty. */
async function finish<T>(
  hub: Hub<T>,
  server: { shutdown(): Promise<void> },
  clients: WebSocketConnection[],
  raws: Deno.Conn[] = [],
): Promise<void> {
  for (const cancel of [...pendingWaits]) cancel();
  for (const raw of raws) closeQuietly(raw);
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
  await server.shutdown();
  await Promise.all(clients.map((client) => client.closed));
  await waitFor(() => hub.size === 0, "every hub connection to close");
}

/** A binary message of `size` bytes, numbered `index` in its first four bytes. */
function numbered(index: number, size: number): Uint8Array {
  const payload = new Uint8Array(size);
  new DataView(payload.buffer).setUint32(0, index);
  return payload;
}

function numberOf(message: Message): number {
  assert.ok(message instanceof Uint8Array, "a binary broadcast arrived as text");
  return new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0);
}

// Room algebra.

Deno.test("join and leave return whether membership changed; rooms, members and roomSize follow", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB, b] = await connectMember(hub, url);
  const [clientC, c] = await connectMember(hub, url);
  try {
    assert.deepEqual(hub.rooms, []);
    assert.equal(a.join("x"), true);
    assert.equal(a.join("x"), false, "joining twice is not a change");
    assert.equal(b.join("x"), true);
    assert.equal(c.join("y"), true);
    assert.equal(hub.join(c, "x"), true, "Hub.join works like HubConnection.join");
    assert.equal(hub.join(c, "x"), false);

    assert.deepEqual(hub.members("x"), [a, b, c], "members are in the order they joined");
    assert.deepEqual(hub.members("y"), [c]);
    assert.deepEqual(hub.members("nowhere"), []);
    assert.equal(hub.roomSize("x"), 3);
    assert.equal(hub.roomSize("y"), 1);
    assert.equal(hub.roomSize("nowhere"), 0);
    assert.deepEqual(hub.rooms, ["x", "y"]);
    assert.equal(a.in("x"), true);
    assert.equal(a.in("y"), false);
    assert.equal(c.in("y"), true);
    assert.deepEqual([...c.rooms], ["y", "x"]);
    assert.deepEqual(hub.stats().rooms, { x: 3, y: 1 });

    assert.equal(b.leave("x"), true);
    assert.equal(b.leave("x"), false, "leaving twice is not a change");
    assert.equal(b.leave("never-joined"), false);
    assert.equal(hub.leave(b, "x"), false);
    assert.equal(b.in("x"), false);
    assert.deepEqual([...b.rooms], []);
    assert.deepEqual(hub.members("x"), [a, c]);

    // An emptied room disappears; made again, it comes last.
    assert.equal(hub.leave(c, "y"), true);
    assert.deepEqual(hub.rooms, ["x"]);
    assert.equal(hub.roomSize("y"), 0);
    assert.deepEqual(hub.members("y"), []);
    assert.deepEqual(hub.stats().rooms, { x: 2 });
    assert.equal(b.join("y"), true);
    assert.deepEqual(hub.rooms, ["x", "y"]);
    assert.equal(a.leave("x"), true);
    assert.equal(c.leave("x"), true);
    assert.deepEqual(hub.rooms, ["y"]);
    assert.deepEqual(hub.stats().rooms, { y: 1 });
  } finally {
    await finish(hub, server, [clientA, clientB, clientC]);
  }
});

Deno.test("a connection leaves every room when the client closes it", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB, b] = await connectMember(hub, url);
  try {
    a.join("red");
    a.join("blue");
    b.join("blue");
    const closed = nextEvent(hub, "close", (member) => member === a);
    await clientA.close(1000, "bye");
    const [, code, reason] = await closed;
    assert.equal(code, 1000);
    assert.equal(reason, "bye");
    assert.deepEqual([...a.rooms], []);
    assert.equal(a.in("blue"), false);
    assert.deepEqual(hub.rooms, ["blue"], "red emptied and disappeared");
    assert.deepEqual(hub.members("blue"), [b]);
    assert.equal(hub.roomSize("red"), 0);
    assert.equal(a.state, ReadyState.CLOSED);
  } finally {
    await finish(hub, server, [clientA, clientB]);
  }
});

Deno.test("a connection leaves every room when the server closes it, and cannot join again", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB, b] = await connectMember(hub, url);
  try {
    a.join("red");
    a.join("blue");
    b.join("red");
    // The hub's close listener runs before close() resolves: rooms are already left.
    const roomsAtClose: string[][] = [];
    hub.on("close", (member) => roomsAtClose.push([...member.rooms]));
    const info = await a.close(4001, "kicked");
    assert.equal(info.code, 4001);
    assert.deepEqual(roomsAtClose, [[]], "the close event comes after leaving the rooms");
    assert.deepEqual([...a.rooms], []);
    assert.deepEqual(hub.rooms, ["red"]);
    assert.deepEqual(hub.members("red"), [b]);
    const clientSaw = await clientA.closed;
    assert.equal(clientSaw.code, 4001);
    assert.equal(clientSaw.reason, "kicked");

    // A closed connection joins nothing, and no room is created for it.
    assert.equal(a.join("green"), false);
    assert.equal(hub.join(a, "red"), false);
    assert.equal(a.in("green"), false);
    assert.deepEqual(hub.rooms, ["red"]);
    assert.equal(a.leave("red"), false);
  } finally {
    await finish(hub, server, [clientA, clientB]);
  }
});

// Broadcast.

Deno.test("broadcast reaches exactly the right peers and returns the number of deliveries", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB, b] = await connectMember(hub, url);
  const [clientC] = await connectMember(hub, url);
  try {
    a.join("r");
    b.join("r");
    assert.equal(hub.broadcast("all"), 3);
    assert.equal(hub.broadcast("not a", { except: a }), 2);
    assert.equal(hub.broadcast("not b", { except: b.id }), 2);
    assert.equal(hub.broadcast("room r", { room: "r" }), 2);
    assert.equal(hub.broadcast("room r, not a", { room: "r", except: a }), 1);
    assert.equal(hub.broadcast("room r, not b", { room: "r", except: b.id }), 1);
    assert.equal(hub.broadcast("ghost room", { room: "ghost" }), 0);
    assert.equal(hub.broadcast("unknown except", { except: "no-such-id" }), 3);
    assert.equal(hub.broadcast(new Uint8Array([1, 2, 3])), 3);
    assert.equal(hub.broadcast(new Uint8Array([4, 5]).buffer, { room: "r" }), 2);
    const view = new DataView(new Uint8Array([9, 8, 7, 6, 5]).buffer, 1, 3);
    assert.equal(hub.broadcast(view, { except: a }), 2);
    assert.equal(hub.broadcast("end"), 3);

    const [gotA, gotB, gotC] = await Promise.all(
      [clientA, clientB, clientC].map((client) => receiveUntil(client, "end")),
    );
    assert.deepEqual(gotA, [
      "all",
      "not b",
      "room r",
      "room r, not b",
      "unknown except",
      new Uint8Array([1, 2, 3]),
      new Uint8Array([4, 5]),
      "end",
    ]);
    assert.deepEqual(gotB, [
      "all",
      "not a",
      "room r",
      "room r, not a",
      "unknown except",
      new Uint8Array([1, 2, 3]),
      new Uint8Array([4, 5]),
      new Uint8Array([8, 7, 6]),
      "end",
    ]);
    assert.deepEqual(gotC, [
      "all",
      "not a",
      "not b",
      "unknown except",
      new Uint8Array([1, 2, 3]),
      new Uint8Array([8, 7, 6]),
      "end",
    ]);
    // Text stays text, binary stays binary.
    assert.equal(typeof gotA[0], "string");
    assert.ok(gotA[5] instanceof Uint8Array);
    assert.equal(hub.stats().messagesOut, 3 + 2 + 2 + 2 + 1 + 1 + 0 + 3 + 3 + 2 + 2 + 3);
  } finally {
    await finish(hub, server, [clientA, clientB, clientC]);
  }
});

Deno.test("broadcast frames a message once: every peer receives the same unfragmented bytes", async () => {
  const hub = new Hub();
  const { server, port, url } = start(hub);
  const raws: Deno.Conn[] = [];
  const [client] = await connectMember(hub, url);
  try {
    for (let i = 0; i < 3; i++) raws.push((await openRawMember(hub, port))[0]);
    const text = "héllo, wörld — ✓";
    const big = new Uint8Array(70_000).map((_, i) => (i * 31 + 7) & 0xff); // a 64-bit length
    const medium = new Uint8Array(300).map((_, i) => i & 0xff); // a 16-bit length
    assert.equal(hub.broadcast(text), 4);
    assert.equal(hub.broadcast(big), 4);
    assert.equal(hub.broadcast(medium.buffer), 4);
    const expected = concat(
      encodeFrame(Opcode.Text, text),
      encodeFrame(Opcode.Binary, big),
      encodeFrame(Opcode.Binary, medium),
    );
    const received = await Promise.all(
      raws.map((raw) => readFrames(raw, (frames) => frames.length === 3)),
    );
    for (const { frames, bytes } of received) {
      assert.deepEqual(bytes, expected, "a peer received other bytes than the one frame");
      assert.deepEqual(frames.map((frame) => [frame.opcode, frame.fin]), [
        [Opcode.Text, true],
        [Opcode.Binary, true],
        [Opcode.Binary, true],
      ]);
    }
    assert.deepEqual(received[0]!.bytes, received[1]!.bytes);
    assert.deepEqual(received[1]!.bytes, received[2]!.bytes);
    // A Duplex client decodes the same frames into the same messages.
    assert.equal(await client.receive({ timeout: 2_000 }), text);
    assert.deepEqual(await client.receive({ timeout: 2_000 }), big);
    assert.deepEqual(await client.receive({ timeout: 2_000 }), medium);
    assert.equal(hub.stats().bytesOut, 4 * (encoder.encode(text).length + big.length + 300));
  } finally {
    await finish(hub, server, [client], raws);
  }
});

// Per-connection data and metadata.

Deno.test("data is made from the upgrade request, typed, and mutable; metadata is get/set", async () => {
  interface Profile {
    name: string;
    messages: number;
  }
  const hub = new Hub<Profile>({
    data: (request) => ({
      name: new URL(request.url).searchParams.get("name") ?? "anonymous",
      messages: 0,
    }),
  });
  hub.on("message", (member, message) => {
    member.data.messages++;
    member.send(`${member.data.name} #${member.data.messages}: ${message}`);
  });
  const { server, url } = start(hub);
  const [alice, aliceMember] = await connectMember(hub, `${url}chat?name=alice`);
  const [anonymous, anonymousMember] = await connectMember(hub, `${url}chat`);
  try {
    assert.deepEqual(aliceMember.data, { name: "alice", messages: 0 });
    assert.deepEqual(anonymousMember.data, { name: "anonymous", messages: 0 });
    assert.equal(aliceMember.url, `${url}chat?name=alice`);
    assert.equal((aliceMember.remoteAddr as Deno.NetAddr | undefined)?.hostname, HOST);
    assert.equal(aliceMember.state, ReadyState.OPEN);

    await alice.send("hi");
    assert.equal(await alice.receive({ timeout: 2_000 }), "alice #1: hi");
    await alice.send("again");
    assert.equal(await alice.receive({ timeout: 2_000 }), "alice #2: again");
    await anonymous.send("hey");
    assert.equal(await anonymous.receive({ timeout: 2_000 }), "anonymous #1: hey");
    assert.equal(aliceMember.data.messages, 2);

    aliceMember.data.name = "Alice";
    await alice.send("renamed");
    assert.equal(await alice.receive({ timeout: 2_000 }), "Alice #3: renamed");
    aliceMember.data = { name: "A.", messages: 0 };
    await alice.send("replaced");
    assert.equal(await alice.receive({ timeout: 2_000 }), "A. #1: replaced");

    assert.equal(aliceMember.get("role"), undefined);
    assert.deepEqual(aliceMember.metadata, {});
    aliceMember.set("role", "admin");
    aliceMember.set("lang", "en");
    aliceMember.set("role", "owner");
    assert.equal(aliceMember.get("role"), "owner");
    assert.deepEqual(aliceMember.metadata, { role: "owner", lang: "en" });
    assert.deepEqual(anonymousMember.metadata, {}, "metadata is per connection");
    // The plain object is a copy.
    aliceMember.metadata.role = "changed";
    assert.equal(aliceMember.get("role"), "owner");
  } finally {
    await finish(hub, server, [alice, anonymous]);
  }
});

Deno.test("without a data factory every connection starts with an empty object", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [client, member] = await connectMember(hub, url);
  try {
    assert.deepEqual(member.data, {});
  } finally {
    await finish(hub, server, [client]);
  }
});

// Targeted sends.

Deno.test("hub.get finds a connection by id for a targeted send; send returns false after close", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB, b] = await connectMember(hub, url);
  try {
    assert.notEqual(a.id, b.id);
    assert.equal(hub.get(a.id), a);
    assert.equal(hub.get(b.id), b);
    assert.equal(hub.get("no-such-id"), undefined);
    assert.equal(hub.size, 2);
    assert.deepEqual([...hub.connections], [a, b]);

    assert.equal(hub.get(b.id)!.send("just for b"), true);
    assert.equal(hub.get(b.id)!.send(new Uint8Array([42])), true);
    assert.equal(hub.broadcast("end"), 2);
    assert.deepEqual(await receiveUntil(clientA, "end"), ["end"]);
    assert.deepEqual(await receiveUntil(clientB, "end"), [
      "just for b",
      new Uint8Array([42]),
      "end",
    ]);

    const closed = nextEvent(hub, "close", (member) => member === b);
    await clientB.close(1000);
    await closed;
    assert.equal(hub.get(b.id), undefined);
    assert.equal(b.send("too late"), false);
    assert.equal(hub.sendTo(b, "too late"), false);
    assert.equal(hub.size, 1);
    assert.deepEqual([...hub.connections], [a]);
    assert.equal(hub.broadcast("only a"), 1);
    assert.equal(await clientA.receive({ timeout: 2_000 }), "only a");
  } finally {
    await finish(hub, server, [clientA, clientB]);
  }
});

// Slow consumers.

const MAX_BACKPRESSURE = 64 * 1024;
const MESSAGE_SIZE = 16 * 1024;
// Enough 16 KiB messages to fill a non-reading peer's kernel buffers
// (a few MiB on loopback), with room to spare.
const MAX_MESSAGES = 2_000;

Deno.test('backpressure "drop" skips a peer that never reads, counts it, and bounds its buffer', async () => {
  const hub = new Hub({
    backpressure: "drop",
    maxBackpressure: MAX_BACKPRESSURE,
    backpressureGrace: 100,
  });
  const { server, port, url } = start(hub);
  const [readerA] = await connectMember(hub, url);
  const [readerB] = await connectMember(hub, url);
  const [slow, slowMember] = await openRawMember(hub, port);
  try {
    const started = performance.now();
    let sent = 0;
    let skipped = 0;
    let maxBuffered = 0;
    while (sent < MAX_MESSAGES && skipped < 50 && performance.now() - started < 4_000) {
      const delivered = hub.broadcast(numbered(sent, MESSAGE_SIZE));
      assert.ok(delivered === 2 || delivered === 3, `delivered to ${delivered} peers`);
      skipped += 3 - delivered;
      maxBuffered = Math.max(maxBuffered, slowMember.bufferedAmount);
      // The readers read everything, message by message.
      const [gotA, gotB] = await Promise.all([
        readerA.receive({ timeout: 2_000 }),
        readerB.receive({ timeout: 2_000 }),
      ]);
      assert.equal(numberOf(gotA), sent);
      assert.equal(numberOf(gotB), sent);
      sent++;
    }
    assert.ok(skipped > 0, `the slow peer was never skipped in ${sent} messages`);
    const stats = hub.stats();
    assert.equal(stats.dropped, skipped);
    assert.equal(stats.messagesOut, 3 * sent - skipped);
    // Over the mark during the grace period, never past the hard ceiling.
    assert.ok(
      maxBuffered <= 16 * MAX_BACKPRESSURE + MESSAGE_SIZE,
      `${maxBuffered} bytes buffered for the slow peer`,
    );
    // Dropping is not closing.
    assert.equal(slowMember.state, ReadyState.OPEN);
    assert.equal(hub.size, 3);
    // A targeted send to the slow peer is dropped and counted too.
    assert.equal(slowMember.send(numbered(sent, MESSAGE_SIZE)), false);
    assert.equal(hub.stats().dropped, skipped + 1);
  } finally {
    await finish(hub, server, [readerA, readerB], [slow]);
  }
});

Deno.test('backpressure "close" closes a peer that never reads with 1008; the others keep receiving', async () => {
  const hub = new Hub({
    backpressure: "close",
    maxBackpressure: MAX_BACKPRESSURE,
    backpressureGrace: 100,
    // The slow peer cannot read the close frame: bound the closing handshake.
    closeTimeout: 300,
  });
  const { server, port, url } = start(hub);
  const [readerA] = await connectMember(hub, url);
  const [readerB] = await connectMember(hub, url);
  const [slow, slowMember] = await openRawMember(hub, port);
  try {
    const slowClosed = nextEvent(hub, "close", (member) => member === slowMember, 3_000);
    const started = performance.now();
    let sent = 0;
    let closedAt = -1;
    while (sent < MAX_MESSAGES && performance.now() - started < 4_000) {
      const delivered = hub.broadcast(numbered(sent, MESSAGE_SIZE));
      if (closedAt < 0 && delivered === 2) closedAt = sent;
      if (closedAt >= 0) {
        assert.equal(delivered, 2, "the closed peer is not sent to any more");
        assert.notEqual(slowMember.state, ReadyState.OPEN);
      }
      const [gotA, gotB] = await Promise.all([
        readerA.receive({ timeout: 2_000 }),
        readerB.receive({ timeout: 2_000 }),
      ]);
      assert.equal(numberOf(gotA), sent);
      assert.equal(numberOf(gotB), sent);
      sent++;
      if (closedAt >= 0 && sent > closedAt + 20) break;
    }
    assert.ok(closedAt >= 0, `the slow peer was never closed in ${sent} messages`);
    assert.equal(hub.stats().dropped, 0, '"close" drops nothing');
    const [, code, reason] = await slowClosed;
    assert.equal(
      code,
      1008,
      `the hub reported the slow consumer's close as ${code} ${JSON.stringify(reason)}`,
    );
    assert.equal(hub.stats().closes["1008"], 1);
    assert.equal(hub.size, 2);
    // The others are still served.
    assert.equal(hub.broadcast("still here"), 2);
    assert.equal(await readerA.receive({ timeout: 2_000 }), "still here");
    assert.equal(await readerB.receive({ timeout: 2_000 }), "still here");
  } finally {
    await finish(hub, server, [readerA, readerB], [slow]);
  }
});

Deno.test("a burst over maxBackpressure to a peer that reads is delivered whole, with the default policy", async () => {
  // 100 × 16 KiB in one turn: 1.6 MiB queued before anything is written,
  // over the default 1 MiB mark. The peer reads, so it is not slow.
  const hub = new Hub();
  hub.on("open", (member) => {
    for (let i = 0; i < 100; i++) assert.equal(member.send(numbered(i, MESSAGE_SIZE)), true);
  });
  const { server, url } = start(hub);
  const [client] = await connectMember(hub, url);
  try {
    for (let i = 0; i < 100; i++) {
      assert.equal(numberOf(await client.receive({ timeout: 5_000 })), i);
    }
    assert.equal(client.readyState, ReadyState.OPEN);
    assert.deepEqual(hub.stats().closes, {});
  } finally {
    await finish(hub, server, [client]);
  }
});

Deno.test('backpressure "close" sends a real 1008 close frame, after dropping what the peer had not taken', async () => {
  // The raw peer never answers the close: bound the closing handshake.
  const hub = new Hub({
    maxBackpressure: MAX_BACKPRESSURE,
    backpressureGrace: 50,
    closeTimeout: 300,
  });
  const { server, port, url } = start(hub);
  const [reader] = await connectMember(hub, url);
  const [slow, slowMember] = await openRawMember(hub, port);
  try {
    const closed = nextEvent(hub, "close", (member) => member === slowMember, 5_000);
    const error = nextEvent(hub, "error", (member) => member === slowMember, 5_000);
    // Fill the slow peer's socket, then let the grace period pass.
    let sent = 0;
    while (slowMember.state === ReadyState.OPEN && sent < MAX_MESSAGES) {
      hub.broadcast(numbered(sent++, MESSAGE_SIZE));
      assert.equal(numberOf(await reader.receive({ timeout: 2_000 })), sent - 1);
    }
    assert.ok((await error)[1] instanceof SlowConsumerError);
    // The peer reads again: after the frames the kernel already took, a close frame with 1008.
    const { frames } = await readFrames(slow, (got) => got.at(-1)?.opcode === Opcode.Close, 5_000);
    const close = frames.at(-1)!;
    assert.equal(close.opcode, 0x8);
    assert.equal(parseClosePayload(close.payload).code, 1008);
    assert.ok(frames.length - 1 < sent, "the frames queued for it were dropped, not all sent");
    const [, code, reason] = await closed;
    assert.deepEqual([code, reason], [1008, "slow consumer"]);
  } finally {
    await finish(hub, server, [reader], [slow]);
  }
});

Deno.test("HubConnection.drained() paces a producer so that a slow peer is never cut", async () => {
  const hub = new Hub({
    maxBackpressure: MAX_BACKPRESSURE,
    backpressureGrace: 0,
    closeTimeout: 200,
  });
  const { server, port } = start(hub);
  const [raw, member] = await openRawMember(hub, port);
  try {
    // With no grace at all, only drained() keeps this peer from the policy.
    const reading = readFrames(raw, (got) => got.at(-1)?.opcode === Opcode.Close, 10_000);
    reading.catch(() => {}); // awaited below; a failure before that must not go unhandled
    for (let i = 0; i < 200; i++) {
      // Four messages ahead at most: 64 KiB, the mark.
      if (member.bufferedAmount > MAX_BACKPRESSURE - 4 * MESSAGE_SIZE) await member.drained();
      assert.equal(member.send(numbered(i, MESSAGE_SIZE)), true, `message ${i}`);
    }
    assert.equal(member.state, ReadyState.OPEN);
    await member.close(1000);
    const { frames } = await reading;
    assert.equal(frames.length, 201);
    // Never cut as a slow consumer (the raw peer sends no close reply: 1006).
    await waitFor(() => hub.size === 0, "the close");
    assert.equal(hub.stats().closes["1008"], undefined);
  } finally {
    await finish(hub, server, [], [raw]);
  }
});

// Keepalive.

Deno.test("keepalive terminates a peer that never answers pings (1006, PONG_TIMEOUT) and keeps a live one", async () => {
  // The pong timeout leaves a loaded machine room: the live client must never look dead.
  const hub = new Hub({ pingInterval: 50, pongTimeout: 400 });
  const { server, port, url } = start(hub);
  const pongs = new Map<string, number>();
  hub.on("pong", (member) => pongs.set(member.id, (pongs.get(member.id) ?? 0) + 1));
  const errors: Error[] = [];
  hub.on("error", (_member, error) => errors.push(error));
  const [client, live] = await connectMember(hub, url);
  const started = performance.now();
  const [dead, deadMember] = await openRawMember(hub, port);
  try {
    const [, code] = await nextEvent(hub, "close", (member) => member === deadMember, 4_000);
    const elapsed = performance.now() - started;
    assert.equal(code, 1006);
    assert.ok(elapsed >= 400, `the dead peer was dropped after ${elapsed.toFixed(0)} ms`);
    assert.ok(elapsed < 3_000, `the dead peer took ${elapsed.toFixed(0)} ms to be dropped`);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof TimeoutError);
    assert.equal((errors[0] as TimeoutError).code, "PONG_TIMEOUT");
    // It was pinged, and dropped without a close frame.
    const { frames, eof } = await readFrames(dead);
    assert.equal(eof, true);
    assert.ok(frames.length > 0 && frames.every((frame) => frame.opcode === Opcode.Ping));

    // The Duplex client answers every ping and stays open for many intervals.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(live.state, ReadyState.OPEN);
    assert.equal(hub.get(live.id), live);
    assert.ok((pongs.get(live.id) ?? 0) >= 3, `only ${pongs.get(live.id) ?? 0} pongs`);
    await client.send("still alive");
    assert.equal(hub.broadcast("yes"), 1);
    assert.equal(await client.receive({ timeout: 2_000 }), "yes");
    assert.deepEqual(hub.stats().closes, { "1006": 1 });
  } finally {
    await finish(hub, server, [client], [dead]);
  }
});

// Limits.

Deno.test("maxConnections refuses the next upgrade with 503 and counts it; a freed slot is reused", async () => {
  const hub = new Hub({ maxConnections: 2 });
  let opens = 0;
  hub.on("open", () => opens++);
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB] = await connectMember(hub, url);
  let clientC: WebSocketConnection | undefined;
  try {
    await assert.rejects(
      connect(url),
      (error) =>
        error instanceof HandshakeError && error.status === 503 &&
        error.headers.get("retry-after") === "5",
    );
    assert.equal(hub.stats().refused, 1);
    assert.equal(hub.size, 2);
    assert.equal(opens, 2);
    await assert.rejects(
      connect(url),
      (error) => error instanceof HandshakeError && error.status === 503,
    );
    assert.equal(hub.stats().refused, 2);

    const closed = nextEvent(hub, "close", (member) => member === a);
    await clientA.close(1000);
    await closed;
    assert.equal(hub.size, 1);
    [clientC] = await connectMember(hub, url);
    assert.equal(hub.size, 2);
    assert.equal(opens, 3);
    assert.equal(hub.stats().refused, 2);
  } finally {
    await finish(hub, server, [clientA, clientB, ...(clientC ? [clientC] : [])]);
  }
});

Deno.test("allowedOrigins refuses a browser from another origin with 403 through the hub", async () => {
  const hub = new Hub({ allowedOrigins: ["https://chat.example"] });
  let opens = 0;
  hub.on("open", () => opens++);
  const { server, url } = start(hub);
  const clients: WebSocketConnection[] = [];
  try {
    await assert.rejects(
      connect(url, { headers: { origin: "https://evil.example" } }),
      (error) => error instanceof HandshakeError && error.status === 403,
    );
    assert.equal(hub.size, 0);
    assert.equal(opens, 0);
    assert.equal(hub.stats().refused, 0, "refused counts maxConnections only");
    clients.push((await connectMember(hub, url))[0]);
    const allowed = { headers: { origin: "https://chat.example" } };
    clients.push((await connectMember(hub, url, allowed))[0]);
    assert.equal(hub.size, 2, "an allowed origin and a non-browser client are accepted");
    assert.equal(opens, 2);
  } finally {
    await finish(hub, server, clients);
  }
});

// Events.

Deno.test("events: open, message, ping, pong, close with code and reason; on() returns a remover", async () => {
  const hub = new Hub({ pingInterval: 50, pongTimeout: 1_000 });
  const log: string[] = [];
  hub.on("open", (member) => log.push(`open ${member.id}`));
  const offMessage = hub.on("message", (member, data) => log.push(`message ${member.id} ${data}`));
  const seenByOther: Message[] = [];
  hub.on("message", (_member, data) => seenByOther.push(data));
  const pings: Uint8Array[] = [];
  hub.on("ping", (_member, data) => pings.push(data));
  hub.on("close", (member, code, reason) => log.push(`close ${member.id} ${code} ${reason}`));
  const { server, url } = start(hub);
  const [client, member] = await connectMember(hub, url);
  try {
    const id = member.id;
    await client.send("hello");
    // A ping from the client reaches "ping" (already answered).
    await client.ping("are you there?");
    assert.deepEqual(pings, [encoder.encode("are you there?")]);
    // The hub's keepalive ping is answered by the client: its pong reaches "pong".
    const [pongMember, pongData] = await nextEvent(hub, "pong", (m) => m === member);
    assert.equal(pongMember, member);
    assert.ok(pongData instanceof Uint8Array);

    offMessage();
    offMessage(); // twice is harmless
    await client.send("unheard");
    await client.ping(); // once the pong is back, the message has been handled
    assert.deepEqual(seenByOther, ["hello", "unheard"]);

    const closed = nextEvent(hub, "close", (m) => m === member);
    await client.close(4000, "done here");
    await closed;
    assert.deepEqual(log, [
      `open ${id}`,
      `message ${id} hello`,
      `close ${id} 4000 done here`,
    ]);
  } finally {
    await finish(hub, server, [client]);
  }
});

Deno.test("events: an unmasked client frame fires error (ProtocolError 1002), then close 1002", async () => {
  const hub = new Hub();
  const events: string[] = [];
  const errors: Error[] = [];
  hub.on("error", (_member, error) => {
    events.push("error");
    errors.push(error);
  });
  hub.on("close", (_member, code) => events.push(`close ${code}`));
  const { server, port } = start(hub);
  const [raw, member] = await openRawMember(hub, port);
  try {
    const closed = nextEvent(hub, "close", (m) => m === member);
    await raw.write(encodeFrame(Opcode.Text, "not masked")); // RFC 6455 §5.1: clients must mask
    const { frames } = await readFrames(raw, (got) => got.some((f) => f.opcode === Opcode.Close));
    const close = frames.find((frame) => frame.opcode === Opcode.Close)!;
    assert.equal(parseClosePayload(close.payload).code, 1002);
    closeQuietly(raw);
    const [, code] = await closed;
    assert.equal(code, 1002);
    assert.deepEqual(events, ["error", "close 1002"]);
    assert.ok(errors[0] instanceof ProtocolError);
    assert.equal((errors[0] as ProtocolError).closeCode, 1002);
    assert.deepEqual(hub.stats().closes, { "1002": 1 });
    assert.equal(hub.stats().messagesIn, 0);
  } finally {
    await finish(hub, server, [], [raw]);
  }
});

Deno.test("a listener that removes itself does not keep the next listener from running", async () => {
  const hub = new Hub();
  const calls: string[] = [];
  const offFirst = hub.on("open", () => {
    calls.push("first");
    offFirst();
  });
  hub.on("open", () => calls.push("second"));
  const { server, url } = start(hub);
  const clients: WebSocketConnection[] = [];
  try {
    clients.push(await connect(url));
    await waitFor(() => hub.size === 1, "the first connection");
    clients.push(await connect(url));
    await waitFor(() => hub.size === 2, "the second connection");
    assert.deepEqual(calls, ["first", "second", "second"]);
  } finally {
    await finish(hub, server, clients);
  }
});

// Figures.

Deno.test("stats count connections, rooms, messages and bytes in and out, and closes by code", async () => {
  const hub = new Hub();
  hub.on("message", (member, data) => hub.broadcast(data, { except: member }));
  const { server, url } = start(hub);
  const [clientA, a] = await connectMember(hub, url);
  const [clientB, b] = await connectMember(hub, url);
  try {
    a.join("lobby");
    a.join("all");
    b.join("all");
    assert.deepEqual(hub.stats(), {
      connections: 2,
      rooms: { lobby: 1, all: 2 },
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      dropped: 0,
      refused: 0,
      closes: {},
    });
    await clientA.send("hello"); // in 1 (5 bytes), out 1 to b (5)
    assert.equal(await clientB.receive({ timeout: 2_000 }), "hello");
    await clientB.send(new Uint8Array(10)); // in 1 (10 bytes), out 1 to a (10)
    assert.deepEqual(await clientA.receive({ timeout: 2_000 }), new Uint8Array(10));
    assert.equal(hub.broadcast("tick", { room: "all" }), 2); // out 2 (4 + 4)
    assert.equal(a.send("xy"), true); // out 1 (2)
    assert.equal(await clientA.receive({ timeout: 2_000 }), "tick");
    assert.equal(await clientA.receive({ timeout: 2_000 }), "xy");
    assert.equal(await clientB.receive({ timeout: 2_000 }), "tick");
    assert.deepEqual(hub.stats(), {
      connections: 2,
      rooms: { lobby: 1, all: 2 },
      messagesIn: 2,
      messagesOut: 5,
      bytesIn: 15,
      bytesOut: 5 + 10 + 8 + 2,
      dropped: 0,
      refused: 0,
      closes: {},
    });

    const closedA = nextEvent(hub, "close", (m) => m === a);
    await clientA.close(1000);
    await closedA;
    await b.close(4002, "kicked");
    const stats = hub.stats();
    assert.equal(stats.connections, 0);
    assert.deepEqual(stats.rooms, {});
    assert.deepEqual(stats.closes, { "1000": 1, "4002": 1 });
    // The figures are a snapshot, not live objects.
    stats.closes["1000"] = 99;
    assert.equal(hub.stats().closes["1000"], 1);
  } finally {
    await finish(hub, server, [clientA, clientB]);
  }
});

Deno.test("stats count text payloads in UTF-8 bytes, as they go over the wire", async () => {
  const hub = new Hub();
  const { server, url } = start(hub);
  const [client, member] = await connectMember(hub, url);
  try {
    const message = nextEvent(hub, "message");
    await client.send("héllo"); // 6 bytes of UTF-8, 5 UTF-16 units
    await message;
    assert.equal(hub.broadcast("€"), 1); // 3 bytes
    assert.equal(member.send("€"), true); // 3 bytes
    assert.equal(await client.receive({ timeout: 2_000 }), "€");
    assert.equal(await client.receive({ timeout: 2_000 }), "€");
    const stats = hub.stats();
    assert.equal(stats.bytesIn, encoder.encode("héllo").length, "bytesIn");
    assert.equal(stats.bytesOut, 2 * encoder.encode("€").length, "bytesOut");
  } finally {
    await finish(hub, server, [client]);
  }
});

// Deno.serve.

Deno.test("the hub works inside Deno.serve: open, rooms, broadcast to two clients", async () => {
  const hub = new Hub<{ name: string }>({
    data: (request) => ({ name: new URL(request.url).searchParams.get("name") ?? "?" }),
  });
  hub.on("open", (member) => member.join("lobby"));
  const received: string[] = [];
  hub.on("message", (member, data) => received.push(`${member.data.name}: ${data}`));
  const server = Deno.serve({ hostname: HOST, port: 0, onListen() {} }, hub.handler);
  const url = `ws://${HOST}:${server.addr.port}/`;
  const clients: WebSocketConnection[] = [];
  try {
    const [ann, annMember] = await connectMember(hub, `${url}?name=ann`);
    clients.push(ann);
    const [bob, bobMember] = await connectMember(hub, `${url}?name=bob`);
    clients.push(bob);
    assert.deepEqual(hub.members("lobby"), [annMember, bobMember]);
    assert.deepEqual(hub.stats().rooms, { lobby: 2 });
    assert.equal((annMember.remoteAddr as Deno.NetAddr | undefined)?.hostname, HOST);

    assert.equal(hub.broadcast("to the lobby", { room: "lobby" }), 2);
    assert.equal(hub.broadcast(new Uint8Array([1, 2]), { except: annMember }), 1);
    assert.equal(hub.broadcast("end"), 2);
    assert.deepEqual(await receiveUntil(ann, "end"), ["to the lobby", "end"]);
    assert.deepEqual(await receiveUntil(bob, "end"), [
      "to the lobby",
      new Uint8Array([1, 2]),
      "end",
    ]);

    await ann.send("hi from ann");
    await waitFor(() => received.length === 1, "ann's message");
    assert.deepEqual(received, ["ann: hi from ann"]);

    const closed = nextEvent(hub, "close", (m) => m === annMember);
    await ann.close(1000, "bye");
    const [, code, reason] = await closed;
    assert.equal(code, 1000);
    assert.equal(reason, "bye");
    assert.deepEqual(hub.members("lobby"), [bobMember]);
  } finally {
    for (const cancel of [...pendingWaits]) cancel();
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await waitFor(() => hub.size === 0, "every hub connection to close");
    await server.shutdown();
  }
});

/** A raw client whose handshake offers `extensions`; returns it with its hub connection and the 101's extensions. */
async function openRawOffering<T>(
  hub: Hub<T>,
  port: number,
  extensions: string,
): Promise<[Deno.Conn, HubConnection<T>, string]> {
  const opened = nextEvent(hub, "open");
  const conn = await Deno.connect({ hostname: HOST, port });
  await conn.write(encoder.encode(
    `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      (extensions === "" ? "" : `Sec-WebSocket-Extensions: ${extensions}\r\n`) + "\r\n",
  ));
  const buffer = new Uint8Array(4096);
  let head = "";
  while (!head.endsWith("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the server closed during the handshake");
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assert.match(head, /^HTTP\/1\.1 101 /);
  const [member] = await opened;
  return [conn, member, /sec-websocket-extensions: ([^\r]*)/i.exec(head)?.[1] ?? ""];
}

Deno.test("broadcast compresses once for the peers without context takeover, and in each window for the peers with it", async () => {
  const hub = new Hub({ compression: { threshold: 100 }, pingInterval: 0 });
  const { server, port, url } = start(hub);
  const none = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  const [a, , aExtensions] = await openRawOffering(hub, port, none);
  const [a2, , a2Extensions] = await openRawOffering(hub, port, `${none}; client_max_window_bits`);
  const [limited, , limitedExtensions] = await openRawOffering(
    hub,
    port,
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
  );
  const [t, , tExtensions] = await openRawOffering(hub, port, "permessage-deflate");
  const [t2, , t2Extensions] = await openRawOffering(
    hub,
    port,
    "permessage-deflate; client_max_window_bits",
  );
  const [plain, , plainExtensions] = await openRawOffering(hub, port, "");
  const [client] = await connectMember(hub, url, { compression: true });
  assert.equal(aExtensions, `${none}; server_max_window_bits=12`);
  assert.equal(a2Extensions, `${none}; server_max_window_bits=12; client_max_window_bits=12`);
  assert.equal(
    limitedExtensions,
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
  );
  assert.equal(tExtensions, "permessage-deflate; server_max_window_bits=12");
  assert.equal(
    t2Extensions,
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
  );
  assert.equal(plainExtensions, "");
  assert.equal(
    client.extensions,
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
  );

  const big = "the same words again and again; ".repeat(300);
  assert.equal(hub.broadcast(big), 7);
  assert.equal(hub.broadcast("tiny"), 7);
  assert.equal(hub.broadcast(big), 7);
  assert.equal(hub.broadcast(big, { compress: false }), 7);
  const four = (frames: Frame[]) => frames.length >= 4;
  const read = (conn: Deno.Conn) => readFrames(conn, four, 2_000, true);
  const [fromA, fromA2, fromLimited, fromT, fromT2, fromPlain] = await Promise.all(
    [a, a2, limited, t, t2, plain].map(read),
  );
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const peers = [
    ["a", fromA!, false],
    ["a2", fromA2!, false],
    ["limited", fromLimited!, false],
    ["t", fromT!, true],
    ["t2", fromT2!, true],
  ] as const;
  for (const [name, { frames }, takeover] of peers) {
    // One inflater per connection, as its peer would have: with takeover,
    // the third message refers back into the first.
    const inflater = zlibEngine.inflater(15);
    for (const index of [0, 2]) {
      assert.equal(frames[index]!.rsv1, true, `${name} ${index}`);
      assert.ok(
        frames[index]!.payload.length < big.length / 4,
        `${name} ${index}: ${frames[index]!.payload.length} bytes`,
      );
    }
    assert.equal(text(inflater.inflate(frames[0]!.payload, 1 << 20)), big, name);
    // Under the threshold: sent as it is.
    assert.equal(frames[1]!.rsv1, false, name);
    assert.equal(text(frames[1]!.payload), "tiny", name);
    assert.equal(text(inflater.inflate(frames[2]!.payload, 1 << 20)), big, name);
    inflater.close();
    if (takeover) {
      // Compressed in this connection's window, which held the first.
      assert.ok(
        frames[2]!.payload.length < frames[0]!.payload.length,
        `${name}: ${frames[2]!.payload.length} < ${frames[0]!.payload.length}`,
      );
      const fresh = zlibEngine.inflater(15);
      assert.throws(() => fresh.inflate(frames[2]!.payload, 1 << 20), name);
      fresh.close();
    } else {
      // Every message compressed on its own: the same bytes each time.
      assert.deepEqual(frames[2]!.payload, frames[0]!.payload, name);
    }
    // compress: false sends it as it is.
    assert.equal(frames[3]!.rsv1, false, name);
    assert.equal(text(frames[3]!.payload), big, name);
  }
  // Peers with the same agreement without takeover get the same bytes, compressed once.
  assert.deepEqual(fromA!.frames[0]!.payload, fromA2!.frames[0]!.payload);
  assert.deepEqual(fromA!.frames[2]!.payload, fromA2!.frames[2]!.payload);
  for (const index of [0, 2, 3]) {
    assert.equal(fromPlain!.frames[index]!.rsv1, false);
    assert.equal(text(fromPlain!.frames[index]!.payload), big);
  }
  for (const message of [big, "tiny", big, big]) assert.equal(await client.receive(), message);
  await finish(hub, server, [client], [a, a2, limited, t, t2, plain]);
});

Deno.test("a burst from every client to every client is delivered whole, and no reading peer is cut off", async () => {
  // An aggressive policy: 16 KiB and 100 ms. The whole burst is 512,000
  // deliveries, which takes longer than the grace period to handle; every
  // client reads all the while, so none is a slow consumer.
  const hub = new Hub({ pingInterval: 0, maxBackpressure: 16 * 1024, backpressureGrace: 100 });
  hub.on("message", (_connection, message) => hub.broadcast(message));
  const errors: Error[] = [];
  hub.on("error", (_connection, error) => errors.push(error));
  const { server, port } = start(hub);
  const clients = 16;
  const messages = 2_000;
  const payload = encoder.encode("a chat line of some thirty bytes");
  const sent = encodeFrame(Opcode.Text, payload, { mask: new Uint8Array([1, 2, 3, 4]) });
  const echo = encodeFrame(Opcode.Text, payload);
  const burst = new Uint8Array(sent.length * messages);
  for (let i = 0; i < messages; i++) burst.set(sent, i * sent.length);
  const conns = await Promise.all(Array.from({ length: clients }, () => openRaw(HOST, port)));
  try {
    while (hub.size < clients) await new Promise((resolve) => setTimeout(resolve, 5));
    const expected = echo.length * messages * clients;
    await Promise.all(conns.map(async (conn) => {
      const reading = (async () => {
        const buffer = new Uint8Array(64 * 1024);
        let received = 0;
        while (received < expected) {
          const n = await conn.read(buffer);
          assert.notEqual(n, null, `the hub closed a connection after ${received} bytes`);
          for (let i = 0; i < n!; i++) {
            const at = (received + i) % echo.length;
            if (buffer[i] !== echo[at]) {
              throw new Error(`byte ${at} of a frame is ${buffer[i]}, not ${echo[at]}`);
            }
          }
          received += n!;
        }
      })();
      await conn.write(burst);
      await reading;
    }));
    assert.deepEqual(errors, []);
    assert.equal(hub.size, clients);
  } finally {
    for (const conn of conns) conn.close();
    await hub.close();
    await server.shutdown();
  }
});
