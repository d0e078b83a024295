// Copyright 2026 the Duplex authors. MIT license.
// A message framed once for many connections (PreparedMessage and
// Protocol.sendPrepared), and the PerMessageDeflate sessions whose shared
// compressors let a compressed broadcast be compressed once.
import assert from "node:assert/strict";
import {
  ClosedError,
  type DeflateEngine,
  deflateOffer,
  encodeFrame,
  type Extension,
  formatExtensions,
  FrameDecoder,
  Opcode,
  parseExtensions,
  PerMessageDeflate,
  PreparedMessage,
  prepareMessage,
  Protocol,
  type ProtocolEvent,
} from "../codec/mod.ts";
import { connect, Hub, serve } from "../mod.ts";
import { zlibCompressor } from "../_deflate.ts";
import { concat, framesSent } from "./_util.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The first extension of a `Sec-WebSocket-Extensions` value. */
const extension = (value: string): Extension => parseExtensions(value)[0]!;

/** A stand-in engine that records the windows and levels it was asked for. */
function recordingEngine(): { engine: DeflateEngine; calls: [number, number][] } {
  const calls: [number, number][] = [];
  const engine: DeflateEngine = (windowBits, level) => {
    calls.push([windowBits, level]);
    return { compress: (data) => data, decompress: (data) => data };
  };
  return { engine, calls };
}

/** zlib, counting the calls to compress(). */
function countingEngine(): { engine: DeflateEngine; compressed: () => number } {
  let count = 0;
  const engine: DeflateEngine = (windowBits, level) => {
    const inner = zlibCompressor(windowBits, level);
    return {
      compress(data) {
        count++;
        return inner.compress(data);
      },
      decompress: (data, maxSize) => inner.decompress(data, maxSize),
    };
  };
  return { engine, compressed: () => count };
}

/** Moves everything `from` wants to send into `to`, returning `to`'s events. */
function pipe(from: Protocol, to: Protocol): ProtocolEvent[] {
  return from.dataToSend().flatMap((chunk) => to.receive(chunk.slice()));
}

/** All chunks `protocol` wants to send, joined. */
const bytesSent = (protocol: Protocol): Uint8Array => concat(...protocol.dataToSend());

// A text that compresses well, and is well above a threshold of 100.
const LONG_TEXT = "the quick brown fox jumps over the lazy dog; ".repeat(20);

// PerMessageDeflate: settings

Deno.test("PerMessageDeflate defaults to a threshold of 1024 bytes and level 1", () => {
  const deflate = new PerMessageDeflate(recordingEngine().engine);
  assert.equal(deflate.threshold, 1024);
  assert.equal(deflate.level, 1);
  const custom = new PerMessageDeflate(recordingEngine().engine, { threshold: 0, level: 9 });
  assert.equal(custom.threshold, 0);
  assert.equal(custom.level, 9);
});

Deno.test("PerMessageDeflate refuses a threshold of -1, 1.5 or NaN with RangeError naming threshold", () => {
  for (const threshold of [-1, 1.5, NaN]) {
    assert.throws(
      () => new PerMessageDeflate(recordingEngine().engine, { threshold }),
      (error) =>
        error instanceof RangeError && error.message.includes("threshold") &&
        error.message.endsWith(`got ${threshold}`),
      String(threshold),
    );
  }
});

Deno.test("PerMessageDeflate refuses a level of 0, 10, 42 or 1.5 with RangeError naming level", () => {
  for (const level of [0, 10, 42, 1.5]) {
    assert.throws(
      () => new PerMessageDeflate(recordingEngine().engine, { level }),
      (error) =>
        error instanceof RangeError &&
        /^Cannot use compression: level must be /.test(error.message) &&
        error.message.endsWith(`got ${level}`),
      String(level),
    );
  }
});

// PerMessageDeflate: negotiation

Deno.test("PerMessageDeflate offers permessage-deflate without context takeover either way", () => {
  const offer = new PerMessageDeflate(recordingEngine().engine).offer();
  assert.deepEqual(offer, deflateOffer());
  assert.equal(
    formatExtensions([offer]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  );
});

Deno.test("PerMessageDeflate acceptOffer returns null for no offer or only unusable ones", () => {
  const { engine, calls } = recordingEngine();
  const deflate = new PerMessageDeflate(engine);
  for (
    const offers of [
      "",
      "x-webkit-deflate-frame",
      "permessage-deflate; server_max_window_bits=8",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=010",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; mystery",
    ]
  ) {
    assert.equal(deflate.acceptOffer(parseExtensions(offers)), null, offers);
  }
  assert.deepEqual(calls, [], "no compressor is made for a declined offer");
});

Deno.test("PerMessageDeflate acceptOffer returns a session with the response, window, level, threshold and compressor", () => {
  const { engine, calls } = recordingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 256, level: 6 });
  const session = deflate.acceptOffer(
    parseExtensions("permessage-deflate; client_max_window_bits"),
  );
  assert.ok(session !== null);
  assert.equal(
    formatExtensions([session.response]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  );
  assert.equal(session.windowBits, 15);
  assert.equal(session.level, 6);
  assert.equal(session.threshold, 256);
  assert.equal(typeof session.compressor.compress, "function");
  assert.equal(typeof session.compressor.decompress, "function");
  assert.deepEqual(calls, [[15, 6]]);
});

Deno.test("PerMessageDeflate acceptOffer honours server_max_window_bits=10 with windowBits 10", () => {
  const { engine, calls } = recordingEngine();
  const session = new PerMessageDeflate(engine).acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  );
  assert.equal(session?.windowBits, 10);
  assert.equal(
    formatExtensions([session!.response]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
  );
  assert.deepEqual(calls, [[10, 1]]);
});

Deno.test("PerMessageDeflate acceptOffer takes the first offer it can honour", () => {
  const session = new PerMessageDeflate(recordingEngine().engine).acceptOffer(
    parseExtensions(
      "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12, permessage-deflate",
    ),
  );
  assert.equal(session?.windowBits, 12);
});

Deno.test("PerMessageDeflate acceptResponse returns a session for a valid answer", () => {
  const { engine, calls } = recordingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 64, level: 3 });
  for (
    const answer of [
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    ]
  ) {
    const response = extension(answer);
    const session = deflate.acceptResponse(response);
    assert.deepEqual(session.response, response, answer);
    // The client may compress with any window: the server's answer does not limit it.
    assert.equal(session.windowBits, 15, answer);
    assert.equal(session.level, 3);
    assert.equal(session.threshold, 64);
  }
  assert.deepEqual(calls, [[15, 3]], "one compressor for window 15");
});

Deno.test("PerMessageDeflate acceptResponse throws SyntaxError for an answer that does not fit the offer", () => {
  const deflate = new PerMessageDeflate(recordingEngine().engine);
  for (
    const answer of [
      "x-webkit-deflate-frame",
      "permessage-deflate",
      "permessage-deflate; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=16",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; mystery",
    ]
  ) {
    assert.throws(() => deflate.acceptResponse(extension(answer)), SyntaxError, answer);
  }
});

Deno.test("PerMessageDeflate sessions with the same window share one compressor object", () => {
  const { engine, calls } = recordingEngine();
  const deflate = new PerMessageDeflate(engine);
  const offer = parseExtensions("permessage-deflate");
  const a = deflate.acceptOffer(offer)!;
  const b = deflate.acceptOffer(offer)!;
  const client = deflate.acceptResponse(a.response);
  assert.notEqual(a, b);
  assert.equal(a.compressor, b.compressor);
  assert.equal(client.compressor, a.compressor, "window 15 on either side");
  assert.deepEqual(calls, [[15, 1]]);
});

Deno.test("PerMessageDeflate sessions with different windows have different compressors", () => {
  const { engine, calls } = recordingEngine();
  const deflate = new PerMessageDeflate(engine);
  const wide = deflate.acceptOffer(parseExtensions("permessage-deflate"))!;
  const narrow = deflate.acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  )!;
  const narrowAgain = deflate.acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  )!;
  assert.notEqual(wide.compressor, narrow.compressor);
  assert.equal(narrow.compressor, narrowAgain.compressor);
  assert.deepEqual(calls, [[15, 1], [10, 1]]);
});

Deno.test("PerMessageDeflate with zlib compresses and decompresses a message back to itself", () => {
  const deflate = new PerMessageDeflate(zlibCompressor);
  for (const offer of ["permessage-deflate", "permessage-deflate; server_max_window_bits=9"]) {
    const { compressor } = deflate.acceptOffer(parseExtensions(offer))!;
    for (const data of [new Uint8Array(0), utf8("Hello"), utf8(LONG_TEXT)]) {
      const compressed = compressor.compress(data);
      assert.deepEqual(compressor.decompress(compressed, data.length), data, offer);
    }
    const compressed = compressor.compress(utf8(LONG_TEXT));
    assert.ok(compressed.length < LONG_TEXT.length / 4, "repetitive text compresses");
    // RFC 7692 §7.2.1: the 00 00 ff ff tail is taken off.
    assert.notDeepEqual(compressed.subarray(-4), new Uint8Array([0, 0, 0xff, 0xff]));
  }
});

Deno.test("PerMessageDeflate with zlib refuses to inflate past maxSize with RangeError", () => {
  const { compressor } = new PerMessageDeflate(zlibCompressor).acceptOffer(
    parseExtensions("permessage-deflate"),
  )!;
  const compressed = compressor.compress(new Uint8Array(100_000));
  assert.throws(() => compressor.decompress(compressed, 1000), RangeError);
});

// PreparedMessage

Deno.test("PreparedMessage keeps text as UTF-8 and binary data as given, without a copy", () => {
  const text = new PreparedMessage("héllo");
  assert.equal(text.data, "héllo");
  assert.deepEqual(text.payload, utf8("héllo"));
  assert.equal(text.opcode, Opcode.Text);
  const bytes = new Uint8Array([1, 2, 3]);
  const binary = new PreparedMessage(bytes);
  assert.equal(binary.payload, bytes);
  assert.equal(binary.opcode, Opcode.Binary);
});

Deno.test("PreparedMessage frames once: frame() returns the very same bytes each time", () => {
  const message = new PreparedMessage("news");
  const frame = message.frame();
  assert.equal(message.frame(), frame);
  assert.equal(message.frame(null), frame);
  assert.deepEqual(frame, encodeFrame(Opcode.Text, "news"));
  assert.deepEqual(new PreparedMessage(new Uint8Array([9])).frame(), new Uint8Array([0x82, 1, 9]));
});

Deno.test("sendPrepared on two server Protocols sends identical bytes, the unmasked frame", () => {
  const message = new PreparedMessage("news for everyone");
  const a = new Protocol({ role: "server" });
  const b = new Protocol({ role: "server" });
  a.sendPrepared(message);
  b.sendPrepared(message);
  const sentA = bytesSent(a);
  assert.deepEqual(sentA, bytesSent(b));
  assert.deepEqual(sentA, message.frame());
  assert.equal(message.frame(), message.frame());
});

Deno.test("sendPrepared keeps order with the messages sent around it", () => {
  const server = new Protocol({ role: "server" });
  server.send("before");
  server.sendPrepared(new PreparedMessage(new Uint8Array([1, 2])));
  server.send("after");
  const frames = framesSent(server);
  assert.deepEqual(frames.map((frame) => frame.opcode), [Opcode.Text, Opcode.Binary, Opcode.Text]);
  assert.deepEqual(frames[1]!.payload, new Uint8Array([1, 2]));
});

Deno.test("sendPrepared on a client Protocol sends a masked frame the server reads back", () => {
  const message = new PreparedMessage("from the client");
  const client = new Protocol({ role: "client" });
  client.sendPrepared(message);
  const bytes = bytesSent(client);
  assert.equal(bytes[1]! & 0x80, 0x80, "MASK bit set");
  assert.notDeepEqual(bytes, message.frame());
  // A server-side decoder refuses unmasked frames: this one decodes.
  const decoder = new FrameDecoder({ role: "server" });
  decoder.push(bytes.slice());
  const frame = decoder.next();
  assert.equal(frame?.opcode, Opcode.Text);
  assert.equal(frame.fin, true);
  assert.deepEqual(frame.payload, utf8("from the client"));
  // And a server Protocol gets the message.
  const again = new Protocol({ role: "client" });
  again.sendPrepared(message);
  assert.deepEqual(pipe(again, new Protocol({ role: "server" })), [
    { type: "message", data: "from the client" },
  ]);
});

Deno.test("sendPrepared compresses a message over the threshold: RSV1 set, and a compressing peer reads it", () => {
  const deflate = new PerMessageDeflate(zlibCompressor, { threshold: 100 });
  const session = deflate.acceptOffer([deflate.offer()])!;
  const clientSession = deflate.acceptResponse(session.response);
  const message = new PreparedMessage(LONG_TEXT);
  const server = new Protocol({ role: "server", compression: session });
  server.sendPrepared(message);
  const [frame, ...rest] = framesSent(server, true);
  assert.deepEqual(rest, []);
  assert.equal(frame?.rsv1, true);
  assert.equal(frame.fin, true);
  assert.equal(frame.opcode, Opcode.Text);
  assert.ok(frame.payload.length < LONG_TEXT.length, "the payload is compressed");

  const sender = new Protocol({ role: "server", compression: session });
  sender.sendPrepared(message);
  const client = new Protocol({ role: "client", compression: clientSession });
  assert.deepEqual(pipe(sender, client), [{ type: "message", data: LONG_TEXT }]);
});

Deno.test("sendPrepared sends a message below the threshold uncompressed, the shared plain frame", () => {
  const deflate = new PerMessageDeflate(zlibCompressor, { threshold: 100 });
  const session = deflate.acceptOffer([deflate.offer()])!;
  const message = new PreparedMessage("short");
  assert.equal(message.frame(session), message.frame(), "below the threshold: the plain frame");
  const server = new Protocol({ role: "server", compression: session });
  server.sendPrepared(message);
  const [frame] = framesSent(server, true);
  assert.equal(frame?.rsv1, false);
  assert.deepEqual(frame.payload, utf8("short"));
});

Deno.test("sendPrepared compresses a message whose size equals the threshold", () => {
  const deflate = new PerMessageDeflate(zlibCompressor, { threshold: 100 });
  const session = deflate.acceptOffer([deflate.offer()])!;
  const message = new PreparedMessage("a".repeat(100));
  const frame = message.frame(session);
  assert.notEqual(frame, message.frame());
  assert.equal(frame[0]! & 0x40, 0x40, "RSV1 set");
  assert.equal(new PreparedMessage("a".repeat(99)).frame(session)[0]! & 0x40, 0);
});

Deno.test("sendPrepared gives sessions that share a compressor the identical compressed bytes, compressed once", () => {
  const { engine, compressed } = countingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 100 });
  const a = deflate.acceptOffer([deflate.offer()])!;
  const b = deflate.acceptOffer([deflate.offer()])!;
  assert.equal(a.compressor, b.compressor);
  const message = new PreparedMessage(LONG_TEXT);
  const frame = message.frame(a);
  assert.equal(message.frame(b), frame, "the very same Uint8Array");
  assert.equal(frame[0]! & 0x40, 0x40);

  const first = new Protocol({ role: "server", compression: a });
  const second = new Protocol({ role: "server", compression: b });
  first.sendPrepared(message);
  second.sendPrepared(message);
  assert.deepEqual(bytesSent(first), frame);
  assert.deepEqual(bytesSent(second), frame);
  assert.equal(compressed(), 1, "one compression for every connection");
});

Deno.test("sendPrepared compresses separately for a session with another compressor", () => {
  const { engine, compressed } = countingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 100 });
  const wide = deflate.acceptOffer(parseExtensions("permessage-deflate"))!;
  const narrow = deflate.acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=9"),
  )!;
  const message = new PreparedMessage(LONG_TEXT);
  const wideFrame = message.frame(wide);
  const narrowFrame = message.frame(narrow);
  assert.notEqual(wideFrame, narrowFrame);
  assert.equal(message.frame(narrow), narrowFrame);
  assert.equal(compressed(), 2);
  // Each decodes to the message with its own session.
  const client = new Protocol({
    role: "client",
    compression: deflate.acceptResponse(wide.response),
  });
  assert.deepEqual(client.receive(narrowFrame.slice()), [{ type: "message", data: LONG_TEXT }]);
});

Deno.test("sendPrepared fragments a message larger than fragmentSize, as send() would", () => {
  const message = new PreparedMessage("Hello, world");
  const prepared = new Protocol({ role: "server", fragmentSize: 5 });
  const plain = new Protocol({ role: "server", fragmentSize: 5 });
  prepared.sendPrepared(message);
  plain.send("Hello, world");
  const bytes = bytesSent(prepared);
  assert.deepEqual(bytes, bytesSent(plain));
  const decoder = new FrameDecoder({ role: "client" });
  decoder.push(bytes);
  const frames = [decoder.next(), decoder.next(), decoder.next(), decoder.next()];
  assert.deepEqual(
    frames.map((frame) =>
      frame && [frame.opcode, frame.fin, new TextDecoder().decode(frame.payload)]
    ),
    [
      [Opcode.Text, false, "Hello"],
      [Opcode.Continuation, false, ", wor"],
      [Opcode.Continuation, true, "ld"],
      undefined,
    ],
  );
});

Deno.test("sendPrepared sends the shared frame when the message fits in fragmentSize", () => {
  const message = new PreparedMessage("Hello");
  const server = new Protocol({ role: "server", fragmentSize: 5 });
  server.sendPrepared(message);
  assert.deepEqual(bytesSent(server), message.frame());
});

Deno.test("sendPrepared after close() throws ClosedError, for either role", () => {
  for (const role of ["server", "client"] as const) {
    const protocol = new Protocol({ role });
    protocol.close(1000, "bye");
    assert.throws(
      () => protocol.sendPrepared(new PreparedMessage("late")),
      (error) => error instanceof ClosedError && error.closeCode === 1000,
      role,
    );
  }
});

Deno.test("sendPrepared on a server throws TypeError while a fragmented message is being sent", () => {
  const server = new Protocol({ role: "server" });
  server.sendText("Hel", { fin: false });
  assert.throws(() => server.sendPrepared(new PreparedMessage("broadcast")), TypeError);
});

Deno.test("sendPrepared on a client throws TypeError while a fragmented message of the same type is being sent", () => {
  // Otherwise the prepared message would end the fragmented one: the peer
  // would receive "Helbroadcast".
  const client = new Protocol({ role: "client" });
  client.sendText("Hel", { fin: false });
  assert.throws(() => client.sendPrepared(new PreparedMessage("broadcast")), TypeError);
});

Deno.test("sendPrepared on a fragmenting server throws TypeError while a fragmented message is being sent", () => {
  const server = new Protocol({ role: "server", fragmentSize: 4 });
  server.sendText("Hel", { fin: false });
  assert.throws(() => server.sendPrepared(new PreparedMessage("broadcast")), TypeError);
});

Deno.test("sendPrepared on a client throws TypeError while a fragmented message of the other type is being sent", () => {
  const client = new Protocol({ role: "client" });
  client.sendText("Hel", { fin: false });
  assert.throws(() => client.sendPrepared(new PreparedMessage(new Uint8Array([1]))), TypeError);
});

Deno.test("a prepared message goes from a hub to Deno's native WebSocket, and from a Duplex client's send()", async () => {
  const hub = new Hub();
  const received: unknown[] = [];
  hub.on("message", (_, message) => received.push(message));
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, hub.handler);
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const native = new WebSocket(url);
  native.binaryType = "arraybuffer";
  const messages: unknown[] = [];
  const got = new Promise<void>((resolve) => {
    native.onmessage = (event) => {
      messages.push(event.data);
      if (messages.length === 2) resolve();
    };
  });
  await new Promise((resolve) => native.onopen = resolve);
  while (hub.size < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  hub.broadcast(prepareMessage("tick"));
  hub.broadcast(prepareMessage("tock", { binary: true }));
  await got;
  assert.equal(messages[0], "tick");
  assert.deepEqual(new Uint8Array(messages[1] as ArrayBuffer), new TextEncoder().encode("tock"));
  // A client prepares too: the payload is encoded once, each frame masked.
  const client = await connect(url);
  const prepared = prepareMessage("from a client", { binary: true });
  await client.send(prepared);
  await client.send(prepared);
  while (received.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(received, [prepared.payload, prepared.payload]);
  const closed = new Promise((resolve) => native.onclose = resolve);
  native.close(1000);
  await closed;
  await client.close(1000);
  await server.shutdown();
});

Deno.test("prepareMessage: binary sends text as bytes; compress overrides the threshold both ways", () => {
  const engine = zlibCompressor(15, 1);
  const compression = { compressor: engine, threshold: 1_000_000 };
  const text = "abc".repeat(100);
  const server = new Protocol({ role: "server", compression });
  // By the threshold: too small to compress.
  server.sendPrepared(prepareMessage(text));
  // Forced on, and forced off below a threshold of 0.
  server.sendPrepared(prepareMessage(text, { compress: true }));
  const eager = new Protocol({ role: "server", compression: { compressor: engine, threshold: 0 } });
  eager.sendPrepared(prepareMessage(text, { compress: false, binary: true }));
  const frames = [...framesSent(server, true), ...framesSent(eager, true)];
  assert.deepEqual(frames.map((frame) => [frame.opcode, frame.rsv1]), [
    [Opcode.Text, false],
    [Opcode.Text, true],
    [Opcode.Binary, false],
  ]);
  assert.ok(frames[1]!.payload.length < 50);
  assert.deepEqual(frames[2]!.payload, new TextEncoder().encode(text));
});
