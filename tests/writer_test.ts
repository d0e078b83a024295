// Copyright 2026 the Duplex authors. MIT license.
// connection.writer(): one message sent piece by piece, as fragments, with
// backpressure; sends made meanwhile wait; abort() never leaves a message
// the peer could take as whole.
import assert from "node:assert/strict";
import { acceptWebSocket, ClosedError, connect, FrameDecoder, Opcode } from "../mod.ts";
import { createPair } from "../testing.ts";
import { memoryPair } from "../_memory.ts";

Deno.test("a writer that writes nothing sends an empty message; one byte is one byte", async () => {
  const { client, server } = await createPair();
  await server.writer().end();
  await client.expectMessage("");
  await server.writer({ binary: true }).end();
  await client.expectMessage(new Uint8Array(0));
  const bytes = server.writer({ binary: true });
  await bytes.write(new Uint8Array([7]));
  await bytes.end();
  await client.expectMessage(new Uint8Array([7]));
  const text = server.writer();
  await text.end("x");
  await client.expectMessage("x");
  await client.close(1000);
});

Deno.test("a text writer, fragmenting at fragmentSize, keeps a surrogate pair split across writes whole", async () => {
  const { client, server } = await createPair({ server: { fragmentSize: 4 } });
  const writer = server.writer();
  await writer.write("hello ");
  await writer.write("wor\ud83c"); // the high half of 🌍 ends this piece
  await writer.write("\udf0d!");
  await writer.end();
  await client.expectMessage("hello wor🌍!");
  await client.close(1000);
});

Deno.test("the frames of a writer's message are continuation frames, the last one with FIN", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // The raw client never answers the close: bound the closing handshake.
  const accepted = listener.accept().then((conn) => acceptWebSocket(conn, { closeTimeout: 100 }));
  // A raw client: the handshake by hand, then the frames as they come.
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await raw.write(new TextEncoder().encode(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const server = await accepted;
  listener.close();
  const writer = server.writer({ binary: true });
  await writer.write(new Uint8Array([1]));
  await writer.write(new Uint8Array([2, 3]));
  await writer.end(new Uint8Array([4]));
  await server.close(1000);
  const buffer = new Uint8Array(4096);
  const decoder = new FrameDecoder({ role: "client" });
  const frames: [number, boolean, number[]][] = [];
  let head: Uint8Array | null = new Uint8Array(0);
  while (frames.at(-1)?.[0] !== Opcode.Close) {
    const n = await raw.read(buffer);
    assert.notEqual(n, null);
    let chunk: Uint8Array = buffer.slice(0, n!);
    if (head !== null) {
      // Skip the 101's head: up to CRLF CRLF.
      const joined: Uint8Array = new Uint8Array([...head, ...chunk]);
      const end = new TextDecoder("latin1").decode(joined).indexOf("\r\n\r\n");
      if (end < 0) {
        head = joined;
        continue;
      }
      chunk = joined.subarray(end + 4);
      head = null;
    }
    decoder.push(chunk);
    for (let frame; (frame = decoder.next());) {
      frames.push([frame.opcode, frame.fin, [...frame.payload]]);
    }
  }
  assert.deepEqual(frames.slice(0, 3), [
    [Opcode.Binary, false, [1]],
    [Opcode.Continuation, false, [2, 3]],
    [Opcode.Continuation, true, [4]],
  ]);
  raw.close();
  await server.closed;
});

Deno.test("sends made while a writer is open go out after its message, in order", async () => {
  const { client, server } = await createPair();
  const writer = server.writer();
  await writer.write("part 1, ");
  const later = [server.send("after 1"), server.send(new Uint8Array([9]))];
  await writer.write("part 2");
  await writer.end();
  await Promise.all(later);
  await client.expectMessage("part 1, part 2");
  await client.expectMessage("after 1");
  await client.expectMessage(new Uint8Array([9]));
  assert.throws(() => {
    server.writer();
    server.writer();
  }, TypeError);
  await client.close(1000);
});

Deno.test("abort() closes with 1011: the peer never receives the unfinished message", async () => {
  const { client, server } = await createPair();
  const writer = server.writer();
  await writer.write("half a mess");
  const held = server.send("never");
  held.catch(() => {}); // asserted below
  writer.abort("the source failed");
  await client.expectClose(1011);
  assert.equal((await client.closed).reason, "the source failed");
  await assert.rejects(writer.write("age"), TypeError);
  await assert.rejects(held, Error);
});

Deno.test("a writer checks its chunks: strings for text, bytes for binary", async () => {
  const { client, server } = await createPair();
  // deno-lint-ignore no-explicit-any
  await assert.rejects(server.writer().write(new Uint8Array(1) as any), TypeError);
  assert.throws(() => server.writer(), TypeError, "the first writer is still open");
  await client.close(1000);
});

Deno.test("a 64 MiB message written in 1 MiB pieces over TCP, with backpressure, to a client reading it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept().then((conn) => acceptWebSocket(conn));
  const client = await connect(`ws://127.0.0.1:${listener.addr.port}/`);
  const server = await accepted;
  listener.close();
  const PIECE = 1024 * 1024;
  const piece = new Uint8Array(PIECE);
  const writer = server.writer({ binary: true });
  let most = 0;
  for (let i = 0; i < 64; i++) {
    piece.fill(i);
    // Awaited: the piece is then written, and the buffer free to refill.
    await writer.write(piece);
    most = Math.max(most, server.bufferedAmount);
  }
  await writer.end();
  const message = await client.receive({ timeout: 30_000 });
  assert.ok(message instanceof Uint8Array);
  assert.equal(message.length, 64 * PIECE);
  for (let i = 0; i < 64; i++) {
    assert.equal(message[i * PIECE], i);
    assert.equal(message[(i + 1) * PIECE - 1], i);
  }
  // Never more than the piece being written was held.
  assert.ok(most <= 2 * PIECE, `${most} bytes were buffered`);
  await client.close(1000);
  await server.closed;
});

Deno.test("sends held for a writer count in bufferedAmount, and carry their bytes as they were at send()", async () => {
  const { client, server } = await createPair();
  const writer = server.writer({ binary: true });
  await writer.write(new Uint8Array([1]));
  const before = server.bufferedAmount;
  const bytes = new Uint8Array(1000).fill(7);
  const held = [server.send(bytes), server.send("héllo")];
  // 1,000 bytes and the 6 of "héllo" in UTF-8, waiting for the writer.
  assert.equal(server.bufferedAmount - before, 1006);
  bytes.fill(0); // the caller reuses its buffer
  await writer.end();
  await Promise.all(held);
  await client.expectMessage(new Uint8Array([1]));
  await client.expectMessage((m) => m instanceof Uint8Array && m.length === 1000 && m[999] === 7);
  await client.expectMessage("héllo");
  assert.equal(server.bufferedAmount, 0);
  await client.close(1000);
});

Deno.test("sends held for a writer that never ends reject once the connection ends", async () => {
  const { client, server } = await createPair();
  const writer = server.writer();
  await writer.write("never finished");
  const held = server.send("held");
  client.terminate();
  await assert.rejects(held, ClosedError);
  await assert.rejects(writer.end(), Error);
  assert.equal((await server.closed).code, 1006);
});

Deno.test("a 64 MiB message from a writer to a slow reader: the writer never runs ahead of what the reader took by more than the transport holds", async () => {
  // A raw reader on the in-memory transport (which holds 256 KiB, as a
  // socket buffer would), reading 64 KiB at a time with a turn of the
  // event loop between reads.
  const [clientEnd, serverEnd] = memoryPair();
  await clientEnd.write(new TextEncoder().encode(
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const server = await acceptWebSocket(serverEnd, { closeTimeout: 1_000 });
  const PIECE = 1024 * 1024;
  const PIECES = 64;
  let taken = 0; // bytes the reader has read, the 101 included
  let frames = 0;
  let payload = 0;
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    const decoder = new FrameDecoder({ role: "client", maxMessageSize: PIECES * PIECE });
    let head = true;
    while (payload < PIECES * PIECE) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      const n = await clientEnd.read(buffer);
      assert.notEqual(n, null, "the connection ended early");
      taken += n!;
      let chunk = buffer.subarray(0, n!);
      if (head) {
        const end = new TextDecoder("latin1").decode(chunk).indexOf("\r\n\r\n");
        assert.ok(end > 0, "the 101 comes in the first read");
        chunk = chunk.subarray(end + 4);
        head = false;
      }
      decoder.push(chunk);
      for (let frame; (frame = decoder.next());) {
        // Each piece is a frame: the first Binary, then continuations, the last with FIN.
        assert.equal(frame.opcode, frames === 0 ? Opcode.Binary : Opcode.Continuation);
        assert.equal(frame.fin, frames === PIECES - 1);
        assert.equal(frame.payload.length, PIECE);
        assert.equal(frame.payload[0], frames % 256);
        assert.equal(frame.payload[PIECE - 1], frames % 256);
        payload += frame.payload.length;
        frames++;
      }
    }
  })();
  const writer = server.writer({ binary: true });
  const piece = new Uint8Array(PIECE);
  let written = 0;
  let ahead = 0;
  for (let i = 0; i < PIECES; i++) {
    piece.fill(i);
    // The last piece ends the message.
    await (i < PIECES - 1 ? writer.write(piece) : writer.end(piece));
    written += PIECE;
    ahead = Math.max(ahead, written - taken);
  }
  await reading;
  assert.equal(frames, PIECES);
  // Each write() waited for the reader: at most the piece in flight, the
  // transport's 256 KiB and the 64 KiB the reader holds were not yet taken.
  assert.ok(ahead <= PIECE + 256 * 1024 + 64 * 1024, `the writer ran ${ahead} bytes ahead`);
  clientEnd.close();
  assert.equal((await server.closed).code, 1006);
});
