// Copyright 2026 the Duplex authors. MIT license.
// permessage-deflate (RFC 7692): every negotiation rule, in bytes; and the
// Protocol compressing and inflating through the node:zlib engine, with
// and without context takeover, at every window size.
import assert from "node:assert/strict";
import {
  acceptDeflateResponse,
  type CompressionOptions,
  type DeflateEngine,
  deflateOffer,
  Deflater,
  type DeflateSession,
  encodeFrame,
  type Extension,
  formatExtensions,
  type Frame,
  FrameDecoder,
  negotiateDeflate,
  Opcode,
  parseExtensions,
  PerMessageDeflate,
  PreparedMessage,
  Protocol,
  type ProtocolEvent,
  type Role,
} from "../codec/mod.ts";
import { deflateFor, zlibEngine } from "../_deflate.ts";
import { framesSent, hex, randomBytes, withSeed } from "./_util.ts";
import { inspectDeflate } from "./_inflate.ts";

const KEY = hex("37 fa 21 3d");
const parse = (value: string): Extension[] => parseExtensions(value);
const one = (value: string): Extension => parseExtensions(value)[0]!;
const show = (extension: Extension): string => formatExtensions([extension]);

/** What a server answers an offer, as header text; `null` for no compression. */
function answer(
  offer: string,
  options: Parameters<typeof negotiateDeflate>[1] = {},
): string | null {
  const agreed = negotiateDeflate(parse(offer), options);
  return agreed === null ? null : show(agreed.response);
}

// ---------------------------------------------------------------------------
// Negotiation: the server (RFC 7692 §5, §7.1)

Deno.test("server: each parameter of an offer is accepted and stated back as §7.1 says", () => {
  // Nothing asked: takeover both ways, and nothing to state.
  assert.equal(answer("permessage-deflate"), "permessage-deflate");
  // §7.1.1.1: server_no_context_takeover offered is accepted by stating it.
  assert.equal(
    answer("permessage-deflate; server_no_context_takeover"),
    "permessage-deflate; server_no_context_takeover",
  );
  // §7.1.1.2: the client's hint is stated back, so that it binds the client.
  assert.equal(
    answer("permessage-deflate; client_no_context_takeover"),
    "permessage-deflate; client_no_context_takeover",
  );
  // §7.1.2.1: server_max_window_bits offered is answered with the same or less.
  assert.equal(
    answer("permessage-deflate; server_max_window_bits=10"),
    "permessage-deflate; server_max_window_bits=10",
  );
  assert.equal(
    answer("permessage-deflate; server_max_window_bits=14", { serverMaxWindowBits: 12 }),
    "permessage-deflate; server_max_window_bits=12",
  );
  // §7.1.2.2: client_max_window_bits without a value lets the server choose.
  assert.equal(
    answer("permessage-deflate; client_max_window_bits", { clientMaxWindowBits: 11 }),
    "permessage-deflate; client_max_window_bits=11",
  );
  assert.equal(answer("permessage-deflate; client_max_window_bits"), "permessage-deflate");
  // A value in the offer is the client's own limit: the smaller one wins.
  assert.equal(
    answer("permessage-deflate; client_max_window_bits=9", { clientMaxWindowBits: 12 }),
    "permessage-deflate; client_max_window_bits=9",
  );
  // Not offered: the client's window cannot be limited (and is not stated).
  const unlimited = negotiateDeflate(parse("permessage-deflate"), { clientMaxWindowBits: 10 })!;
  assert.equal(show(unlimited.response), "permessage-deflate");
  assert.equal(unlimited.clientMaxWindowBits, 15);
  // The server's own window is stated even when not asked for (§7.1.2.1 allows it).
  assert.equal(
    answer("permessage-deflate", { serverMaxWindowBits: 12 }),
    "permessage-deflate; server_max_window_bits=12",
  );
  // A server that imposes no takeover says so, asked or not.
  assert.equal(
    answer("permessage-deflate", { serverNoContextTakeover: true, clientNoContextTakeover: true }),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  );
});

Deno.test("server: the agreement carries each side's window and takeover", () => {
  const agreed = negotiateDeflate(
    parse("permessage-deflate; server_max_window_bits=10; client_max_window_bits"),
    { clientMaxWindowBits: 12 },
  )!;
  assert.deepEqual(
    {
      server: agreed.serverMaxWindowBits,
      client: agreed.clientMaxWindowBits,
      serverReset: agreed.serverNoContextTakeover,
      clientReset: agreed.clientNoContextTakeover,
    },
    { server: 10, client: 12, serverReset: false, clientReset: false },
  );
});

Deno.test("server: an offer with an unknown, repeated or malformed parameter is declined, and the next one tried", () => {
  for (
    const offer of [
      "permessage-deflate; unknown_param",
      "permessage-deflate; x=1",
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_max_window_bits", // needs a value (§7.1.2.1)
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=010", // no leading zeros
      "permessage-deflate; client_max_window_bits=abc",
      "permessage-deflate; client_max_window_bits=0",
      "x-webkit-deflate-frame",
      "",
    ]
  ) {
    assert.equal(answer(offer), null, offer);
  }
  // Several offers in one header, tried in the client's order (§5).
  const second = negotiateDeflate(
    parse(
      "permessage-deflate; server_max_window_bits=99, " +
        "permessage-deflate; server_max_window_bits=11; client_max_window_bits, " +
        "permessage-deflate",
    ),
  )!;
  assert.equal(second.serverMaxWindowBits, 11);
  assert.equal(show(second.response), "permessage-deflate; server_max_window_bits=11");
  // Another extension before it is skipped.
  assert.equal(answer("x-webkit-deflate-frame, permessage-deflate"), "permessage-deflate");
});

Deno.test("server: an 8-bit server window is accepted (its deflater then only uses distance-1 matches)", () => {
  assert.equal(
    answer("permessage-deflate; server_max_window_bits=8"),
    "permessage-deflate; server_max_window_bits=8",
  );
  assert.equal(
    answer("permessage-deflate; client_max_window_bits", { clientMaxWindowBits: 8 }),
    "permessage-deflate; client_max_window_bits=8",
  );
});

// ---------------------------------------------------------------------------
// Negotiation: the client

Deno.test("client: the offer says what the options ask", () => {
  assert.equal(show(deflateOffer()), "permessage-deflate; client_max_window_bits");
  assert.equal(show(deflateOffer({ clientMaxWindowBits: false })), "permessage-deflate");
  assert.equal(
    show(deflateOffer({ clientMaxWindowBits: 10, serverMaxWindowBits: 11 })),
    "permessage-deflate; server_max_window_bits=11; client_max_window_bits=10",
  );
  assert.equal(
    show(deflateOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true })),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
  );
});

Deno.test("client: a valid answer is taken as it states; each kind of bad answer is refused", () => {
  const plain = acceptDeflateResponse(one("permessage-deflate"));
  assert.deepEqual(
    [plain.serverMaxWindowBits, plain.clientMaxWindowBits, plain.serverNoContextTakeover],
    [15, 15, false],
  );
  const chosen = acceptDeflateResponse(
    one("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10"),
  );
  assert.deepEqual([chosen.serverMaxWindowBits, chosen.clientMaxWindowBits], [9, 10]);
  const reset = acceptDeflateResponse(
    one("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
  );
  assert.deepEqual([reset.serverNoContextTakeover, reset.clientNoContextTakeover], [true, true]);

  const refused = (response: string, offer: Extension = deflateOffer()) =>
    assert.throws(() => acceptDeflateResponse(one(response), offer), SyntaxError, response);
  // client_max_window_bits answered although it was not offered (§7.1.2.2).
  refused(
    "permessage-deflate; client_max_window_bits=10",
    deflateOffer({ clientMaxWindowBits: false }),
  );
  // ... or without a value, or larger than the value offered.
  refused("permessage-deflate; client_max_window_bits");
  refused(
    "permessage-deflate; client_max_window_bits=12",
    deflateOffer({ clientMaxWindowBits: 10 }),
  );
  // server_max_window_bits: a value is needed; no larger than asked; present if asked.
  refused("permessage-deflate; server_max_window_bits");
  refused("permessage-deflate; server_max_window_bits=16");
  refused(
    "permessage-deflate; server_max_window_bits=12",
    deflateOffer({ serverMaxWindowBits: 10 }),
  );
  refused("permessage-deflate", deflateOffer({ serverMaxWindowBits: 10 }));
  // server_no_context_takeover asked for must be granted.
  refused("permessage-deflate", deflateOffer({ serverNoContextTakeover: true }));
  // Unknown, repeated, with a value where none belongs.
  refused("permessage-deflate; x=1");
  refused("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
  refused("permessage-deflate; client_no_context_takeover=yes");
  refused("x-other");
  // A client that declared no takeover keeps to it, whatever the answer.
  const declared = acceptDeflateResponse(
    one("permessage-deflate"),
    deflateOffer({ clientNoContextTakeover: true }),
  );
  assert.equal(declared.clientNoContextTakeover, true);
});

Deno.test("PerMessageDeflate: defaults, and every bad option refused at construction", () => {
  const deflate = new PerMessageDeflate(zlibEngine);
  assert.deepEqual([deflate.level, deflate.memLevel, deflate.threshold], [6, 5, undefined]);
  const session = deflate.acceptOffer(parse("permessage-deflate; client_max_window_bits"))!;
  assert.equal(
    show(session.response),
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
  );
  assert.deepEqual(
    [session.windowBits, session.peerWindowBits, session.takeover, session.peerTakeover],
    [12, 12, true, true],
  );
  assert.equal(session.threshold, 16);
  session.compressor.close?.();
  const bad: [CompressionOptions, ErrorConstructor][] = [
    [{ level: 0 }, RangeError],
    [{ level: 10 }, RangeError],
    [{ memLevel: 0 }, RangeError],
    [{ memLevel: 1.5 }, RangeError],
    [{ serverMaxWindowBits: 7 }, RangeError],
    [{ serverMaxWindowBits: 16 }, RangeError],
    [{ clientMaxWindowBits: 16 }, RangeError],
    [{ threshold: -1 }, RangeError],
    [{ threshold: Infinity }, RangeError],
    [{ maxTakeoverContexts: -1 }, RangeError],
    [{ level: "6" as unknown as number }, TypeError],
    [{ serverNoContextTakeover: "yes" as unknown as boolean }, TypeError],
  ];
  for (const [options, error] of bad) {
    assert.throws(() => new PerMessageDeflate(zlibEngine, options), error, JSON.stringify(options));
  }
});

// ---------------------------------------------------------------------------
// The Protocol over what was agreed

/** Counts the streams an engine makes and frees. */
function countingEngine(): { engine: DeflateEngine; made: () => number; live: () => number } {
  let made = 0;
  let live = 0;
  const track = <T extends { close(): void }>(stream: T): T => {
    made++;
    live++;
    const close = stream.close.bind(stream);
    let closed = false;
    stream.close = () => {
      if (!closed) live--;
      closed = true;
      close();
    };
    return stream;
  };
  return {
    engine: {
      deflater: (options) => track(zlibEngine.deflater(options)),
      inflater: (windowBits) => track(zlibEngine.inflater(windowBits)),
    },
    made: () => made,
    live: () => live,
  };
}

interface Sessions {
  client: Protocol;
  server: Protocol;
  clientSession: DeflateSession;
  serverSession: DeflateSession;
}

/** A client and a server Protocol, after a negotiation between these settings. */
function negotiated(
  clientOptions: CompressionOptions = {},
  serverOptions: CompressionOptions = {},
  engine: DeflateEngine = zlibEngine,
  limits: { maxMessageSize?: number; fragmentSize?: number } = {},
): Sessions {
  const clientSide = new PerMessageDeflate(engine, clientOptions);
  const serverSide = new PerMessageDeflate(engine, serverOptions);
  const offer = clientSide.offer();
  const serverSession = serverSide.acceptOffer([offer]);
  assert.ok(serverSession !== null, `declined: ${show(offer)}`);
  const clientSession = clientSide.acceptResponse(serverSession.response, offer);
  return {
    client: new Protocol({ role: "client", compression: clientSession, ...limits }),
    server: new Protocol({ role: "server", compression: serverSession, ...limits }),
    clientSession,
    serverSession,
  };
}

/** Sends everything `from` has queued to `to`; returns `to`'s events. */
function deliver(from: Protocol, to: Protocol): ProtocolEvent[] {
  return from.dataToSend().flatMap((chunk) => to.receive(chunk.slice()));
}

function messages(events: ProtocolEvent[]): unknown[] {
  return events.filter((event) => event.type === "message").map((event) =>
    event.type === "message" ? event.data : undefined
  );
}

/** Decodes what a protocol wants to send, as its peer would (RSV1 allowed). */
const sent = (protocol: Protocol): Frame[] => framesSent(protocol, true);

function chat(i: number): string {
  return JSON.stringify({
    type: "message",
    room: "lobby",
    nick: ["alice", "bob", "carol"][i % 3],
    text: `message number ${i} about the weather`,
    at: 1_700_000_000_000 + i * 1000,
  });
}

Deno.test("Protocol inflates the RFC 7692 §7.2.3 examples: one frame, fragments, a stored block, BFINAL, shared window", () => {
  const { server } = negotiated();
  const send = (payload: Uint8Array, options: { fin?: boolean; rsv1?: boolean } = {}) =>
    messages(
      server.receive(encodeFrame(Opcode.Text, payload, { rsv1: true, mask: KEY, ...options })),
    );
  // "Hello", compressed, in one frame (§7.2.3.1).
  assert.deepEqual(send(hex("f2 48 cd c9 c9 07 00")), ["Hello"]);
  // §7.2.3.2: the same "Hello" again, referring back to the first one.
  assert.deepEqual(send(hex("f2 00 11 00 00")), ["Hello"]);
  // Split over two frames, RSV1 on the first only.
  const first = encodeFrame(Opcode.Text, hex("f2 48 cd"), { rsv1: true, fin: false, mask: KEY });
  const second = encodeFrame(Opcode.Continuation, hex("c9 c9 07 00"), { mask: KEY });
  assert.deepEqual(messages(server.receive(first)), []);
  assert.deepEqual(messages(server.receive(second)), ["Hello"]);
  // "Hello" in a stored (uncompressed) DEFLATE block (§7.2.3.3).
  assert.deepEqual(send(hex("00 05 00 fa ff 48 65 6c 6c 6f 00")), ["Hello"]);
  // §7.2.3.4: a block with BFINAL set ends the DEFLATE stream; the next message still inflates.
  assert.deepEqual(send(hex("f3 48 cd c9 c9 07 00 00")), ["Hello"]);
  assert.deepEqual(send(hex("f2 48 cd c9 c9 07 00")), ["Hello"]);
  // An empty compressed message: one 00 (§7.2.3.6), or nothing at all.
  assert.deepEqual(send(hex("00")), [""]);
  assert.deepEqual(send(new Uint8Array(0)), [""]);
  assert.deepEqual(send(hex("f2 48 cd c9 c9 07 00")), ["Hello"]);
});

Deno.test("with context takeover, 300 chat messages compress to a ninth, and every one round-trips", () => {
  const { client, server } = negotiated();
  let raw = 0;
  let wire = 0;
  for (let i = 0; i < 300; i++) {
    const text = chat(i);
    server.send(text);
    const frames = sent(server);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.rsv1, true);
    raw += new TextEncoder().encode(text).length;
    wire += frames[0]!.payload.length;
    const events = client.receive(encodeFrame(Opcode.Text, frames[0]!.payload, { rsv1: true }));
    assert.deepEqual(messages(events), [text]);
  }
  assert.ok(wire / raw < 0.15, `${wire} of ${raw} bytes`);
});

Deno.test("the same messages without takeover gain little: takeover is what makes small messages worth it", () => {
  const { server } = negotiated({}, { serverNoContextTakeover: true, threshold: 0 });
  let raw = 0;
  let wire = 0;
  for (let i = 0; i < 100; i++) {
    server.send(chat(i));
    for (const frame of sent(server)) wire += frame.payload.length;
    raw += chat(i).length;
  }
  assert.ok(wire / raw > 0.5, `${wire} of ${raw} bytes`);
});

Deno.test("messages sent uncompressed in between (compress: false, below the threshold, or grown) never corrupt the shared window", () => {
  withSeed((next) => {
    const { client, server } = negotiated({}, { threshold: 40 });
    for (let i = 0; i < 400; i++) {
      const kind = next();
      let data: string | Uint8Array;
      let options: { compress?: boolean } = {};
      if (kind < 0.2) {
        data = chat(i);
        options = { compress: false };
      } else if (kind < 0.35) {
        data = "short"; // below the threshold
      } else if (kind < 0.5) {
        data = randomBytes(next, 200 + Math.floor(next() * 2000)); // grows: sent as it is
      } else if (kind < 0.55) {
        data = "";
        options = { compress: true }; // an empty compressed message
      } else {
        data = chat(i);
      }
      const from = next() < 0.5 ? client : server;
      const to = from === client ? server : client;
      from.send(data, options);
      const received = messages(deliver(from, to));
      assert.deepEqual(received, [data], `message ${i}`);
    }
  });
});

Deno.test("compress: true and false override the threshold, for text, bytes and prepared messages", () => {
  const { server } = negotiated({}, { threshold: 1000 });
  server.send("abababababababababab", { compress: true });
  server.send("x".repeat(2000), { compress: false });
  server.send(new Uint8Array(20), { compress: true });
  server.sendPrepared(new PreparedMessage("cdcdcdcdcdcdcdcdcdcd", { compress: true }));
  server.sendPrepared(new PreparedMessage("y".repeat(2000), { compress: false }));
  assert.deepEqual(sent(server).map((frame) => frame.rsv1), [true, false, true, true, false]);
});

Deno.test("every window size from 8 to 15, each way, round-trips 2,000 mixed messages byte for byte", () => {
  withSeed((next) => {
    for (let bits = 8; bits <= 15; bits++) {
      const { client, server } = negotiated(
        { clientMaxWindowBits: bits, serverMaxWindowBits: bits, threshold: 0 },
        { serverMaxWindowBits: bits, clientMaxWindowBits: bits },
      );
      for (let i = 0; i < 2_000; i++) {
        const size = next() < 0.9 ? Math.floor(next() * 300) : Math.floor(next() * 40_000);
        const text = next() < 0.5;
        const data = text
          ? Array.from({ length: size }, (_, j) => 'abcdefghij ,{}:"0123'[(j * 7 + i) % 21]).join(
            "",
          )
          : new Uint8Array(size).map((_, j) => (j % 97) ^ (i & 0xff));
        const from = i % 2 === 0 ? client : server;
        const to = from === client ? server : client;
        from.send(data);
        assert.deepEqual(messages(deliver(from, to)), [data], `${bits} bits, message ${i}`);
      }
    }
  });
});

Deno.test("the deflater never refers further back than its window, at every size; at 8 bits too (zlib's raw 8 is 9)", () => {
  // Random blocks sent twice each, with context takeover: each repeat can
  // only be matched as far back as the window allows.
  const random = (size: number) => {
    const bytes = new Uint8Array(size);
    for (let i = 0, x = size; i < size; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    return bytes;
  };
  const sizes = [100, 200, 240, 250, 256, 300, 500, 1000, 2000, 4000, 8000, 16000, 30000];
  // zlib (the shared compressors) and the codec's Deflater (a connection's own).
  for (let run = 0; run < 16; run++) {
    const bits = 8 + (run % 8);
    const contextTakeover = run >= 8;
    const deflater = zlibEngine.deflater({
      windowBits: bits,
      level: 9,
      memLevel: 8,
      contextTakeover,
    });
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const size of sizes) {
      const block = random(size);
      for (let twice = 0; twice < 2; twice++) {
        parts.push(deflater.deflate(block), hex("00 00 ff ff"));
      }
      total += 2 * size;
    }
    deflater.close();
    const joined = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    parts.reduce((at, part) => (joined.set(part, at), at + part.length), 0);
    const { output, maxDistance } = inspectDeflate(joined);
    const what = `${contextTakeover ? "Deflater" : "zlib"}, ${bits} bits`;
    assert.equal(output.length, total, `${what}: the stream decodes whole`);
    assert.ok(maxDistance <= 2 ** bits, `${what}: a match ${maxDistance} bytes back`);
    // And it does use the window it has: repeats are found almost that far back.
    assert.ok(maxDistance > 2 ** bits * 0.45, `${what}: matches reach only ${maxDistance}`);
  }
});

Deno.test("fragmented compressed messages round-trip; RSV1 is on the first frame only", () => {
  const { client, server } = negotiated({}, {}, zlibEngine, { fragmentSize: 4 });
  for (let i = 0; i < 20; i++) {
    server.send(chat(i));
    const frames = sent(server);
    assert.ok(frames.length > 1);
    assert.deepEqual(frames.map((frame) => frame.rsv1), [
      true,
      ...frames.slice(1).map(() => false),
    ]);
    const events = frames.flatMap((frame) =>
      client.receive(encodeFrame(frame.opcode, frame.payload, { rsv1: frame.rsv1, fin: frame.fin }))
    );
    assert.deepEqual(messages(events), [chat(i)]);
  }
});

Deno.test("compressed messages round-trip between a client and a server, random sizes and chunkings", () => {
  withSeed((next) => {
    const { client, server } = negotiated({ threshold: 0 }, { threshold: 0 });
    for (let round = 0; round < 40; round++) {
      const size = Math.floor(next() * 70_000);
      const data = next() < 0.5
        ? new Uint8Array(size).map((_, i) => i % 13)
        : randomBytes(next, size);
      const from: Protocol = next() < 0.5 ? client : server;
      const to = from === client ? server : client;
      const text = next() < 0.3;
      const message = text ? new TextDecoder().decode(data.map((b) => 0x41 + (b % 26))) : data;
      from.send(message);
      const events: ProtocolEvent[] = [];
      for (const chunk of from.dataToSend().map((c) => c.slice())) {
        // Uneven pieces: partial frames of compressed text must not be read as UTF-8.
        for (let i = 0; i < chunk.length;) {
          const step = 1 + Math.floor(next() * 5000);
          events.push(...to.receive(chunk.subarray(i, i + step)));
          i += step;
        }
      }
      assert.deepEqual(messages(events), [message], `round ${round}`);
    }
  });
});

Deno.test("zlib contexts are made on the first compressed message and freed at close", () => {
  const { engine, made, live } = countingEngine();
  const { client, server } = negotiated({}, {}, engine);
  assert.equal(made(), 0, "nothing before a message");
  server.send("x".repeat(16)); // the threshold: compressed
  deliver(server, client);
  assert.deepEqual([made(), live()], [2, 2], "the server's deflater, the client's inflater");
  client.send("y".repeat(100));
  deliver(client, server);
  assert.deepEqual([made(), live()], [4, 4]);
  client.close(1000);
  deliver(client, server);
  deliver(server, client);
  assert.equal(live(), 0, "both ends freed theirs at close");
});

Deno.test("without takeover, connections share one stream per window, reset after each message", () => {
  const { engine, made } = countingEngine();
  const serverSide = new PerMessageDeflate(engine, {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    threshold: 0,
  });
  const clients = Array.from({ length: 5 }, () => {
    const clientSide = new PerMessageDeflate(zlibEngine, { threshold: 0 });
    const offer = clientSide.offer();
    const session = serverSide.acceptOffer([offer])!;
    assert.equal(session.takeover, false);
    return {
      server: new Protocol({ role: "server", compression: session }),
      client: new Protocol({
        role: "client",
        compression: clientSide.acceptResponse(session.response, offer),
      }),
    };
  });
  for (const { server, client } of clients) {
    server.send(chat(1));
    client.send(chat(2));
    assert.deepEqual(messages(deliver(server, client)), [chat(1)]);
    assert.deepEqual(messages(deliver(client, server)), [chat(2)]);
  }
  assert.equal(made(), 2, "one deflater and one inflater for all five");
  assert.equal(serverSide.takeoverContexts, 0);
});

Deno.test("maxTakeoverContexts: past the cap, new connections negotiate no takeover; a close frees a place", () => {
  const serverSide = new PerMessageDeflate(zlibEngine, { maxTakeoverContexts: 2 });
  const clientSide = new PerMessageDeflate(zlibEngine);
  const open = () => serverSide.acceptOffer([clientSide.offer()])!;
  const first = open();
  const second = open();
  const third = open();
  assert.deepEqual([first.takeover, second.takeover, third.takeover], [true, true, false]);
  assert.equal(
    show(third.response),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
  );
  assert.equal(serverSide.takeoverContexts, 2);
  first.compressor.close?.();
  first.compressor.close?.(); // twice: counted once
  assert.equal(serverSide.takeoverContexts, 1);
  assert.equal(open().takeover, true);
  for (const session of [second, third]) session.compressor.close?.();
});

function assertFails(
  role: Role,
  bytes: Uint8Array,
  closeCode: number,
  code: string,
  maxMessageSize?: number,
) {
  const { client, server } = negotiated(
    {},
    {},
    zlibEngine,
    maxMessageSize ? { maxMessageSize } : {},
  );
  const protocol = role === "server" ? server : client;
  const events = protocol.receive(bytes);
  const error = events.find((event) => event.type === "error");
  assert.ok(error?.type === "error", `expected an error, got ${JSON.stringify(events)}`);
  assert.equal(error.error.closeCode, closeCode);
  assert.equal(error.error.code, code);
  const close = sent(protocol).at(-1)!;
  assert.equal(close.opcode, Opcode.Close);
  assert.equal((close.payload[0]! << 8) | close.payload[1]!, closeCode);
}

Deno.test("a compressed message that inflates past maxMessageSize fails with 1009, early", () => {
  // 10 MB of zeros deflates to about 10 KB: a small frame, a large message.
  const bomb = zlibEngine.deflater({ windowBits: 15, level: 9, memLevel: 8 })
    .deflate(new Uint8Array(10_000_000));
  assert.ok(bomb.length < 20_000);
  assertFails(
    "server",
    encodeFrame(Opcode.Binary, bomb, { rsv1: true, mask: KEY }),
    1009,
    "MESSAGE_TOO_BIG",
    1_000_000,
  );
});

Deno.test("invalid compressed data fails with 1007; compressed text that is not UTF-8, too", () => {
  assertFails(
    "server",
    encodeFrame(Opcode.Binary, hex("ff ff 01 02"), { rsv1: true, mask: KEY }),
    1007,
    "INVALID_COMPRESSED_DATA",
  );
  const notUtf8 = zlibEngine.deflater({ windowBits: 15, level: 1, memLevel: 8 })
    .deflate(hex("48 c0 80 49"));
  assertFails("client", encodeFrame(Opcode.Text, notUtf8, { rsv1: true }), 1007, "INVALID_UTF8");
});

Deno.test("RSV1 on a continuation or a control frame fails with 1002 even when negotiated", () => {
  const start = encodeFrame(Opcode.Text, hex("f2 48 cd"), { rsv1: true, fin: false, mask: KEY });
  const rsvContinuation = encodeFrame(Opcode.Continuation, hex("c9 c9 07 00"), {
    rsv1: true,
    mask: KEY,
  });
  const bytes = new Uint8Array(start.length + rsvContinuation.length);
  bytes.set(start);
  bytes.set(rsvContinuation, start.length);
  assertFails("server", bytes, 1002, "RESERVED_BITS");
  assertFails(
    "server",
    encodeFrame(Opcode.Ping, "", { rsv1: true, mask: KEY }),
    1002,
    "RESERVED_BITS",
  );
  // Without the extension, RSV1 is a violation on any frame.
  const plain = new Protocol({ role: "server" });
  const events = plain.receive(
    encodeFrame(Opcode.Text, hex("f2 48 cd c9 c9 07 00"), { rsv1: true, mask: KEY }),
  );
  const error = events.find((event) => event.type === "error");
  assert.ok(error?.type === "error" && error.error.closeCode === 1002);
});

Deno.test("a message that compression would grow goes uncompressed, and a takeover window forgets it", () => {
  // Random bytes grow a few per cent under deflate.
  const data = new Uint8Array(1000);
  for (let i = 0, x = 1; i < data.length; i++) {
    data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  }
  for (const takeover of [true, false]) {
    const { client, server } = negotiated(
      { threshold: 0, clientNoContextTakeover: !takeover },
      { threshold: 0 },
      zlibEngine,
      { maxMessageSize: 1000 },
    );
    client.send(data);
    const frames = framesSent(client, true);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.rsv1, false, "sent as it is");
    // Its bytes are not in the client's window: the next ones still inflate on the server.
    client.send(data.subarray(0, 500));
    client.send(new Uint8Array(1000));
    client.send(data);
    const events = client.dataToSend().flatMap((chunk) => server.receive(chunk.slice()));
    assert.deepEqual(messages(events), [data.subarray(0, 500), new Uint8Array(1000), data]);
  }
  // A prepared message follows the same rule.
  const { serverSession } = negotiated({}, { serverNoContextTakeover: true, threshold: 0 });
  const frame = new FrameDecoder({ role: "client", allowRsv1: true });
  frame.push(new PreparedMessage(data).frame(serverSession));
  assert.equal(frame.next()!.rsv1, false);
});

Deno.test("the codec's Deflater round-trips through zlib at every level and window, across slides and blocks", () => {
  withSeed((next) => {
    for (let level = 1; level <= 9; level++) {
      const bits = 8 + ((level * 3) % 8);
      const deflater = new Deflater({ windowBits: bits, level, memLevel: 1 + (level % 9) });
      const inflater = zlibEngine.inflater(bits);
      for (let i = 0; i < 60; i++) {
        const kind = next();
        const size = kind < 0.6 ? Math.floor(next() * 400) : Math.floor(next() * 100_000);
        const data = kind < 0.3
          ? new TextEncoder().encode(chat(i).repeat(1 + Math.floor(size / 120)).slice(0, size))
          : kind < 0.6
          ? randomBytes(next, size)
          : new Uint8Array(size).map((_, j) => (j * (i + 1)) % (3 + (i % 50)));
        const compressed = deflater.deflate(data);
        assert.deepEqual(
          inflater.inflate(compressed, 1 << 20),
          data,
          `level ${level}, message ${i}`,
        );
        // What it writes is what the reader of tests/_inflate.ts reads, within the window.
        if (i === 0) assert.ok(inspectDeflate(compressed).maxDistance <= 2 ** bits);
      }
      // Empty, and after a reset.
      assert.deepEqual([...deflater.deflate(new Uint8Array(0))], [0]);
      assert.deepEqual(inflater.inflate(hex("00"), 10), new Uint8Array(0));
      deflater.reset();
      inflater.reset();
      assert.deepEqual(
        inflater.inflate(deflater.deflate(hex("01 02 03 01 02 03")), 10),
        hex("01 02 03 01 02 03"),
      );
      deflater.close();
      inflater.close();
    }
  });
});

Deno.test("the codec's Deflater compresses chat traffic as well as zlib does, and refuses bad settings", () => {
  for (const level of [1, 6, 9]) {
    const ours = new Deflater({ windowBits: 12, level, memLevel: 5 });
    const zlib = zlibEngine.deflater({ windowBits: 12, level, memLevel: 5 });
    let own = 0;
    let theirs = 0;
    for (let i = 0; i < 300; i++) {
      const data = new TextEncoder().encode(chat(i));
      own += ours.deflate(data).length;
      theirs += zlib.deflate(data).length;
    }
    assert.ok(own <= theirs * 1.05, `level ${level}: ${own} bytes against zlib's ${theirs}`);
    ours.close();
    zlib.close();
  }
  for (
    const options of [
      { windowBits: 7, level: 6, memLevel: 5 },
      { windowBits: 16, level: 6, memLevel: 5 },
      { windowBits: 12, level: 0, memLevel: 5 },
      { windowBits: 12, level: 6, memLevel: 10 },
    ]
  ) {
    assert.throws(() => new Deflater(options), RangeError, JSON.stringify(options));
  }
});

Deno.test("deflateFor: equal settings share one extension (and its pools and cap), by value or by object", () => {
  const a = deflateFor({ level: 6, serverMaxWindowBits: 10 })!;
  assert.equal(deflateFor({ serverMaxWindowBits: 10, level: 6 }), a, "a literal in each call");
  assert.notEqual(deflateFor({ level: 6, serverMaxWindowBits: 11 }), a);
  assert.equal(deflateFor(true), deflateFor(true));
  assert.equal(deflateFor(false), undefined);
  // Something that is not a plain setting is kept by its object.
  const odd = { level: 6, note: "mine" } as CompressionOptions;
  assert.equal(deflateFor(odd), deflateFor(odd));
  assert.notEqual(deflateFor(odd), deflateFor({ level: 6, note: "mine" } as CompressionOptions));
  assert.throws(() => deflateFor({ level: "6" as unknown as number }), TypeError);
});
