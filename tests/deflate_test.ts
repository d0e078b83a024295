// Copyright 2026 the Duplex authors. MIT license.
// permessage-deflate (RFC 7692): negotiation in the codec, and the Protocol
// compressing and inflating through the Deno compressor (node:zlib).
import assert from "node:assert/strict";
import {
  acceptDeflateResponse,
  deflateOffer,
  encodeFrame,
  formatExtensions,
  type Frame,
  FrameDecoder,
  negotiateDeflate,
  Opcode,
  parseExtensions,
  PreparedMessage,
  Protocol,
  type ProtocolCompression,
  type ProtocolEvent,
  type Role,
} from "../codec/mod.ts";
import { zlibCompressor } from "../_deflate.ts";
import { framesSent, hex, randomBytes, withSeed } from "./_util.ts";

const KEY = hex("37 fa 21 3d");

function agree(offer: string): string | null {
  const agreed = negotiateDeflate(parseExtensions(offer));
  return agreed === null ? null : formatExtensions([agreed.response]);
}

const NO_TAKEOVER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

Deno.test("negotiateDeflate accepts the offers browsers, ws and Duplex send, without context takeover", () => {
  for (
    const offer of [
      "permessage-deflate",
      "permessage-deflate; client_max_window_bits", // Chromium, ws
      "permessage-deflate; client_max_window_bits=10",
      "permessage-deflate; client_no_context_takeover",
      NO_TAKEOVER, // Duplex
      "x-webkit-deflate-frame, permessage-deflate",
    ]
  ) {
    assert.equal(agree(offer), NO_TAKEOVER, offer);
  }
  // A limit on the server's window is honoured and answered.
  const limited = negotiateDeflate(
    parseExtensions("permessage-deflate; server_max_window_bits=10"),
  );
  assert.equal(limited?.serverMaxWindowBits, 10);
  assert.equal(formatExtensions([limited!.response]), `${NO_TAKEOVER}; server_max_window_bits=10`);
});

Deno.test("negotiateDeflate declines malformed offers and takes the next acceptable one", () => {
  for (
    const offer of [
      "permessage-deflate; unknown_param",
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=010",
      "permessage-deflate; server_max_window_bits=8", // zlib cannot do raw DEFLATE in 256 bytes
      "permessage-deflate; client_max_window_bits=abc",
      "x-webkit-deflate-frame",
      "",
    ]
  ) {
    assert.equal(agree(offer), null, offer);
  }
  const fallback = negotiateDeflate(
    parseExtensions("permessage-deflate; server_max_window_bits=8, permessage-deflate"),
  );
  assert.equal(fallback?.serverMaxWindowBits, 15);
});

Deno.test("acceptDeflateResponse checks the server's answer against Duplex's offer", () => {
  assert.equal(formatExtensions([deflateOffer()]), NO_TAKEOVER);
  const parse = (value: string) => parseExtensions(value)[0]!;
  assert.equal(acceptDeflateResponse(parse(NO_TAKEOVER)).serverMaxWindowBits, 15);
  assert.equal(
    acceptDeflateResponse(parse("permessage-deflate; server_no_context_takeover"))
      .serverMaxWindowBits,
    15,
  );
  assert.equal(
    acceptDeflateResponse(parse(`${NO_TAKEOVER}; server_max_window_bits=9`)).serverMaxWindowBits,
    9,
  );
  for (
    const response of [
      "permessage-deflate", // server_no_context_takeover was offered: it must be answered
      "permessage-deflate; client_no_context_takeover",
      `${NO_TAKEOVER}; client_max_window_bits=10`, // not offered
      `${NO_TAKEOVER}; server_max_window_bits`,
      `${NO_TAKEOVER}; server_max_window_bits=16`,
      `${NO_TAKEOVER}; x=1`,
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "x-other",
    ]
  ) {
    assert.throws(() => acceptDeflateResponse(parse(response)), SyntaxError, response);
  }
});

function compression(threshold?: number): ProtocolCompression {
  return {
    compressor: zlibCompressor(15, 1),
    ...(threshold !== undefined ? { threshold } : {}),
  };
}

function pair(threshold?: number): { client: Protocol; server: Protocol } {
  return {
    client: new Protocol({ role: "client", compression: compression(threshold) }),
    server: new Protocol({ role: "server", compression: compression(threshold) }),
  };
}

/** Decodes what a protocol wants to send, as its peer would (RSV1 allowed). */
const sent = (protocol: Protocol): Frame[] => framesSent(protocol, true);

function messages(events: ProtocolEvent[]): unknown[] {
  return events.filter((event) => event.type === "message").map((event) =>
    event.type === "message" ? event.data : undefined
  );
}

Deno.test("Protocol inflates the RFC 7692 §7.2.3 examples: one frame, fragments, and a stored block", () => {
  const server = new Protocol({ role: "server", compression: compression() });
  // "Hello", compressed, in one frame (§7.2.3.1).
  const one = encodeFrame(Opcode.Text, hex("f2 48 cd c9 c9 07 00"), { rsv1: true, mask: KEY });
  assert.deepEqual(messages(server.receive(one)), ["Hello"]);
  // The same split over two frames, RSV1 on the first only.
  const first = encodeFrame(Opcode.Text, hex("f2 48 cd"), { rsv1: true, fin: false, mask: KEY });
  const second = encodeFrame(Opcode.Continuation, hex("c9 c9 07 00"), { mask: KEY });
  assert.deepEqual(messages(server.receive(first)), []);
  assert.deepEqual(messages(server.receive(second)), ["Hello"]);
  // "Hello" in a stored (uncompressed) DEFLATE block (§7.2.3.3).
  const stored = encodeFrame(Opcode.Text, hex("00 05 00 fa ff 48 65 6c 6c 6f 00"), {
    rsv1: true,
    mask: KEY,
  });
  assert.deepEqual(messages(server.receive(stored)), ["Hello"]);
});

Deno.test("Protocol compresses messages from the threshold up, RSV1 on the first frame only", () => {
  const { client, server } = pair(64);
  const long = "compress me ".repeat(50);
  client.send("short");
  client.send(long);
  client.send(new Uint8Array(1000).fill(7));
  const frames = sent(client);
  assert.deepEqual(frames.map((frame) => frame.rsv1), [false, true, true]);
  assert.ok(frames[1]!.payload.length < 100, `compressed to ${frames[1]!.payload.length} bytes`);
  // The server inflates them back.
  const events = frames.flatMap((frame) =>
    server.receive(
      encodeFrame(frame.opcode, frame.payload, { rsv1: frame.rsv1, fin: frame.fin, mask: KEY }),
    )
  );
  assert.deepEqual(messages(events), ["short", long, new Uint8Array(1000).fill(7)]);

  // Fragmented sending: RSV1 on the first fragment, continuations clear.
  const fragmenting = new Protocol({
    role: "server",
    fragmentSize: 10,
    compression: compression(0),
  });
  // Compressible (a message that compression would grow goes as it is).
  const numbers = Array.from({ length: 100 }, (_, i) => String(i % 16)).join(",");
  fragmenting.send(numbers);
  const fragments = sent(fragmenting);
  assert.ok(fragments.length > 1);
  assert.deepEqual(fragments.map((frame) => frame.rsv1), [
    true,
    ...fragments.slice(1).map(() => false),
  ]);
  assert.deepEqual(
    messages(
      fragments.flatMap((frame) =>
        client.receive(
          encodeFrame(frame.opcode, frame.payload, { rsv1: frame.rsv1, fin: frame.fin }),
        )
      ),
    ),
    [numbers],
  );
});

Deno.test("compressed messages round-trip between a client and a server, random sizes and chunkings", () => {
  withSeed((next) => {
    const { client, server } = pair(0);
    for (let round = 0; round < 30; round++) {
      const size = Math.floor(next() * 70_000);
      const repetitive = next() < 0.5;
      const data = repetitive
        ? new Uint8Array(size).map((_, i) => i % 13)
        : randomBytes(next, size);
      const from: Protocol = next() < 0.5 ? client : server;
      const to = from === client ? server : client;
      if (next() < 0.3) from.send(new TextDecoder().decode(data.map((b) => 0x41 + (b % 26))));
      else from.send(data);
      const chunks = from.dataToSend().map((chunk) => chunk.slice());
      const events: ProtocolEvent[] = [];
      for (const chunk of chunks) {
        // Feed in uneven pieces: partial frames of compressed text must not be read as UTF-8.
        for (let i = 0; i < chunk.length;) {
          const step = 1 + Math.floor(next() * 5000);
          events.push(...to.receive(chunk.subarray(i, i + step)));
          i += step;
        }
      }
      const received = messages(events);
      assert.equal(received.length, 1, `round ${round}`);
      const message = received[0];
      if (typeof message === "string") {
        assert.equal(message, new TextDecoder().decode(data.map((b) => 0x41 + (b % 26))));
      } else assert.deepEqual(message, data);
    }
  });
});

function assertFails(
  role: Role,
  bytes: Uint8Array,
  closeCode: number,
  code: string,
  maxMessageSize?: number,
) {
  const protocol = new Protocol({
    role,
    compression: compression(),
    ...(maxMessageSize !== undefined ? { maxMessageSize } : {}),
  });
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
  const bomb = zlibCompressor(15, 9).compress(new Uint8Array(10_000_000));
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
  const notUtf8 = zlibCompressor(15, 1).compress(hex("48 c0 80 49"));
  assertFails(
    "client",
    encodeFrame(Opcode.Text, notUtf8, { rsv1: true }),
    1007,
    "INVALID_UTF8",
  );
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

Deno.test("a message that compression would grow goes uncompressed, so it never passes the peer's limit", () => {
  // Random bytes grow a few per cent under deflate.
  const data = new Uint8Array(1000);
  for (let i = 0, x = 1; i < data.length; i++) {
    data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  }
  const compression = () => ({ compressor: zlibCompressor(15, 1), threshold: 0 });
  const client = new Protocol({ role: "client", compression: compression() });
  const server = new Protocol({ role: "server", maxMessageSize: 1000, compression: compression() });
  client.send(data);
  const frames = framesSent(client, true);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.rsv1, false, "sent as it is");
  client.send(new Uint8Array(1000)); // zeros: compressed
  const events = client.dataToSend().flatMap((chunk) => server.receive(chunk.slice()));
  assert.deepEqual(events.map((event) => event.type), ["message"]);
  // The first message, resent, arrives within the limit.
  client.send(data);
  const again = client.dataToSend().flatMap((chunk) => server.receive(chunk.slice()));
  assert.deepEqual(again, [{ type: "message", data }]);
  // A prepared message follows the same rule.
  const prepared = new PreparedMessage(data);
  const frame = new FrameDecoder({ role: "client", allowRsv1: true });
  frame.push(prepared.frame(compression()));
  assert.equal(frame.next()!.rsv1, false);
});
