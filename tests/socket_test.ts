// Copyright 2026 the Duplex authors. MIT license.
// The socket driver's writes (_socket.ts), counted on an in-memory transport:
// replies of a pull-based consumer (for await) to a burst go out together,
// and a consumer that stops mid-queue still gets its replies written.
import assert from "node:assert/strict";
import { acceptWebSocket, encodeFrame, Opcode, type WebSocketConnection } from "../mod.ts";
import { memoryPair } from "../_memory.ts";
import type { MemoryConn } from "../_memory.ts";
import { concat } from "./_util.ts";

const ENCODER = new TextEncoder();
const KEY = new Uint8Array([1, 2, 3, 4]);

/** A server connection over memory, its writes counted, and the raw client end. */
async function open(): Promise<{
  server: WebSocketConnection;
  client: MemoryConn;
  writes: () => number;
}> {
  const [client, serverEnd] = memoryPair();
  let writes = 0;
  const write = serverEnd.write.bind(serverEnd);
  serverEnd.write = (bytes: Uint8Array) => {
    writes++;
    return write(bytes);
  };
  const accepting = acceptWebSocket(serverEnd);
  await client.write(ENCODER.encode(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const server = await accepting;
  // The 101, whole.
  const head = new Uint8Array(1024);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await client.read(head);
    assert.notEqual(n, null);
    text += new TextDecoder().decode(head.subarray(0, n!));
  }
  assert.match(text, /^HTTP\/1\.1 101/);
  const before = writes;
  return { server, client, writes: () => writes - before };
}

/** Reads until `expected` bytes came, and returns them. */
async function readBytes(conn: MemoryConn, expected: number): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let at = 0;
  while (at < expected) {
    const n = await conn.read(out.subarray(at));
    assert.notEqual(n, null, `the server closed after ${at} of ${expected} bytes`);
    at += n!;
  }
  return out;
}

/** Text frames back to back: as a client sends them (masked), or as the server echoes them. */
function textFrames(texts: string[], masked: boolean): Uint8Array {
  return concat(
    ...texts.map((text) => encodeFrame(Opcode.Text, text, masked ? { mask: KEY } : {})),
  );
}

const burst = (texts: string[]) => textFrames(texts, true);
const echoes = (texts: string[]) => textFrames(texts, false);

Deno.test("socket: a for-await echo loop answers a burst read at once in one write", async () => {
  const { server, client, writes } = await open();
  const loop = (async () => {
    for await (const message of server) await server.send(message);
  })();
  const texts = Array.from({ length: 10 }, (_, i) => `message ${i}`);
  // One write, small enough for the server's first read.
  await client.write(burst(texts));
  assert.deepEqual(await readBytes(client, echoes(texts).length), echoes(texts));
  assert.equal(writes(), 1, "ten replies, one write");
  // Once more: every burst is one write, not only the first.
  await client.write(burst(texts));
  assert.deepEqual(await readBytes(client, echoes(texts).length), echoes(texts));
  assert.equal(writes(), 2);
  await client.write(encodeFrame(Opcode.Close, new Uint8Array([0x03, 0xe8]), { mask: KEY }));
  assert.deepEqual(await readBytes(client, 4), new Uint8Array([0x88, 0x02, 0x03, 0xe8]));
  client.close();
  await loop;
  assert.equal((await server.closed).code, 1000);
});

Deno.test("socket: a consumer that stops mid-queue to wait on something else gets its reply written", async () => {
  const { server, client, writes } = await open();
  const iterator = server[Symbol.asyncIterator]();
  // Two messages in one read: the consumer takes the first, replies, then
  // waits for the client to have that reply before it takes the second.
  await client.write(burst(["first", "second"]));
  const first = await iterator.next();
  assert.equal(first.value, "first");
  await server.send("reply to first");
  const reply = await readBytes(client, echoes(["reply to first"]).length);
  assert.deepEqual(reply, echoes(["reply to first"]));
  assert.equal(writes(), 1);
  const second = await iterator.next();
  assert.equal(second.value, "second");
  await server.send("reply to second");
  assert.deepEqual(
    await readBytes(client, echoes(["reply to second"]).length),
    echoes(["reply to second"]),
  );
  client.close();
  await server.closed;
});

Deno.test("socket: replies held for a pull consumer go out at once past highWaterMark", async () => {
  const { server, client, writes } = await open();
  const iterator = server[Symbol.asyncIterator]();
  const texts = Array.from({ length: 8 }, (_, i) => `m${i}`);
  await client.write(burst(texts));
  // The consumer sends 20 KiB per message, more than highWaterMark (16 KiB):
  // its send() waits for the socket, so the reply cannot wait for the queue.
  const big = "x".repeat(20 * 1024);
  const taken = await iterator.next();
  assert.equal(taken.value, "m0");
  const sending = server.send(big);
  const frame = encodeFrame(Opcode.Text, ENCODER.encode(big));
  assert.deepEqual(await readBytes(client, frame.length), frame);
  await sending;
  assert.equal(writes(), 1);
  client.close();
  await server.closed;
});

Deno.test("socket: reads that arrive together are decoded a turn's budget at a time, timers in between", async () => {
  const pairs = await Promise.all(Array.from({ length: 16 }, () => open()));
  const handled: string[][] = pairs.map(() => []);
  let total = 0;
  pairs.forEach(({ server }, i) => {
    server.listen({
      message: (message) => {
        handled[i]!.push(message as string);
        total++;
      },
    });
  });
  const texts = Array.from({ length: 10 }, (_, i) => `message ${i}`);
  // A clock on which every look costs 20 ms: each turn decodes one read and
  // leaves the others for later turns.
  const realNow = performance.now;
  let fake = 0;
  performance.now = () => fake += 20;
  let handledWhenTimerRan = -1;
  try {
    setTimeout(() => handledWhenTimerRan = total, 0);
    // Every read completes in the same turn.
    await Promise.all(pairs.map(({ client }) => client.write(burst(texts))));
    for (let i = 0; i < 1000 && total < 16 * texts.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    performance.now = realNow;
  }
  assert.equal(total, 16 * texts.length);
  assert.ok(
    handledWhenTimerRan >= 0 && handledWhenTimerRan < 16 * texts.length,
    `a timer ran between the reads (after ${handledWhenTimerRan} messages)`,
  );
  for (const messages of handled) assert.deepEqual(messages, texts);
  for (const { server, client } of pairs) {
    client.close();
    await server.closed;
  }
});
