// Copyright 2026 the Duplex authors. MIT license.
// Codec micro-benchmarks: `deno task bench`. Each group has a baseline
// measured in the same run, so the ratios hold on a noisy machine; MB/s
// figures come from `deno task bench:codec` (bench/codec_report.ts).
import { encodeFrame, FrameDecoder, FrameEncoder, mask, Opcode, Protocol } from "../codec/mod.ts";

export const SIZES: [string, number][] = [["16 B", 16], ["1 KiB", 1024], ["64 KiB", 65536], [
  "1 MiB",
  1 << 20,
]];
const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

/** The obvious byte loop: what word-at-a-time masking is measured against. */
function maskBytewise(data: Uint8Array, key: Uint8Array): void {
  for (let i = 0; i < data.length; i++) data[i]! ^= key[i & 3]!;
}

for (const [label, size] of SIZES) {
  const data = new Uint8Array(size).fill(0x41);
  // An odd offset: the unaligned case every received frame is in.
  const unaligned = new Uint8Array(size + 1).subarray(1);
  Deno.bench(`mask ${label}`, { group: `mask ${label}`, baseline: true }, () => {
    mask(data, KEY);
  });
  Deno.bench(`mask ${label} unaligned`, { group: `mask ${label}` }, () => {
    mask(unaligned, KEY);
  });
  Deno.bench(`mask ${label} byte loop`, { group: `mask ${label}` }, () => {
    maskBytewise(data, KEY);
  });
}

for (const [label, size] of SIZES) {
  // A batch of masked client frames as a server reads them: decode = parse
  // the header, unmask in place, hand out a view.
  const count = Math.max(1, Math.floor((1 << 20) / (size + 14)));
  const frame = encodeFrame(Opcode.Binary, new Uint8Array(size), { mask: KEY });
  const batch = new Uint8Array(frame.length * count);
  for (let i = 0; i < count; i++) batch.set(frame, i * frame.length);
  const decoder = new FrameDecoder({ role: "server" });
  Deno.bench(`decode ${label} x${count}`, { group: `decode ${label}` }, () => {
    decoder.push(batch);
    let frames = 0;
    while (decoder.next() !== undefined) frames++;
    if (frames !== count) throw new Error("lost frames");
  });
}

for (const [label, size] of SIZES) {
  const payload = new Uint8Array(size);
  const count = Math.max(1, Math.floor((1 << 20) / (size + 14)));
  const server = new FrameEncoder({ role: "server" });
  const client = new FrameEncoder({ role: "client" });
  Deno.bench(
    `encode ${label} x${count} server`,
    { group: `encode ${label}`, baseline: true },
    () => {
      for (let i = 0; i < count; i++) server.encode(Opcode.Binary, payload);
      server.take();
    },
  );
  Deno.bench(`encode ${label} x${count} client (masked)`, { group: `encode ${label}` }, () => {
    for (let i = 0; i < count; i++) client.encode(Opcode.Binary, payload);
    client.take();
  });
  Deno.bench(
    `encodeFrame ${label} x${count} (one buffer per frame)`,
    { group: `encode ${label}` },
    () => {
      for (let i = 0; i < count; i++) encodeFrame(Opcode.Binary, payload);
    },
  );
}

{
  // Echo of 32-byte text messages through the whole state machine, as the
  // server side of the small-message benchmark does it: 100 per read.
  const message = "x".repeat(32);
  const batch = new Uint8Array(100 * 38);
  for (let i = 0; i < 100; i++) batch.set(encodeFrame(Opcode.Text, message, { mask: KEY }), i * 38);
  const server = new Protocol({ role: "server" });
  const scratch = new Uint8Array(batch.length);
  Deno.bench("protocol echo 100 x 32 B text", { group: "protocol" }, () => {
    scratch.set(batch); // unmasking is in place: start from masked bytes each time
    for (const event of server.receive(scratch)) {
      if (event.type === "message") server.send(event.data);
    }
    server.dataToSend();
  });
}
