// Copyright 2026 the Duplex authors. MIT license.
import assert from "node:assert/strict";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
  FrameEncoder,
  Opcode,
  ProtocolError,
  type Role,
} from "../codec/mod.ts";
import { chop, concat, hex, randomBytes, randomInt, withSeed } from "./_util.ts";

const KEY = hex("37 fa 21 3d");
const HELLO = new TextEncoder().encode("Hello");

/** Decodes everything in `chunks`, in order, returning every frame (payloads copied). */
function decodeAll(chunks: Uint8Array[], options: FrameDecoderOptions): Frame[] {
  const decoder = new FrameDecoder(options);
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
      frames.push({ ...frame, payload: frame.payload.slice() });
    }
  }
  return frames;
}

function frame(opcode: Opcode, payload: Uint8Array, fin = true): Frame {
  return { fin, rsv1: false, rsv2: false, rsv3: false, opcode, payload };
}

function throwsProtocol(fn: () => unknown, code: string, closeCode: number): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.closeCode, closeCode);
    return true;
  });
}

/** Feeds bytes one at a time and returns the error the decoder throws, with the index it threw at. */
function failingByte(
  bytes: Uint8Array,
  options: FrameDecoderOptions,
): { error: unknown; at: number } {
  const decoder = new FrameDecoder(options);
  for (let i = 0; i < bytes.length; i++) {
    try {
      decoder.push(bytes.slice(i, i + 1));
      while (decoder.next() !== undefined);
    } catch (error) {
      return { error, at: i };
    }
  }
  throw new Error("the decoder did not fail");
}

// RFC 6455 §5.7 examples.
const binary256 = randomBytes(() => 0.5, 256).map((_, i) => i);
const binary64k = new Uint8Array(65536).map((_, i) => (i * 7) & 0xff);
const fixtures: { name: string; bytes: Uint8Array; role: Role; frames: Frame[] }[] = [
  {
    name: "a single-frame unmasked text message",
    bytes: hex("81 05 48 65 6c 6c 6f"),
    role: "client",
    frames: [frame(Opcode.Text, HELLO)],
  },
  {
    name: "a single-frame masked text message",
    bytes: hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
    role: "server",
    frames: [frame(Opcode.Text, HELLO)],
  },
  {
    name: "a fragmented unmasked text message",
    bytes: hex("01 03 48 65 6c 80 02 6c 6f"),
    role: "client",
    frames: [
      frame(Opcode.Text, HELLO.subarray(0, 3), false),
      frame(Opcode.Continuation, HELLO.subarray(3)),
    ],
  },
  {
    name: "an unmasked ping",
    bytes: hex("89 05 48 65 6c 6c 6f"),
    role: "client",
    frames: [frame(Opcode.Ping, HELLO)],
  },
  {
    name: "a masked pong",
    bytes: hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"),
    role: "server",
    frames: [frame(Opcode.Pong, HELLO)],
  },
  {
    name: "a 256-byte unmasked binary message",
    bytes: concat(hex("82 7e 01 00"), binary256),
    role: "client",
    frames: [frame(Opcode.Binary, binary256)],
  },
  {
    name: "a 64 KiB unmasked binary message",
    bytes: concat(hex("82 7f 00 00 00 00 00 01 00 00"), binary64k),
    role: "client",
    frames: [frame(Opcode.Binary, binary64k)],
  },
];

for (const fixture of fixtures) {
  Deno.test(`FrameDecoder decodes the RFC 6455 §5.7 example of ${fixture.name}`, () => {
    assert.deepEqual(decodeAll([fixture.bytes.slice()], { role: fixture.role }), fixture.frames);
  });

  Deno.test(`FrameDecoder decodes ${fixture.name} split at every offset`, () => {
    // The 64 KiB fixture has too many offsets to try them all; every one
    // through the header and a stride through the payload covers each path.
    const step = fixture.bytes.length > 1024 ? 997 : 1;
    for (let cut = 0; cut <= fixture.bytes.length; cut += cut < 16 ? 1 : step) {
      const chunks = [fixture.bytes.slice(0, cut), fixture.bytes.slice(cut)];
      assert.deepEqual(decodeAll(chunks, { role: fixture.role }), fixture.frames, `cut at ${cut}`);
    }
  });

  Deno.test(`encodeFrame reproduces the RFC 6455 §5.7 example of ${fixture.name}`, () => {
    const masked = fixture.role === "server";
    const encoded = concat(
      ...fixture.frames.map((f) =>
        encodeFrame(f.opcode, f.payload, { fin: f.fin, ...(masked ? { mask: KEY } : {}) })
      ),
    );
    assert.deepEqual(encoded, fixture.bytes);
  });
}

Deno.test("FrameDecoder decodes a message fed one byte at a time", () => {
  const bytes = hex("01 03 48 65 6c 89 00 80 02 6c 6f");
  const chunks = [...bytes].map((byte) => new Uint8Array([byte]));
  assert.deepEqual(decodeAll(chunks, { role: "client" }), [
    frame(Opcode.Text, HELLO.subarray(0, 3), false),
    frame(Opcode.Ping, new Uint8Array(0)),
    frame(Opcode.Continuation, HELLO.subarray(3)),
  ]);
});

Deno.test("FrameDecoder decodes ten frames from one chunk", () => {
  const frames = Array.from(
    { length: 10 },
    (_, i) => frame(Opcode.Binary, new Uint8Array(i * 30).fill(i)),
  );
  const bytes = concat(...frames.map((f) => encodeFrame(f.opcode, f.payload, { mask: KEY })));
  assert.deepEqual(decodeAll([bytes], { role: "server" }), frames);
});

Deno.test("FrameDecoder returns views of the chunk, unmasked in place, when a frame fits in it", () => {
  const chunk = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
  const decoder = new FrameDecoder({ role: "server" });
  decoder.push(chunk);
  const decoded = decoder.next()!;
  assert.equal(decoded.payload.buffer, chunk.buffer);
  assert.equal(decoded.payload.byteOffset, 6);
  assert.deepEqual(chunk.subarray(6), HELLO);
});

Deno.test("FrameDecoder copies a frame that spans chunks, so the chunk may be reused", () => {
  const bytes = encodeFrame(Opcode.Binary, new Uint8Array(100).fill(7), { mask: KEY });
  const decoder = new FrameDecoder({ role: "server" });
  const reused = new Uint8Array(60);
  reused.set(bytes.subarray(0, 60));
  decoder.push(reused);
  assert.equal(decoder.next(), undefined);
  reused.fill(0xee); // the caller reuses its read buffer
  decoder.push(bytes.slice(60));
  const decoded = decoder.next()!;
  assert.deepEqual(decoded.payload, new Uint8Array(100).fill(7));
});

Deno.test("FrameDecoder exposes a partly received frame through partial", () => {
  const bytes = encodeFrame(Opcode.Text, "Hello, world", { mask: KEY });
  const decoder = new FrameDecoder({ role: "server" });
  decoder.push(bytes.slice(0, 10));
  assert.equal(decoder.next(), undefined);
  const partial = decoder.partial!;
  assert.equal(partial.opcode, Opcode.Text);
  assert.equal(partial.fin, true);
  assert.equal(partial.length, 12);
  assert.equal(new TextDecoder().decode(partial.payload), "Hell");
  decoder.push(bytes.slice(10));
  assert.equal(new TextDecoder().decode(decoder.next()!.payload), "Hello, world");
  assert.equal(decoder.partial, undefined);
});

Deno.test("FrameDecoder keeps undrained bytes in order when pushed again", () => {
  const bytes = concat(encodeFrame(Opcode.Text, "one"), encodeFrame(Opcode.Text, "two"));
  const decoder = new FrameDecoder({ role: "client" });
  decoder.push(bytes.slice(0, 7));
  assert.equal(new TextDecoder().decode(decoder.next()!.payload), "one");
  decoder.push(bytes.slice(7)); // one byte of "two" was still unread
  assert.equal(new TextDecoder().decode(decoder.next()!.payload), "two");
  assert.equal(decoder.next(), undefined);
});

Deno.test("FrameDecoder rejects an unmasked client frame with 1002", () => {
  const decoder = new FrameDecoder({ role: "server" });
  decoder.push(hex("81 05 48 65 6c 6c 6f"));
  throwsProtocol(() => decoder.next(), "UNMASKED_FRAME", 1002);
});

Deno.test("FrameDecoder rejects a masked server frame with 1002", () => {
  const decoder = new FrameDecoder({ role: "client" });
  decoder.push(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
  throwsProtocol(() => decoder.next(), "MASKED_FRAME", 1002);
});

for (
  const [name, bits] of [["RSV1", 0x40], ["RSV2", 0x20], ["RSV3", 0x10], [
    "all RSV bits",
    0x70,
  ]] as const
) {
  Deno.test(`FrameDecoder rejects ${name} without a negotiated extension with 1002`, () => {
    const decoder = new FrameDecoder({ role: "client" });
    decoder.push(new Uint8Array([0x81 | bits, 0x00]));
    throwsProtocol(() => decoder.next(), "RESERVED_BITS", 1002);
  });
}

Deno.test("FrameDecoder accepts RSV1 on a first data frame only when allowed", () => {
  const options = { role: "client", allowRsv1: true } as const;
  assert.equal(decodeAll([new Uint8Array([0xc1, 0x00])], options)[0]!.rsv1, true);
  // RFC 7692 §6: not on continuation frames, not on control frames; RSV2/3 stay reserved.
  const cases = [hex("41 00 c0 00"), hex("c9 00"), new Uint8Array([0xa1, 0x00])];
  for (const bytes of cases) {
    throwsProtocol(() => decodeAll([bytes], options), "RESERVED_BITS", 1002);
  }
});

for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
  Deno.test(`FrameDecoder rejects reserved opcode ${opcode} with 1002`, () => {
    const decoder = new FrameDecoder({ role: "client" });
    decoder.push(new Uint8Array([0x80 | opcode, 0x00]));
    throwsProtocol(() => decoder.next(), "RESERVED_OPCODE", 1002);
  });
}

Deno.test("FrameDecoder rejects a control frame over 125 bytes with 1002", () => {
  for (const opcode of [Opcode.Ping, Opcode.Pong, Opcode.Close]) {
    const bytes = encodeFrame(opcode, new Uint8Array(126));
    throwsProtocol(() => decodeAll([bytes], { role: "client" }), "CONTROL_FRAME_TOO_LONG", 1002);
  }
  // 125 bytes is fine.
  assert.equal(
    decodeAll([encodeFrame(Opcode.Ping, new Uint8Array(125))], { role: "client" }).length,
    1,
  );
});

Deno.test("FrameDecoder rejects a fragmented control frame with 1002", () => {
  for (const opcode of [Opcode.Ping, Opcode.Pong, Opcode.Close]) {
    const bytes = encodeFrame(opcode, HELLO, { fin: false });
    throwsProtocol(() => decodeAll([bytes], { role: "client" }), "FRAGMENTED_CONTROL_FRAME", 1002);
  }
});

Deno.test("FrameDecoder rejects a 64-bit length with its top bit set with 1002", () => {
  const bytes = hex("82 7f 80 00 00 00 00 00 00 01");
  throwsProtocol(() => decodeAll([bytes], { role: "client" }), "INVALID_LENGTH", 1002);
});

Deno.test("FrameDecoder rejects a length beyond 2^53 - 1 with 1009", () => {
  const bytes = hex("82 7f 00 20 00 00 00 00 00 00"); // 2^53
  throwsProtocol(
    () => decodeAll([bytes], { role: "client", maxMessageSize: Number.MAX_SAFE_INTEGER }),
    "MESSAGE_TOO_BIG",
    1009,
  );
});

Deno.test("FrameDecoder rejects an oversized frame from its header alone, before any payload", () => {
  // Only the 10-byte header of a 1 GiB frame: the limit is checked before
  // anything is allocated or any payload byte is awaited.
  const header = hex("82 7f 00 00 00 00 40 00 00 00");
  throwsProtocol(
    () => decodeAll([header], { role: "client", maxMessageSize: 1024 }),
    "MESSAGE_TOO_BIG",
    1009,
  );
  const small = hex("82 7e 04 01"); // 1025 bytes
  throwsProtocol(
    () => decodeAll([small], { role: "client", maxFrameSize: 1024 }),
    "MESSAGE_TOO_BIG",
    1009,
  );
});

Deno.test("FrameDecoder rejects a message whose fragments exceed the limit with 1009", () => {
  const options = { role: "client", maxMessageSize: 10 } as const;
  const ok = concat(
    encodeFrame(Opcode.Text, "hello", { fin: false }),
    encodeFrame(Opcode.Continuation, "world"),
  );
  assert.equal(decodeAll([ok], options).length, 2);
  const tooBig = concat(
    encodeFrame(Opcode.Text, "hello", { fin: false }),
    encodeFrame(Opcode.Continuation, "world", { fin: false }),
    hex("80 01"), // the header of an eleventh byte
  );
  throwsProtocol(() => decodeAll([tooBig], options), "MESSAGE_TOO_BIG", 1009);
  // The count starts again with each message.
  const twoMessages = concat(ok, ok);
  assert.equal(decodeAll([twoMessages], options).length, 4);
});

Deno.test("FrameDecoder rejects a message with too many fragments with 1008", () => {
  const options = { role: "client", maxFragments: 3 } as const;
  const parts = [
    encodeFrame(Opcode.Text, "", { fin: false }),
    encodeFrame(Opcode.Continuation, "", { fin: false }),
    encodeFrame(Opcode.Continuation, ""),
  ];
  assert.equal(decodeAll([concat(...parts)], options).length, 3);
  const tooMany = concat(parts[0]!, parts[1]!, parts[1]!, parts[2]!);
  throwsProtocol(() => decodeAll([tooMany], options), "TOO_MANY_FRAGMENTS", 1008);
});

Deno.test("FrameDecoder rejects a continuation frame outside a message with 1002", () => {
  throwsProtocol(
    () => decodeAll([encodeFrame(Opcode.Continuation, "x")], { role: "client" }),
    "UNEXPECTED_CONTINUATION",
    1002,
  );
  // Also right after a complete message.
  const bytes = concat(encodeFrame(Opcode.Text, "x"), encodeFrame(Opcode.Continuation, "y"));
  throwsProtocol(() => decodeAll([bytes], { role: "client" }), "UNEXPECTED_CONTINUATION", 1002);
});

Deno.test("FrameDecoder rejects a new data frame inside a fragmented message with 1002", () => {
  for (const opcode of [Opcode.Text, Opcode.Binary]) {
    const bytes = concat(encodeFrame(Opcode.Text, "x", { fin: false }), encodeFrame(opcode, "y"));
    throwsProtocol(() => decodeAll([bytes], { role: "client" }), "EXPECTED_CONTINUATION", 1002);
  }
});

Deno.test("FrameDecoder accepts control frames between fragments", () => {
  const bytes = concat(
    encodeFrame(Opcode.Text, "Hel", { fin: false }),
    encodeFrame(Opcode.Ping, "p"),
    encodeFrame(Opcode.Pong, ""),
    encodeFrame(Opcode.Continuation, "lo"),
  );
  const opcodes = decodeAll([bytes], { role: "client" }).map((f) => f.opcode);
  assert.deepEqual(opcodes, [Opcode.Text, Opcode.Ping, Opcode.Pong, Opcode.Continuation]);
});

Deno.test("FrameDecoder fails on the first byte that breaks a rule when fed byte by byte", () => {
  // Byte 0 alone shows a reserved opcode, RSV bits, a fragmented control
  // frame, or a stray continuation.
  for (const first of [0x83, 0xc1, 0x09, 0x80]) {
    const { error, at } = failingByte(new Uint8Array([first, 0x05, 1, 2, 3, 4, 5]), {
      role: "client",
    });
    assert.ok(error instanceof ProtocolError);
    assert.equal(at, 0, `byte 0x${first.toString(16)}`);
  }
  // Byte 1 shows the masking direction and a control frame's length.
  for (const bytes of [hex("81 85 00 00 00 00 00"), hex("89 7e 00 7e")]) {
    const { at } = failingByte(bytes, { role: "client" });
    assert.equal(at, 1);
  }
  // A 64-bit length fails when its last byte arrives, before any payload.
  const { at } = failingByte(hex("82 7f 00 00 00 01 00 00 00 00 ff ff"), {
    role: "client",
    maxMessageSize: 1 << 20,
  });
  assert.equal(at, 9);
});

Deno.test("FrameDecoder stays failed after an error", () => {
  const decoder = new FrameDecoder({ role: "server" });
  decoder.push(hex("81 00"));
  let first: unknown;
  try {
    decoder.next();
  } catch (error) {
    first = error;
  }
  assert.ok(first instanceof ProtocolError);
  assert.throws(() => decoder.next(), (error) => error === first);
  assert.throws(() => decoder.push(hex("81 80 00 00 00 00")), (error) => error === first);
});

Deno.test("FrameDecoder refuses limits that are not positive", () => {
  assert.throws(() => new FrameDecoder({ role: "client", maxMessageSize: 0 }), RangeError);
  assert.throws(() => new FrameDecoder({ role: "client", maxFragments: -1 }), RangeError);
  assert.throws(() => new FrameDecoder({ role: "client", maxFrameSize: NaN }), RangeError);
});

Deno.test("encodeFrame uses the minimal length encoding at every boundary", () => {
  for (
    const [length, headerSize, marker] of [
      [0, 2, 0],
      [125, 2, 125],
      [126, 4, 126],
      [65535, 4, 126],
      [65536, 10, 127],
    ]
  ) {
    const encoded = encodeFrame(Opcode.Binary, new Uint8Array(length!));
    assert.equal(encoded.length, length! + headerSize!, `length ${length}`);
    assert.equal(encoded[1]! & 0x7f, marker, `length ${length}`);
  }
});

Deno.test("encodeFrame masks with a fresh key and never modifies the payload", () => {
  const payload = new Uint8Array(64).fill(0x41);
  const a = encodeFrame(Opcode.Binary, payload, { mask: true });
  const b = encodeFrame(Opcode.Binary, payload, { mask: true });
  assert.deepEqual(payload, new Uint8Array(64).fill(0x41));
  assert.equal(a[1]! & 0x80, 0x80);
  assert.notDeepEqual(a.subarray(2, 6), b.subarray(2, 6), "two frames got the same key");
  assert.deepEqual(decodeAll([a], { role: "server" })[0]!.payload, payload);
});

Deno.test("encodeFrame sets the fin and reserved bits it is asked for", () => {
  assert.equal(encodeFrame(Opcode.Text, "", { fin: false })[0], 0x01);
  assert.equal(encodeFrame(Opcode.Text, "", { rsv1: true, rsv2: true, rsv3: true })[0], 0xf1);
});

Deno.test("encodeFrame refuses an opcode or key out of range", () => {
  assert.throws(() => encodeFrame(16, ""), RangeError);
  assert.throws(() => encodeFrame(-1, ""), RangeError);
  assert.throws(() => encodeFrame(Opcode.Text, "", { mask: new Uint8Array(3) }), RangeError);
});

Deno.test("FrameEncoder coalesces small frames into one chunk", () => {
  const encoder = new FrameEncoder({ role: "server" });
  for (let i = 0; i < 100; i++) encoder.encodeText(Opcode.Text, `message ${i}`);
  encoder.encode(Opcode.Ping, HELLO);
  const chunks = encoder.take();
  assert.equal(chunks.length, 1);
  const frames = decodeAll(chunks, { role: "client" });
  assert.equal(frames.length, 101);
  assert.equal(new TextDecoder().decode(frames[99]!.payload), "message 99");
  assert.equal(encoder.pendingBytes, 0);
});

Deno.test("FrameEncoder keeps a batch that outgrows its first buffer in one chunk, for both roles", () => {
  for (const role of ["server", "client"] as const) {
    const encoder = new FrameEncoder({ role });
    const peer = role === "client" ? "server" : "client";
    // ~6.6 KiB: past the first (2 KiB) buffer, within a 16 KiB one.
    for (let i = 0; i < 300; i++) encoder.encode(Opcode.Binary, new Uint8Array(20).fill(i & 0xff));
    let chunks = encoder.take();
    assert.equal(chunks.length, 1, role);
    let frames = decodeAll(chunks, { role: peer });
    assert.equal(frames.length, 300);
    assert.deepEqual(frames[299]!.payload, new Uint8Array(20).fill(299 & 0xff));
    // ~22 KiB: two chunks, every frame intact across the boundary.
    for (let i = 0; i < 1000; i++) encoder.encodeText(Opcode.Text, `frame ${i}`.padEnd(20, "."));
    chunks = encoder.take();
    assert.equal(chunks.length, 2, role);
    frames = decodeAll(chunks, { role: peer });
    assert.equal(frames.length, 1000);
    assert.equal(new TextDecoder().decode(frames[777]!.payload), "frame 777".padEnd(20, "."));
    assert.equal(encoder.take().length, 0);
  }
});

Deno.test("FrameEncoder sends a server's large payload by reference, without copying", () => {
  const encoder = new FrameEncoder({ role: "server" });
  // Up to 256 KiB a payload is copied next to its header (one write); above, referenced.
  const payload = new Uint8Array(300_000).fill(9);
  encoder.encodeText(Opcode.Text, "before");
  encoder.encode(Opcode.Binary, payload);
  encoder.encodeText(Opcode.Text, "after");
  const chunks = encoder.take();
  assert.equal(chunks.length, 3);
  assert.equal(chunks[1], payload);
  const frames = decodeAll(chunks, { role: "client" });
  assert.deepEqual(frames.map((f) => f.payload.length), [6, 300_000, 5]);
});

Deno.test("FrameEncoder masks a client's large payload into a copy, leaving the caller's bytes alone", () => {
  const encoder = new FrameEncoder({ role: "client" });
  const payload = new Uint8Array(100_000).fill(9);
  encoder.encode(Opcode.Binary, payload);
  const chunks = encoder.take();
  assert.deepEqual(payload, new Uint8Array(100_000).fill(9));
  assert.deepEqual(decodeAll(chunks, { role: "server" })[0]!.payload, payload);
});

Deno.test("FrameEncoder encodes text of every size around its thresholds", () => {
  const samples = [
    "",
    "a",
    "a".repeat(41),
    "a".repeat(42),
    "a".repeat(125),
    "a".repeat(126),
    "€".repeat(41),
  ];
  samples.push(
    "€".repeat(42),
    "a".repeat(5461),
    "€".repeat(5461),
    "a".repeat(5462),
    "€".repeat(30_000),
  );
  // Texts whose upper bound needs a 64-bit length field but whose UTF-8 does
  // not, and texts that do need it.
  samples.push(
    "a".repeat(21_846),
    "a".repeat(70_000),
    "é".repeat(40_000),
    "€".repeat(87_381),
    "€".repeat(90_000),
  );
  for (const role of ["client", "server"] as const) {
    const encoder = new FrameEncoder({ role });
    for (const text of samples) encoder.encodeText(Opcode.Text, text);
    const frames = decodeAll(encoder.take(), { role: role === "client" ? "server" : "client" });
    assert.deepEqual(frames.map((f) => new TextDecoder().decode(f.payload)), samples, role);
  }
});

Deno.test("FrameEncoder chunks stay valid until the next take()", () => {
  const encoder = new FrameEncoder({ role: "server" });
  encoder.encodeText(Opcode.Text, "first");
  const first = encoder.take().map((chunk) => chunk);
  const copy = first.map((chunk) => chunk.slice());
  // Encoding more before writing the first batch must not overwrite it.
  for (let i = 0; i < 2000; i++) encoder.encodeText(Opcode.Text, "second batch frame");
  assert.deepEqual(first, copy);
  const second = encoder.take();
  assert.equal(decodeAll(second, { role: "client" }).length, 2000);
});

Deno.test("FrameEncoder appends pre-encoded frames unchanged", () => {
  const encoder = new FrameEncoder({ role: "server" });
  const small = encodeFrame(Opcode.Text, "shared");
  const large = encodeFrame(Opcode.Binary, new Uint8Array(50_000));
  encoder.encodeRaw(small);
  encoder.encodeRaw(large);
  const chunks = encoder.take();
  assert.deepEqual(chunks[0], small);
  assert.equal(chunks[1], large);
});

Deno.test("encode → decode round-trips random frames across all length encodings and chunkings", () => {
  withSeed((next) => {
    for (let round = 0; round < 20; round++) {
      const role: Role = next() < 0.5 ? "client" : "server";
      const encoder = new FrameEncoder({ role });
      const expected: Frame[] = [];
      const count = randomInt(next, 1, 20);
      for (let i = 0; i < count; i++) {
        const fragments = randomInt(next, 1, 4);
        const opcode = next() < 0.5 ? Opcode.Text : Opcode.Binary;
        for (let f = 0; f < fragments; f++) {
          const r = next();
          const size = r < 0.4
            ? randomInt(next, 0, 125)
            : r < 0.8
            ? randomInt(next, 126, 65535)
            : randomInt(next, 65536, 200_000);
          const payload = randomBytes(next, size);
          const fin = f === fragments - 1;
          const frameOpcode = f === 0 ? opcode : Opcode.Continuation;
          encoder.encode(frameOpcode, payload, { fin });
          expected.push(frame(frameOpcode, payload, fin));
          if (next() < 0.2) {
            const ping = randomBytes(next, randomInt(next, 0, 125));
            encoder.encode(Opcode.Ping, ping);
            expected.push(frame(Opcode.Ping, ping));
          }
        }
      }
      const bytes = concat(...encoder.take());
      const chunks = chop(next, bytes, next() < 0.5 ? 7 : 70_000);
      const decoded = decodeAll(chunks, { role: role === "client" ? "server" : "client" });
      assert.equal(decoded.length, expected.length);
      for (let i = 0; i < expected.length; i++) {
        assert.deepEqual(decoded[i], expected[i], `frame ${i}`);
      }
    }
  });
});

Deno.test("FrameDecoder meets arbitrary bytes with frames or a ProtocolError, never another exception", () => {
  withSeed((next) => {
    for (let round = 0; round < 300; round++) {
      const role: Role = next() < 0.5 ? "client" : "server";
      const decoder = new FrameDecoder({ role, maxMessageSize: 1 << 16, allowRsv1: next() < 0.5 });
      // Mostly plausible headers followed by noise, so deep states are reached.
      const bytes = randomBytes(next, randomInt(next, 1, 400));
      bytes[0] = (bytes[0]! & 0x8f) | (next() < 0.8 ? 0 : 0x40);
      bytes[1] = (bytes[1]! & 0x7f) | (role === "server" ? 0x80 : 0);
      try {
        for (const chunk of chop(next, bytes, 16)) {
          decoder.push(chunk);
          while (decoder.next() !== undefined);
        }
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `round ${round}: ${error}`);
        assert.ok([1002, 1008, 1009].includes(error.closeCode));
      }
    }
  });
});

// Reading a large payload straight into the decoder's buffer (payloadTarget/wrote).

/** Feeds `frame`: `pushed` bytes by push(), the rest through payload targets in reads of `step`. */
function decodeDirect(frame: Uint8Array, pushed: number, step: number, min = 1): Frame[] {
  const decoder = new FrameDecoder({ role: "server" });
  const frames: Frame[] = [];
  decoder.push(frame.subarray(0, pushed));
  for (let f; (f = decoder.next());) frames.push(f);
  let offset = pushed;
  for (let target; (target = decoder.payloadTarget(min));) {
    const n = Math.min(target.length, step, frame.length - offset);
    target.set(frame.subarray(offset, offset + n));
    decoder.wrote(n);
    offset += n;
    for (let f; (f = decoder.next());) frames.push(f);
  }
  decoder.push(frame.subarray(offset));
  for (let f; (f = decoder.next());) frames.push(f);
  return frames;
}

Deno.test("FrameDecoder unmasks a payload read into its target, at any split and read size", () => {
  withSeed((random) => {
    for (let round = 0; round < 30; round++) {
      const payload = randomBytes(random, randomInt(random, 1, 300_000));
      const frame = encodeFrame(Opcode.Binary, payload, { mask: randomBytes(random, 4) });
      const header = frame.length - payload.length;
      const pushed = header + randomInt(random, 0, Math.min(payload.length, 1000));
      const frames = decodeDirect(frame, pushed, randomInt(random, 1, 100_000));
      assert.equal(frames.length, 1);
      assert.deepEqual(frames[0]!.payload, payload);
    }
  });
});

Deno.test("FrameDecoder grows its payload target past 1 MiB as the bytes arrive", () => {
  const payload = new Uint8Array(2.5 * 1024 * 1024).map((_, i) => i * 7);
  const frame = encodeFrame(Opcode.Binary, payload, { mask: KEY });
  const frames = decodeDirect(frame, 14, 256 * 1024);
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0]!.payload, payload);
});

Deno.test("FrameDecoder offers a payload target only between chunks, inside a large enough payload", () => {
  const frame = encodeFrame(Opcode.Binary, new Uint8Array(100_000), { mask: KEY });
  const decoder = new FrameDecoder({ role: "server" });
  assert.equal(decoder.payloadTarget(1), undefined, "no header yet");
  decoder.push(frame.subarray(0, 10));
  assert.equal(decoder.next(), undefined);
  assert.equal(decoder.payloadTarget(1), undefined, "the header is not complete");
  decoder.push(frame.subarray(10, 20));
  // Bytes pushed but not yet decoded: no target until next() has taken them.
  assert.equal(decoder.payloadTarget(1), undefined);
  assert.equal(decoder.next(), undefined);
  assert.equal(decoder.payloadTarget(100_000 - 6 + 1), undefined, "less than min to come");
  const target = decoder.payloadTarget(1)!;
  assert.equal(target.length, 100_000 - 6);
  assert.throws(() => decoder.wrote(target.length + 1), RangeError);
  assert.throws(() => decoder.wrote(-1), RangeError);
  assert.throws(() => decoder.wrote(1.5), RangeError);
  decoder.wrote(0);
  target.set(frame.subarray(20));
  decoder.wrote(target.length);
  assert.equal(decoder.payloadTarget(1), undefined, "the payload is complete");
  assert.equal(decoder.next()?.payload.length, 100_000);
  assert.equal(decoder.payloadTarget(1), undefined, "between frames");
  assert.throws(() => decoder.wrote(1), RangeError);
});

Deno.test("FrameDecoder offers no payload target once failed", () => {
  const decoder = new FrameDecoder({ role: "server" });
  // An unmasked client frame: 1002.
  decoder.push(encodeFrame(Opcode.Binary, new Uint8Array(100_000)).subarray(0, 10));
  assert.throws(() => decoder.next(), ProtocolError);
  assert.equal(decoder.payloadTarget(1), undefined);
});
