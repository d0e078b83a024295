// Copyright 2026 the Duplex authors. MIT license.
import assert from "node:assert/strict";
import {
  ClosedError,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  Opcode,
  Protocol,
  ProtocolError,
  type ProtocolEvent,
  ReadyState,
} from "../codec/mod.ts";
import {
  chop,
  concat,
  framesSent,
  hex,
  random,
  randomBytes,
  randomInt,
  withSeed,
} from "./_util.ts";

const KEY = hex("37 fa 21 3d");
const utf8 = (text: string) => new TextEncoder().encode(text);

/** A frame as a client sends it (masked with a fixed key). */
function fromClient(opcode: number, payload: Uint8Array | string = "", fin = true): Uint8Array {
  return encodeFrame(opcode, payload, { fin, mask: KEY });
}

/** Decodes what a protocol wants to send, as its peer would. */
const sent = (protocol: Protocol): Frame[] => framesSent(protocol);

/** Moves everything `from` wants to send into `to`, returning `to`'s events. */
function pipe(from: Protocol, to: Protocol): ProtocolEvent[] {
  return from.dataToSend().flatMap((chunk) => to.receive(chunk.slice()));
}

function closeOf(frame: Frame | undefined): { code: number; reason: string } {
  assert.ok(frame !== undefined, "expected a close frame");
  assert.equal(frame.opcode, Opcode.Close);
  const payload = frame.payload;
  if (payload.length === 0) return { code: 1005, reason: "" };
  return {
    code: (payload[0]! << 8) | payload[1]!,
    reason: new TextDecoder().decode(payload.subarray(2)),
  };
}

/** Asserts that `events` end with a failure of the given close code, and that the close frame is queued. */
function assertFailed(
  server: Protocol,
  events: ProtocolEvent[],
  closeCode: number,
  code: string,
): void {
  const error = events.at(-2);
  assert.ok(error?.type === "error", `expected an error event, got ${JSON.stringify(events)}`);
  assert.ok(error.error instanceof ProtocolError);
  assert.equal(error.error.closeCode, closeCode);
  assert.equal(error.error.code, code);
  const close = events.at(-1);
  assert.ok(close?.type === "close");
  assert.equal(close.code, closeCode);
  assert.equal(close.wasClean, false);
  assert.equal(close.closedByPeer, false);
  assert.equal(server.state, ReadyState.CLOSED);
  assert.equal(closeOf(sent(server).at(-1)).code, closeCode);
}

Deno.test("Protocol delivers the RFC 6455 §5.7 masked Hello as a text message", () => {
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.receive(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58")), [{
    type: "message",
    data: "Hello",
  }]);
});

Deno.test("Protocol reassembles a fragmented text message with a ping between fragments", () => {
  const server = new Protocol({ role: "server" });
  const events = server.receive(
    concat(
      fromClient(Opcode.Text, "Hel", false),
      fromClient(Opcode.Ping, "?"),
      fromClient(Opcode.Continuation, "lo"),
    ),
  );
  assert.deepEqual(events, [
    { type: "ping", data: utf8("?") },
    { type: "message", data: "Hello" },
  ]);
  // The automatic pong carries the ping's payload (RFC 6455 §5.5.3).
  const pong = sent(server)[0]!;
  assert.equal(pong.opcode, Opcode.Pong);
  assert.deepEqual(pong.payload, utf8("?"));
});

Deno.test("Protocol reassembles a fragmented binary message the caller owns", () => {
  const server = new Protocol({ role: "server" });
  const input = concat(
    fromClient(Opcode.Binary, new Uint8Array([1, 2]), false),
    fromClient(Opcode.Continuation, new Uint8Array([]), false),
    fromClient(Opcode.Continuation, new Uint8Array([3])),
  );
  const [event] = server.receive(input);
  assert.deepEqual(event, { type: "message", data: new Uint8Array([1, 2, 3]) });
  input.fill(0); // the caller reuses its buffer
  assert.deepEqual((event as { data: Uint8Array }).data, new Uint8Array([1, 2, 3]));
});

Deno.test("Protocol copies a single-frame binary message out of the caller's buffer", () => {
  const server = new Protocol({ role: "server" });
  const input = fromClient(Opcode.Binary, new Uint8Array([7, 8, 9]));
  const [event] = server.receive(input);
  input.fill(0);
  assert.deepEqual(event, { type: "message", data: new Uint8Array([7, 8, 9]) });
});

Deno.test("Protocol rejects limits that are not positive when it is made, not at the first frame", () => {
  for (
    const [name, options] of [
      ["maxMessageSize", { maxMessageSize: 0 }],
      ["maxFragments", { maxFragments: -1 }],
      ["fragmentSize", { fragmentSize: NaN }],
    ] as const
  ) {
    assert.throws(
      () => new Protocol({ role: "server", ...options }),
      (e) =>
        e instanceof RangeError &&
        e.message.startsWith(`Cannot create protocol: ${name} must be a whole number, 1 or more`),
      name,
    );
  }
});

Deno.test("Protocol applies maxFragments and maxMessageSize to the decoder it makes on first use", () => {
  const server = new Protocol({ role: "server", maxFragments: 2, maxMessageSize: 4 });
  assert.equal(server.bufferedAmount, 0);
  assert.deepEqual(server.dataToSend(), []);
  const tooMany = concat(
    fromClient(Opcode.Text, new Uint8Array([0x61]), false),
    fromClient(Opcode.Continuation, new Uint8Array([0x62]), false),
    fromClient(Opcode.Continuation, new Uint8Array([0x63]), true),
  );
  const events = server.receive(tooMany);
  const error = events.find((event) => event.type === "error");
  assert.ok(
    error?.type === "error" && error.error.code === "TOO_MANY_FRAGMENTS" &&
      error.error.closeCode === 1008,
    JSON.stringify(events),
  );

  const small = new Protocol({ role: "server", maxMessageSize: 4 });
  const [event] = small.receive(fromClient(Opcode.Binary, new Uint8Array(5)));
  assert.ok(event?.type === "error" && event.error.closeCode === 1009);
});

Deno.test("Protocol answers pings unless autoPong is off", () => {
  const server = new Protocol({ role: "server", autoPong: false });
  assert.deepEqual(server.receive(fromClient(Opcode.Ping, "x")), [{
    type: "ping",
    data: utf8("x"),
  }]);
  assert.deepEqual(server.dataToSend(), []);
});

Deno.test("Protocol owes one pong per ping up to 16, then answers the latest ping in place of the last (§5.5.3)", () => {
  const server = new Protocol({ role: "server" });
  // Pings that arrive between two dataToSend() calls: a peer that floods
  // pings and reads nothing.
  const flood = concat(
    ...Array.from({ length: 10_000 }, (_, i) => fromClient(Opcode.Ping, `${i}`)),
  );
  const events = chop(random(7), flood, 4096).flatMap((chunk) => server.receive(chunk));
  assert.equal(events.length, 10_000, "every ping is reported");
  const bytesOwed = server.bufferedAmount;
  const pongs = sent(server);
  assert.equal(bytesOwed, pongs.reduce((sum, frame) => sum + 2 + frame.payload.length, 0));
  assert.ok(pongs.every((frame) => frame.opcode === Opcode.Pong));
  assert.deepEqual(
    pongs.map((frame) => new TextDecoder().decode(frame.payload)),
    [...Array.from({ length: 15 }, (_, i) => `${i}`), "9999"],
  );
  assert.equal(server.bufferedAmount, 0);
  // A peer that reads gets every pong, in order.
  for (let i = 0; i < 40; i++) {
    server.receive(fromClient(Opcode.Ping, `p${i}`));
    assert.deepEqual(sent(server).map((frame) => new TextDecoder().decode(frame.payload)), [
      `p${i}`,
    ]);
  }
});

Deno.test("Protocol sends the pongs it owes ahead of its close frame, and counts a client's masked pongs", () => {
  const client = new Protocol({ role: "client" });
  client.receive(encodeFrame(Opcode.Ping, "a"));
  client.receive(encodeFrame(Opcode.Ping, "bc"));
  assert.equal(client.bufferedAmount, (6 + 1) + (6 + 2));
  client.close(1000);
  const frames = sent(client);
  assert.deepEqual(frames.map((frame) => frame.opcode), [Opcode.Pong, Opcode.Pong, Opcode.Close]);
  assert.deepEqual(frames.slice(0, 2).map((frame) => frame.payload), [utf8("a"), utf8("bc")]);
});

Deno.test("Protocol reports pongs", () => {
  const client = new Protocol({ role: "client" });
  assert.deepEqual(client.receive(encodeFrame(Opcode.Pong, "beat")), [{
    type: "pong",
    data: utf8("beat"),
  }]);
});

Deno.test("Protocol completes a client-initiated closing handshake", () => {
  const client = new Protocol({ role: "client" });
  const server = new Protocol({ role: "server" });
  client.close(1000, "bye");
  assert.equal(client.state, ReadyState.CLOSING);
  assert.deepEqual(pipe(client, server), [
    { type: "close", code: 1000, reason: "bye", wasClean: true, closedByPeer: true },
  ]);
  assert.equal(server.state, ReadyState.CLOSED);
  // The server's answer echoes the reason.
  assert.deepEqual(pipe(server, client), [
    { type: "close", code: 1000, reason: "bye", wasClean: true, closedByPeer: false },
  ]);
  assert.equal(client.state, ReadyState.CLOSED);
  assert.deepEqual(client.closeInfo, {
    code: 1000,
    reason: "bye",
    wasClean: true,
    closedByPeer: false,
  });
});

Deno.test("Protocol echoes the close code and reason it receives (RFC 6455 §5.5.1)", () => {
  const longest = "é".repeat(61) + "x"; // 123 bytes, the most a close frame holds
  for (const code of [1000, 1001, 1003, 1011, 3000, 4999]) {
    for (const reason of ["", "reason", "bye ✓", longest]) {
      const server = new Protocol({ role: "server" });
      server.receive(fromClient(Opcode.Close, encodeClosePayload(code, reason)));
      assert.deepEqual(closeOf(sent(server)[0]), { code, reason });
      assert.deepEqual(server.closeInfo, { code, reason, wasClean: true, closedByPeer: true });
    }
  }
});

Deno.test("Protocol delivers an empty binary message as its own array, never a shared one", () => {
  // One connection's app detaches the buffer of an empty message it got.
  const first = new Protocol({ role: "server" });
  const [message] = first.receive(fromClient(Opcode.Binary));
  assert.ok(message?.type === "message" && message.data instanceof Uint8Array);
  (message.data.buffer as ArrayBuffer).transfer();
  // Another connection still reads empty messages and pings.
  const second = new Protocol({ role: "server" });
  const events = second.receive(concat(fromClient(Opcode.Binary), fromClient(Opcode.Ping)));
  assert.deepEqual(events.map((event) => event.type), ["message", "ping"]);
  const other = events[0]!;
  assert.ok(other.type === "message" && other.data instanceof Uint8Array);
  assert.equal((other.data.buffer as ArrayBuffer).detached, false);
  assert.notEqual(other.data.buffer, message.data.buffer);
  assert.deepEqual(sent(second).map((frame) => frame.opcode), [Opcode.Pong]);
});

Deno.test("Protocol answers an empty close frame with an empty close frame and reports 1005", () => {
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.receive(fromClient(Opcode.Close)), [
    { type: "close", code: 1005, reason: "", wasClean: true, closedByPeer: true },
  ]);
  assert.deepEqual(sent(server)[0]!.payload, new Uint8Array(0));
});

Deno.test("Protocol ignores everything after the peer's close frame", () => {
  const server = new Protocol({ role: "server" });
  const events = server.receive(
    concat(fromClient(Opcode.Close, encodeClosePayload(1000)), fromClient(Opcode.Text, "late")),
  );
  assert.equal(events.length, 1);
  assert.deepEqual(server.receive(fromClient(Opcode.Text, "later")), []);
});

Deno.test("Protocol delivers messages that arrive while it waits for the peer's close", () => {
  const server = new Protocol({ role: "server" });
  server.close(1001);
  server.dataToSend();
  assert.deepEqual(server.receive(fromClient(Opcode.Text, "in flight")), [{
    type: "message",
    data: "in flight",
  }]);
  // But it sends nothing more after its close frame, not even a pong.
  assert.deepEqual(server.receive(fromClient(Opcode.Ping)), [{
    type: "ping",
    data: new Uint8Array(0),
  }]);
  assert.deepEqual(server.dataToSend(), []);
});

Deno.test("Protocol refuses to send after closing, with ClosedError carrying the code", () => {
  const server = new Protocol({ role: "server" });
  server.close(4000, "done");
  for (
    const send of [
      () => server.send("x"),
      () => server.sendBinary(new Uint8Array(1)),
      () => server.ping(),
    ]
  ) {
    assert.throws(
      send,
      (error) =>
        error instanceof ClosedError && error.closeCode === 4000 && error.reason === "done",
    );
  }
  // A second close is a no-op.
  server.dataToSend();
  server.close(1000);
  assert.deepEqual(server.dataToSend(), []);
});

Deno.test("Protocol refuses close codes and reasons that cannot go on the wire", () => {
  const server = new Protocol({ role: "server" });
  assert.throws(() => server.close(1005), RangeError);
  assert.throws(() => server.close(1000, "x".repeat(124)), RangeError);
  assert.equal(server.state, ReadyState.OPEN);
});

Deno.test("Protocol ends with 1006 when the transport closes before the closing handshake", () => {
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.receiveEof(), [
    { type: "close", code: 1006, reason: "", wasClean: false, closedByPeer: true },
  ]);
  assert.deepEqual(server.receiveEof(), []);
  // After a clean close, EOF is expected and changes nothing.
  const other = new Protocol({ role: "server" });
  other.receive(fromClient(Opcode.Close, encodeClosePayload(1000)));
  assert.deepEqual(other.receiveEof(), []);
  assert.equal(other.closeInfo?.code, 1000);
});

Deno.test("Protocol fails the connection with 1002 on a framing violation and then reads nothing", () => {
  const server = new Protocol({ role: "server" });
  const events = server.receive(
    concat(fromClient(Opcode.Text, "ok"), encodeFrame(Opcode.Text, "unmasked")),
  );
  assert.deepEqual(events[0], { type: "message", data: "ok" }); // what came before is not lost
  assertFailed(server, events, 1002, "UNMASKED_FRAME");
  assert.deepEqual(server.receive(fromClient(Opcode.Close, encodeClosePayload(1000))), []);
  assert.deepEqual(server.dataToSend(), []);
  assert.throws(() => server.send("x"), ClosedError);
});

Deno.test("Protocol fails the connection with 1007 on invalid UTF-8 in a text message", () => {
  const server = new Protocol({ role: "server" });
  assertFailed(
    server,
    server.receive(fromClient(Opcode.Text, hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80"))),
    1007,
    "INVALID_UTF8",
  );
});

Deno.test("Protocol fails on invalid UTF-8 in the fragment that brings it, not at the end of the message", () => {
  // Autobahn 6.4.1: valid first fragment, then the fragment holding F4 90 80 80.
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.receive(fromClient(Opcode.Text, utf8("κόσμε"), false)), []);
  assertFailed(
    server,
    server.receive(fromClient(Opcode.Continuation, hex("f4 90 80 80"), false)),
    1007,
    "INVALID_UTF8",
  );
});

Deno.test("Protocol fails on invalid UTF-8 in the chunk that brings it, in the middle of a frame", () => {
  // Autobahn 6.4.3: one frame, delivered in three chops; the second brings F4 90 80 80.
  const valid = utf8("\u03ba\u1f79\u03c3\u03bc\u03b5"); // "kosme" as Autobahn spells it
  const frame = fromClient(Opcode.Text, concat(valid, hex("f4 90 80 80"), utf8("edited")));
  const payloadStart = 6;
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.receive(frame.slice(0, payloadStart + valid.length)), []);
  const events = server.receive(
    frame.slice(payloadStart + valid.length, payloadStart + valid.length + 4),
  );
  assertFailed(server, events, 1007, "INVALID_UTF8");
});

Deno.test("Protocol holds a valid partial sequence at a chunk boundary without failing", () => {
  const text = "a😀b€c";
  const frame = fromClient(Opcode.Text, text);
  for (let cut = 1; cut < frame.length; cut++) {
    const server = new Protocol({ role: "server" });
    const events = [...server.receive(frame.slice(0, cut)), ...server.receive(frame.slice(cut))];
    assert.deepEqual(events, [{ type: "message", data: text }], `cut at ${cut}`);
  }
});

Deno.test("Protocol keeps a leading byte order mark in text", () => {
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.receive(fromClient(Opcode.Text, hex("ef bb bf 61"))), [{
    type: "message",
    data: "\ufeffa",
  }]);
});

Deno.test("Protocol fails with 1002 on a close frame with a 1-byte payload or an invalid code", () => {
  // 1 byte; then 1005, 1006, 999, 1016, 2999, 5000.
  for (
    const payload of [
      hex("03"),
      hex("03 ed"),
      hex("03 ee"),
      hex("03 e7"),
      hex("03 f8"),
      hex("0b b7"),
      hex("13 88"),
    ]
  ) {
    const server = new Protocol({ role: "server" });
    const events = server.receive(fromClient(Opcode.Close, payload));
    assert.equal(events.at(-1)?.type, "close");
    assertFailed(
      server,
      events,
      1002,
      payload.length === 1 ? "INVALID_CLOSE_PAYLOAD" : "INVALID_CLOSE_CODE",
    );
  }
});

Deno.test("Protocol fails with 1007 on a close reason that is not UTF-8", () => {
  const server = new Protocol({ role: "server" });
  assertFailed(
    server,
    server.receive(fromClient(Opcode.Close, hex("03 e8 ff"))),
    1007,
    "INVALID_UTF8",
  );
});

Deno.test("Protocol fails with 1009 on a message over maxMessageSize", () => {
  const server = new Protocol({ role: "server", maxMessageSize: 4 });
  assertFailed(server, server.receive(fromClient(Opcode.Text, "Hello")), 1009, "MESSAGE_TOO_BIG");
});

Deno.test("Protocol does not send a second close frame when failing after its own close", () => {
  const server = new Protocol({ role: "server" });
  server.close(1000);
  assert.equal(sent(server).length, 1);
  const events = server.receive(encodeFrame(Opcode.Text, "unmasked"));
  assert.equal(events.at(-1)?.type, "close");
  assert.deepEqual(server.dataToSend(), []);
});

Deno.test("Protocol sends a fragmented message with the right opcodes", () => {
  const client = new Protocol({ role: "client" });
  client.sendText("Hel", { fin: false });
  client.ping("p");
  client.sendText("lo");
  const frames = sent(client);
  assert.deepEqual(frames.map((f) => [f.opcode, f.fin]), [
    [Opcode.Text, false],
    [Opcode.Ping, true],
    [Opcode.Continuation, true],
  ]);
});

Deno.test("Protocol refuses to interleave a message of the other type into a fragmented one", () => {
  const client = new Protocol({ role: "client" });
  client.sendBinary(new Uint8Array(1), { fin: false });
  assert.throws(() => client.sendText("x"), TypeError);
  assert.throws(() => client.sendEncoded(encodeFrame(Opcode.Text, "x", { mask: true })), TypeError);
  client.sendBinary(new Uint8Array(1));
  client.sendText("now fine");
  assert.equal(sent(client).length, 3);
});

Deno.test("Protocol splits outgoing messages into frames of fragmentSize", () => {
  const server = new Protocol({ role: "server", fragmentSize: 4 });
  server.send("Hello, world");
  server.send(new Uint8Array(8));
  const frames = sent(server);
  assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.payload.length]), [
    [Opcode.Text, false, 4],
    [Opcode.Continuation, false, 4],
    [Opcode.Continuation, true, 4],
    [Opcode.Binary, false, 4],
    [Opcode.Continuation, true, 4],
  ]);
  assert.throws(() => new Protocol({ role: "server", fragmentSize: 0 }), RangeError);
});

Deno.test("Protocol refuses control payloads over 125 bytes", () => {
  const client = new Protocol({ role: "client" });
  assert.throws(() => client.ping(new Uint8Array(126)), RangeError);
  assert.throws(() => client.pong("x".repeat(126)), RangeError);
  client.ping(new Uint8Array(125));
  assert.equal(sent(client)[0]!.payload.length, 125);
});

Deno.test("Protocol sends pre-encoded frames as they are", () => {
  const server = new Protocol({ role: "server" });
  const frame = encodeFrame(Opcode.Text, "broadcast");
  server.sendEncoded(frame);
  assert.deepEqual(server.dataToSend(), [frame]);
});

Deno.test("Protocol counts queued bytes in bufferedAmount until they are taken", () => {
  const server = new Protocol({ role: "server" });
  server.send("Hello");
  assert.equal(server.bufferedAmount, 7);
  server.dataToSend();
  assert.equal(server.bufferedAmount, 0);
});

Deno.test("Protocol round-trips random messages through random chunkings in both directions", () => {
  withSeed((next) => {
    const client = new Protocol({ role: "client" });
    const server = new Protocol({ role: "server", fragmentSize: 70_000 });
    const alphabet = ["a", "é", "€", "😀", "\u0000", "z"];
    for (let round = 0; round < 10; round++) {
      const messages: (string | Uint8Array)[] = [];
      for (let i = randomInt(next, 1, 15); i > 0; i--) {
        const size = next() < 0.7 ? randomInt(next, 0, 200) : randomInt(next, 200, 100_000);
        if (next() < 0.5) {
          let text = "";
          while (text.length < size) text += alphabet[randomInt(next, 0, alphabet.length - 1)];
          messages.push(text);
        } else {
          messages.push(randomBytes(next, size));
        }
      }
      for (const [from, to] of [[client, server], [server, client]] as const) {
        for (const message of messages) from.send(message);
        const bytes = concat(...from.dataToSend());
        const received = chop(next, bytes, next() < 0.5 ? 5 : 50_000).flatMap((chunk) =>
          to.receive(chunk)
        );
        assert.deepEqual(received, messages.map((data) => ({ type: "message", data })));
      }
    }
  });
});

Deno.test("Protocol meets arbitrary bytes with events, never an exception", () => {
  withSeed((next) => {
    for (let round = 0; round < 300; round++) {
      const server = new Protocol({ role: "server", maxMessageSize: 1 << 16 });
      const bytes = randomBytes(next, randomInt(next, 1, 400));
      bytes[0] = bytes[0]! & 0x8f;
      bytes[1] = bytes[1]! | 0x80;
      const events = chop(next, bytes, 16).flatMap((chunk) => server.receive(chunk));
      const last = events.at(-1);
      if (last?.type === "close") {
        assert.equal(server.state, ReadyState.CLOSED);
        assert.equal(events.filter((event) => event.type === "close").length, 1);
      } else {
        assert.equal(server.state, ReadyState.OPEN);
      }
    }
  });
});

Deno.test("Protocol sends replies to messages before a violation ahead of its close frame", () => {
  // Autobahn 3.2: a valid message, then a frame with RSV2 set, in one read.
  const server = new Protocol({ role: "server" });
  const events = server.receive(
    concat(
      fromClient(Opcode.Text, "Hello"),
      encodeFrame(Opcode.Text, "x", { rsv2: true, mask: KEY }),
    ),
  );
  assert.deepEqual(events[0], { type: "message", data: "Hello" });
  assert.equal(events.at(-1)?.type, "close");
  assert.equal(server.canSend, true);
  server.send("Hello"); // the echo, sent while handling the events
  const frames = sent(server);
  assert.deepEqual(frames.map((f) => f.opcode), [Opcode.Text, Opcode.Close]);
  assert.equal(closeOf(frames[1]).code, 1002);
  // Once the close frame has been taken, nothing more goes out.
  assert.equal(server.canSend, false);
  assert.throws(() => server.send("late"), ClosedError);
});

Deno.test("Protocol delivers a large text message read into its receive target, checking UTF-8 as it arrives", () => {
  const text = "é".repeat(60_000) + "€".repeat(20_000); // 180,000 bytes
  const frame = fromClient(Opcode.Text, text);
  const server = new Protocol({ role: "server" });
  assert.equal(server.receiveTarget(1), undefined, "nothing received yet");
  assert.deepEqual(server.receive(frame.subarray(0, 15)), []);
  let offset = 15;
  let events: ProtocolEvent[] = [];
  for (let target; (target = server.receiveTarget(1));) {
    const n = Math.min(target.length, 40_001); // reads that split characters
    target.set(frame.subarray(offset, offset + n));
    offset += n;
    events = server.receiveWritten(n);
    if (offset < frame.length) assert.deepEqual(events, []);
  }
  assert.equal(offset, frame.length);
  assert.deepEqual(events, [{ type: "message", data: text }]);

  // Invalid UTF-8 fails the connection with 1007 when it arrives, not at the end.
  const bad = new Uint8Array(200_000).fill(0x61);
  bad[1000] = 0xff;
  const badFrame = fromClient(Opcode.Text, bad);
  const other = new Protocol({ role: "server" });
  other.receive(badFrame.subarray(0, 14));
  const target = other.receiveTarget(1)!;
  target.set(badFrame.subarray(14, 14 + 50_000));
  const failed = other.receiveWritten(50_000);
  assert.ok(failed[0]?.type === "error" && failed[0].error.closeCode === 1007);
  assert.equal(other.receiveTarget(1), undefined, "closed: no more targets");
  assert.deepEqual(other.receiveWritten(10), [], "closed: nothing more is processed");
});

Deno.test("Protocol refuses receiveWritten without a receive target", () => {
  const server = new Protocol({ role: "server" });
  assert.throws(() => server.receiveWritten(1), RangeError);
  server.receive(fromClient(Opcode.Binary, new Uint8Array(10)));
  assert.throws(() => server.receiveWritten(1), RangeError);
});

Deno.test("Protocol.closeDiscarding drops what dataToSend() has not taken and queues the close frame next", () => {
  const server = new Protocol({ role: "server" });
  server.send("taken");
  const taken = server.dataToSend();
  assert.equal(taken.length, 1);
  // Queued after the last take: dropped, with an owed pong and a fragment in progress.
  server.send("dropped 1");
  server.send(new Uint8Array(100_000));
  server.sendText("part", { fin: false });
  server.receive(fromClient(Opcode.Ping, "p"));
  server.closeDiscarding(1008, "slow consumer");
  assert.equal(server.state, ReadyState.CLOSING);
  const frames = sent(server);
  assert.equal(frames.length, 1);
  assert.deepEqual(closeOf(frames[0]), { code: 1008, reason: "slow consumer" });
  assert.throws(() => server.closeDiscarding(1, ""), RangeError);
});

Deno.test("Protocol sends a pong owed for a ping ahead of anything sent after the ping arrived", () => {
  const server = new Protocol({ role: "server" });
  server.receive(concat(fromClient(Opcode.Ping, "first"), fromClient(Opcode.Text, "hi")));
  // Sent before the bytes are taken: each still follows the pong.
  server.sendText("reply");
  server.sendEncoded(encodeFrame(Opcode.Text, "shared"));
  server.ping("mine");
  const frames = sent(server);
  assert.deepEqual(
    frames.map((frame) => [frame.opcode, new TextDecoder().decode(frame.payload)]),
    [
      [Opcode.Pong, "first"],
      [Opcode.Text, "reply"],
      [Opcode.Text, "shared"],
      [Opcode.Ping, "mine"],
    ],
  );
});
