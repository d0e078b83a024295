// Copyright 2026 the Duplex authors. MIT license.
// A message framed once for many connections (PreparedMessage and
// Protocol.sendPrepared), and the PerMessageDeflate sessions: those without
// context takeover share compressors, so a compressed broadcast is
// compressed once for them; those with it are compressed one by one.
import assert from "node:assert/strict";
import {
  ClosedError,
  type CompressionOptions,
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
import {
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_MEM_LEVEL,
  DEFAULT_TAKEOVER_THRESHOLD,
  type DeflaterOptions,
} from "../codec/deflate.ts";
import { connect, Hub, serve } from "../mod.ts";
import { zlibEngine } from "../_deflate.ts";
import { concat, framesSent } from "./_util.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The first extension of a `Sec-WebSocket-Extensions` value. */
const extension = (value: string): Extension => parseExtensions(value)[0]!;

/** Neither side keeps its window: the sessions share compressors. */
const NO_TAKEOVER: CompressionOptions = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
};

/**
 * A stand-in engine whose streams pass data through, recording the
 * deflaters and inflaters it was asked for.
 */
function recordingEngine(): {
  engine: DeflateEngine;
  deflaters: DeflaterOptions[];
  inflaters: number[];
} {
  const deflaters: DeflaterOptions[] = [];
  const inflaters: number[] = [];
  const engine: DeflateEngine = {
    deflater(options) {
      deflaters.push({ ...options });
      return { deflate: (data) => data, reset() {}, close() {} };
    },
    inflater(windowBits) {
      inflaters.push(windowBits);
      return { inflate: (data) => data, reset() {}, close() {} };
    },
  };
  return { engine, deflaters, inflaters };
}

/** zlib, counting the calls to deflate(). */
function countingEngine(): { engine: DeflateEngine; compressed: () => number } {
  let count = 0;
  const engine: DeflateEngine = {
    deflater(options) {
      const inner = zlibEngine.deflater(options);
      return {
        deflate(data) {
          count++;
          return inner.deflate(data);
        },
        reset: () => inner.reset(),
        close: () => inner.close(),
      };
    },
    inflater: (windowBits) => zlibEngine.inflater(windowBits),
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

Deno.test("PerMessageDeflate defaults to level 6, memLevel 5, and a threshold of 16 bytes with takeover, 1024 without", () => {
  const deflate = new PerMessageDeflate(recordingEngine().engine);
  assert.equal(deflate.threshold, undefined, "no threshold set: each session picks its own");
  assert.equal(deflate.level, 6);
  assert.equal(deflate.level, DEFAULT_COMPRESSION_LEVEL);
  assert.equal(deflate.memLevel, 5);
  assert.equal(deflate.memLevel, DEFAULT_MEM_LEVEL);
  assert.equal(deflate.maxTakeoverContexts, Infinity);
  const takeover = deflate.acceptOffer(parseExtensions("permessage-deflate"))!;
  assert.equal(takeover.takeover, true);
  assert.equal(takeover.threshold, 16);
  assert.equal(takeover.threshold, DEFAULT_TAKEOVER_THRESHOLD);
  const none = deflate.acceptOffer(
    parseExtensions("permessage-deflate; server_no_context_takeover"),
  )!;
  assert.equal(none.takeover, false);
  assert.equal(none.threshold, 1024);
  assert.equal(none.threshold, DEFAULT_COMPRESSION_THRESHOLD);
  // The client's side follows its own takeover, not the server's.
  const client = deflate.acceptResponse(
    extension("permessage-deflate; server_no_context_takeover"),
  );
  assert.equal(client.takeover, true);
  assert.equal(client.threshold, 16);
  const custom = new PerMessageDeflate(recordingEngine().engine, {
    threshold: 0,
    level: 9,
    memLevel: 8,
  });
  assert.equal(custom.threshold, 0);
  assert.equal(custom.level, 9);
  assert.equal(custom.memLevel, 8);
  assert.equal(custom.acceptOffer(parseExtensions("permessage-deflate"))!.threshold, 0);
  for (const session of [takeover, none, client]) session.compressor.close?.();
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

Deno.test("PerMessageDeflate offers permessage-deflate with context takeover both ways and client_max_window_bits", () => {
  const offer = new PerMessageDeflate(recordingEngine().engine).offer();
  assert.deepEqual(offer, deflateOffer());
  assert.equal(formatExtensions([offer]), "permessage-deflate; client_max_window_bits");
  assert.equal(
    formatExtensions([new PerMessageDeflate(recordingEngine().engine, NO_TAKEOVER).offer()]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
  );
  assert.equal(
    formatExtensions([
      new PerMessageDeflate(recordingEngine().engine, {
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 9,
      }).offer(),
    ]),
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
  );
});

Deno.test("PerMessageDeflate acceptOffer returns null for no offer or only unusable ones", () => {
  const { engine, deflaters, inflaters } = recordingEngine();
  const deflate = new PerMessageDeflate(engine);
  for (
    const offers of [
      "",
      "x-webkit-deflate-frame",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=010",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; mystery",
    ]
  ) {
    assert.equal(deflate.acceptOffer(parseExtensions(offers)), null, offers);
  }
  assert.deepEqual([deflaters, inflaters], [[], []], "no stream is made for a declined offer");
  assert.equal(deflate.takeoverContexts, 0, "no takeover context is held for a declined offer");
});

Deno.test("PerMessageDeflate acceptOffer returns a session with the response, windows, takeover, level, threshold and compressor", () => {
  const { engine, deflaters, inflaters } = recordingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 256, level: 6 });
  const session = deflate.acceptOffer(
    parseExtensions("permessage-deflate; client_max_window_bits"),
  );
  assert.ok(session !== null);
  assert.equal(
    formatExtensions([session.response]),
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
  );
  assert.equal(session.windowBits, 12);
  assert.equal(session.peerWindowBits, 12);
  assert.equal(session.takeover, true);
  assert.equal(session.peerTakeover, true);
  assert.equal(session.level, 6);
  assert.equal(session.threshold, 256);
  assert.equal(session.compressor.cacheKey, null, "with takeover, nothing is shared");
  assert.equal(deflate.takeoverContexts, 1);
  // The streams are made on first use, with the agreed windows.
  assert.deepEqual([deflaters, inflaters], [[], []]);
  session.compressor.compress(utf8("hello"));
  session.compressor.decompress(utf8("hello"), 100);
  assert.deepEqual(deflaters, [{ windowBits: 12, level: 6, memLevel: 5, contextTakeover: true }]);
  assert.deepEqual(inflaters, [12]);
  session.compressor.close?.();
  assert.equal(deflate.takeoverContexts, 0, "close() releases the context");
});

Deno.test("PerMessageDeflate acceptOffer honours server_max_window_bits=10 with windowBits 10", () => {
  const { engine, deflaters } = recordingEngine();
  const session = new PerMessageDeflate(engine).acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  );
  assert.equal(session?.windowBits, 10);
  // The offer has no client_max_window_bits: the client's window is not limited.
  assert.equal(session.peerWindowBits, 15);
  assert.equal(
    formatExtensions([session.response]),
    "permessage-deflate; server_max_window_bits=10",
  );
  session.compressor.compress(utf8("hello"));
  assert.deepEqual(deflaters, [{ windowBits: 10, level: 6, memLevel: 5, contextTakeover: true }]);
  session.compressor.close?.();
});

Deno.test("PerMessageDeflate acceptOffer without takeover states both no_context_takeover parameters", () => {
  const session = new PerMessageDeflate(recordingEngine().engine, NO_TAKEOVER).acceptOffer(
    parseExtensions("permessage-deflate; client_max_window_bits"),
  )!;
  assert.equal(
    formatExtensions([session.response]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
  );
  assert.equal(session.takeover, false);
  assert.equal(session.peerTakeover, false);
  assert.equal(session.threshold, 1024);
  // A client that offers no takeover gets none, whatever the server's options.
  const offered = new PerMessageDeflate(recordingEngine().engine).acceptOffer(
    parseExtensions("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
  )!;
  assert.equal(
    formatExtensions([offered.response]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
  );
  assert.equal(offered.takeover, false);
  assert.equal(offered.peerTakeover, false);
});

Deno.test("PerMessageDeflate acceptOffer takes the first offer it can honour", () => {
  const session = new PerMessageDeflate(recordingEngine().engine).acceptOffer(
    parseExtensions(
      "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=10, permessage-deflate",
    ),
  );
  assert.equal(session?.windowBits, 10);
  session.compressor.close?.();
});

Deno.test("PerMessageDeflate acceptResponse returns a session for a valid answer", () => {
  const { engine, deflaters, inflaters } = recordingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 64, level: 3 });
  // [answer, windowBits, peerWindowBits, takeover, peerTakeover]
  const cases: [string, number, number, boolean, boolean][] = [
    // The client compresses with at most 12 bits unless told otherwise.
    ["permessage-deflate", 12, 15, true, true],
    [
      "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
      12,
      12,
      true,
      true,
    ],
    ["permessage-deflate; server_max_window_bits=10", 12, 10, true, true],
    ["permessage-deflate; client_max_window_bits=9", 9, 15, true, true],
    ["permessage-deflate; server_no_context_takeover", 12, 15, true, false],
    ["permessage-deflate; client_no_context_takeover", 12, 15, false, true],
    [
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      12,
      15,
      false,
      false,
    ],
  ];
  for (const [answer, windowBits, peerWindowBits, takeover, peerTakeover] of cases) {
    const response = extension(answer);
    const session = deflate.acceptResponse(response);
    assert.deepEqual(session.response, response, answer);
    assert.deepEqual(
      [session.windowBits, session.peerWindowBits, session.takeover, session.peerTakeover],
      [windowBits, peerWindowBits, takeover, peerTakeover],
      answer,
    );
    assert.equal(session.level, 3);
    assert.equal(session.threshold, 64);
    session.compressor.close?.();
  }
  assert.deepEqual([deflaters, inflaters], [[], []], "no stream before the first message");
  assert.equal(deflate.takeoverContexts, 0);
});

Deno.test("PerMessageDeflate acceptResponse throws SyntaxError for an answer that does not fit the offer", () => {
  // The default offer: "permessage-deflate; client_max_window_bits".
  const deflate = new PerMessageDeflate(recordingEngine().engine);
  for (
    const answer of [
      "x-webkit-deflate-frame",
      "permessage-deflate; client_max_window_bits",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; mystery",
    ]
  ) {
    assert.throws(() => deflate.acceptResponse(extension(answer)), SyntaxError, answer);
  }
  // An offer without takeover, without client_max_window_bits.
  const none = new PerMessageDeflate(recordingEngine().engine, {
    ...NO_TAKEOVER,
    clientMaxWindowBits: false,
  });
  assert.equal(
    formatExtensions([none.offer()]),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  );
  for (
    const answer of [
      "permessage-deflate",
      "permessage-deflate; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=16",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; mystery",
    ]
  ) {
    assert.throws(() => none.acceptResponse(extension(answer)), SyntaxError, answer);
  }
  // Windows asked for: the answer may not be larger, nor leave the server's out.
  const narrow = new PerMessageDeflate(recordingEngine().engine, {
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 10,
  });
  for (
    const answer of [
      "permessage-deflate",
      "permessage-deflate; server_max_window_bits=12",
      "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
    ]
  ) {
    assert.throws(() => narrow.acceptResponse(extension(answer)), SyntaxError, answer);
  }
  assert.equal(
    narrow.acceptResponse(extension("permessage-deflate; server_max_window_bits=9")).peerWindowBits,
    9,
  );
});

Deno.test("PerMessageDeflate sessions without takeover and with the same window share one deflater and one cache key", () => {
  const { engine, deflaters } = recordingEngine();
  const deflate = new PerMessageDeflate(engine, NO_TAKEOVER);
  const offer = parseExtensions("permessage-deflate");
  const a = deflate.acceptOffer(offer)!;
  const b = deflate.acceptOffer(offer)!;
  const client = deflate.acceptResponse(a.response);
  assert.notEqual(a, b);
  assert.deepEqual([a.windowBits, b.windowBits, client.windowBits], [12, 12, 12]);
  assert.ok(a.compressor.cacheKey !== null && a.compressor.cacheKey !== undefined);
  assert.equal(a.compressor.cacheKey, b.compressor.cacheKey);
  assert.equal(client.compressor.cacheKey, a.compressor.cacheKey, "window 12 on either side");
  for (const session of [a, b, client]) session.compressor.compress(utf8("hello"));
  assert.deepEqual(
    deflaters,
    [{ windowBits: 12, level: 6, memLevel: 5, contextTakeover: false }],
    "one deflater for all",
  );
  assert.equal(deflate.takeoverContexts, 0, "no session holds takeover state");
});

Deno.test("PerMessageDeflate sessions with takeover each get their own deflater, and hold a context until closed", () => {
  const { engine, deflaters } = recordingEngine();
  const deflate = new PerMessageDeflate(engine);
  const offer = parseExtensions("permessage-deflate");
  const a = deflate.acceptOffer(offer)!;
  const b = deflate.acceptOffer(offer)!;
  assert.equal(a.compressor.cacheKey, null);
  assert.equal(b.compressor.cacheKey, null);
  assert.equal(deflate.takeoverContexts, 2);
  for (const session of [a, b, a, b]) session.compressor.compress(utf8("hello"));
  assert.deepEqual(deflaters, [
    { windowBits: 12, level: 6, memLevel: 5, contextTakeover: true },
    { windowBits: 12, level: 6, memLevel: 5, contextTakeover: true },
  ], "one deflater per session, kept across its messages");
  a.compressor.close?.();
  a.compressor.close?.();
  assert.equal(deflate.takeoverContexts, 1, "close() releases one, once");
  assert.throws(() => a.compressor.compress(utf8("late")), Error);
  b.compressor.close?.();
  assert.equal(deflate.takeoverContexts, 0);
});

Deno.test("PerMessageDeflate sessions without takeover and different windows have different compressors", () => {
  const { engine, deflaters } = recordingEngine();
  const deflate = new PerMessageDeflate(engine, NO_TAKEOVER);
  const wide = deflate.acceptOffer(parseExtensions("permessage-deflate"))!;
  const narrow = deflate.acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  )!;
  const narrowAgain = deflate.acceptOffer(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  )!;
  assert.notEqual(wide.compressor.cacheKey, narrow.compressor.cacheKey);
  assert.equal(narrow.compressor.cacheKey, narrowAgain.compressor.cacheKey);
  for (const session of [wide, narrow, narrowAgain]) session.compressor.compress(utf8("hello"));
  assert.deepEqual(deflaters.map((options) => options.windowBits), [12, 10]);
});

Deno.test("PerMessageDeflate with zlib: messages go both ways and back to themselves, with and without takeover", () => {
  for (const options of [{}, NO_TAKEOVER]) {
    for (const window of [{}, { serverMaxWindowBits: 9, clientMaxWindowBits: 9 }]) {
      const what = JSON.stringify({ ...options, ...window });
      const server = new PerMessageDeflate(zlibEngine, { ...options, ...window });
      const client = new PerMessageDeflate(zlibEngine, { ...options, ...window });
      const offer = client.offer();
      const serverSession = server.acceptOffer([offer])!;
      const clientSession = client.acceptResponse(serverSession.response, offer);
      const takeover = !("serverNoContextTakeover" in options);
      assert.equal(serverSession.takeover, takeover, what);
      const directions = [[serverSession, clientSession], [clientSession, serverSession]] as const;
      for (const [from, to] of directions) {
        const sizes: number[] = [];
        const json = utf8(
          `{"type":"message","room":"lobby","from":"ada","text":"${LONG_TEXT.slice(0, 60)}"}`,
        );
        for (const data of [utf8(LONG_TEXT), new Uint8Array(0), utf8("Hello"), json, json]) {
          const compressed = from.compressor.compress(data);
          sizes.push(compressed.length);
          assert.deepEqual(to.compressor.decompress(compressed, data.length), data, what);
          // RFC 7692 §7.2.1: the 00 00 ff ff tail is taken off.
          assert.notDeepEqual(compressed.subarray(-4), new Uint8Array([0, 0, 0xff, 0xff]), what);
        }
        assert.ok(sizes[0]! < LONG_TEXT.length / 4, `repetitive text compresses: ${what}`);
        if (takeover) {
          // The window still holds the first: the repeat is a back-reference.
          assert.ok(sizes[4]! < sizes[3]! / 2, `${what}: ${sizes}`);
        } else {
          assert.equal(sizes[4], sizes[3], `${what}: every message starts afresh`);
        }
      }
      serverSession.compressor.close?.();
      clientSession.compressor.close?.();
    }
  }
});

Deno.test("PerMessageDeflate with zlib refuses to inflate past maxSize with RangeError", () => {
  for (const options of [{}, NO_TAKEOVER]) {
    const deflate = new PerMessageDeflate(zlibEngine, options);
    const server = deflate.acceptOffer([deflate.offer()])!;
    const client = deflate.acceptResponse(server.response);
    const compressed = server.compressor.compress(new Uint8Array(100_000));
    assert.throws(() => client.compressor.decompress(compressed, 1000), RangeError);
    server.compressor.close?.();
    client.compressor.close?.();
  }
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
  for (const options of [{}, NO_TAKEOVER]) {
    const what = JSON.stringify(options);
    const deflate = new PerMessageDeflate(zlibEngine, { ...options, threshold: 100 });
    const offer = deflate.offer();
    const session = deflate.acceptOffer([offer])!;
    const clientSession = deflate.acceptResponse(session.response, offer);
    const message = new PreparedMessage(LONG_TEXT);
    const server = new Protocol({ role: "server", compression: session });
    server.sendPrepared(message);
    server.sendPrepared(message);
    const bytes = bytesSent(server);
    const decoder = new FrameDecoder({ role: "client", allowRsv1: true });
    decoder.push(bytes.slice());
    const frames = [decoder.next(), decoder.next(), decoder.next()];
    assert.equal(frames[2], undefined, what);
    for (const frame of frames.slice(0, 2)) {
      assert.equal(frame?.rsv1, true, what);
      assert.equal(frame.fin, true);
      assert.equal(frame.opcode, Opcode.Text);
      assert.ok(frame.payload.length < LONG_TEXT.length, "the payload is compressed");
    }
    // The client reads both, the second one (with takeover) through its window.
    const client = new Protocol({ role: "client", compression: clientSession });
    assert.deepEqual(client.receive(bytes), [
      { type: "message", data: LONG_TEXT },
      { type: "message", data: LONG_TEXT },
    ], what);
    session.compressor.close?.();
    clientSession.compressor.close?.();
  }
});

Deno.test("sendPrepared sends a message below the threshold uncompressed, the shared plain frame", () => {
  for (const options of [{}, NO_TAKEOVER]) {
    const deflate = new PerMessageDeflate(zlibEngine, { ...options, threshold: 100 });
    const session = deflate.acceptOffer([deflate.offer()])!;
    const message = new PreparedMessage("short");
    assert.equal(message.frame(session), message.frame(), "below the threshold: the plain frame");
    const server = new Protocol({ role: "server", compression: session });
    server.sendPrepared(message);
    const [frame] = framesSent(server, true);
    assert.equal(frame?.rsv1, false);
    assert.deepEqual(frame.payload, utf8("short"));
    session.compressor.close?.();
  }
});

Deno.test("sendPrepared compresses a message whose size equals the threshold", () => {
  for (const options of [{}, NO_TAKEOVER]) {
    const deflate = new PerMessageDeflate(zlibEngine, { ...options, threshold: 100 });
    const session = deflate.acceptOffer([deflate.offer()])!;
    const message = new PreparedMessage("a".repeat(100));
    const frame = message.frame(session);
    assert.notEqual(frame, message.frame());
    assert.equal(frame[0]! & 0x40, 0x40, "RSV1 set");
    assert.equal(new PreparedMessage("a".repeat(99)).frame(session)[0]! & 0x40, 0);
    session.compressor.close?.();
  }
});

Deno.test("sendPrepared gives sessions without takeover that share a window the identical compressed bytes, compressed once", () => {
  const { engine, compressed } = countingEngine();
  const deflate = new PerMessageDeflate(engine, { ...NO_TAKEOVER, threshold: 100 });
  const a = deflate.acceptOffer([deflate.offer()])!;
  const b = deflate.acceptOffer([deflate.offer()])!;
  assert.equal(a.compressor.cacheKey, b.compressor.cacheKey);
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

Deno.test("sendPrepared compresses a message once per session with takeover, in that session's window", () => {
  const { engine, compressed } = countingEngine();
  const deflate = new PerMessageDeflate(engine, { threshold: 100 });
  const offer = deflate.offer();
  const a = deflate.acceptOffer([offer])!;
  const b = deflate.acceptOffer([offer])!;
  assert.equal(a.compressor.cacheKey, null);
  const message = new PreparedMessage(LONG_TEXT);
  const first = new Protocol({ role: "server", compression: a });
  const second = new Protocol({ role: "server", compression: b });
  first.sendPrepared(message);
  second.sendPrepared(message);
  assert.equal(compressed(), 2, "compressed for each connection");
  const fromFirst = bytesSent(first);
  const fromSecond = bytesSent(second);
  assert.equal(fromFirst[0]! & 0x40, 0x40);
  // Both windows were empty: the same bytes, but not a shared frame.
  assert.deepEqual(fromFirst, fromSecond);
  // Sent again to the first: its window holds the message, the frame is smaller.
  first.sendPrepared(message);
  const again = bytesSent(first);
  assert.equal(compressed(), 3);
  assert.equal(again[0]! & 0x40, 0x40);
  assert.ok(again.length < fromFirst.length, `${again.length} < ${fromFirst.length}`);
  // And the peer reads both through its own window.
  const clientSession = deflate.acceptResponse(a.response, offer);
  const client = new Protocol({ role: "client", compression: clientSession });
  assert.deepEqual(client.receive(concat(fromFirst, again)), [
    { type: "message", data: LONG_TEXT },
    { type: "message", data: LONG_TEXT },
  ]);
  for (const session of [a, b, clientSession]) session.compressor.close?.();
});

Deno.test("sendPrepared compresses separately for a session with another window", () => {
  const { engine, compressed } = countingEngine();
  const deflate = new PerMessageDeflate(engine, { ...NO_TAKEOVER, threshold: 100 });
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
  const deflate = new PerMessageDeflate(zlibEngine, { level: 1 });
  const compressor = () => deflate.acceptOffer([deflate.offer()])!.compressor;
  const text = "abc".repeat(100);
  const server = new Protocol({
    role: "server",
    compression: { compressor: compressor(), threshold: 1_000_000 },
  });
  // By the threshold: too small to compress.
  server.sendPrepared(prepareMessage(text));
  // Forced on, and forced off below a threshold of 0.
  server.sendPrepared(prepareMessage(text, { compress: true }));
  const eager = new Protocol({
    role: "server",
    compression: { compressor: compressor(), threshold: 0 },
  });
  eager.sendPrepared(prepareMessage(text, { compress: false, binary: true }));
  const frames = [...framesSent(server, true), ...framesSent(eager, true)];
  assert.deepEqual(frames.map((frame) => [frame.opcode, frame.rsv1]), [
    [Opcode.Text, false],
    [Opcode.Text, true],
    [Opcode.Binary, false],
  ]);
  assert.ok(frames[1]!.payload.length < 50);
  assert.deepEqual(frames[2]!.payload, new TextEncoder().encode(text));
  assert.equal(deflate.takeoverContexts, 2);
  for (const protocol of [server, eager]) {
    protocol.close(1000);
    protocol.receive(
      encodeFrame(Opcode.Close, new Uint8Array([0x03, 0xe8]), { mask: new Uint8Array(4) }),
    );
  }
  assert.equal(deflate.takeoverContexts, 0, "a Protocol that reaches CLOSED closes its compressor");
});
