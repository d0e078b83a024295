// Copyright 2026 the Duplex authors. MIT license.
// permessage-deflate, measured: what it saves, what it costs in CPU and in
// memory per connection, with and without context takeover, next to Python
// `websockets` on the same traffic.
//
//   ratio      bytes on the wire ÷ raw, chat-like JSON and 64 KiB JSON, for a
//              grid of settings; Python websockets (Debian's) on the same
//              messages, with its defaults.
//   cpu        µs per message to compress and to inflate, at 1 and at 1,000
//              connections (each its own context), next to no compression.
//   memory     RSS per connection of a serve() process holding 1,000
//              connections that each exchanged one compressed message.
//   broadcast  one message to a 1,000-peer room: compressed once for all
//              (no takeover), or once per peer (takeover).
//
// Usage: deno run -A bench/compression.ts [--parts ratio,cpu,memory,broadcast]
//          [--connections 1000] [--runs 3]
import { parseArgs } from "node:util";
import {
  type CompressionOptions,
  encodeFrame,
  FrameDecoder,
  Opcode,
  parseExtensions,
  PerMessageDeflate,
  PreparedMessage,
  Protocol,
} from "../mod.ts";
import { zlibEngine } from "../_deflate.ts";
import { rssKiB, startPeer } from "./load.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    parts: { type: "string", default: "ratio,cpu,memory,broadcast" },
    connections: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
  },
});
const PARTS = new Set(values.parts.split(","));
const CONNECTIONS = Number(values.connections);
const RUNS = Number(values.runs);

// ---------------------------------------------------------------------------
// Traffic

/** A small deterministic PRNG, so that every run sends the same bytes. */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
}

const WORDS = (
  "the a to and of is in it you that he was for on are with as his they be at one have this " +
  "from or had by hot word but what some we can out other were all there when up use your how " +
  "said an each she which do their time if will way about many then them write would like so " +
  "these her long make thing see him two has look more day could go come did number sound no " +
  "most people my over know water than call first who may down side been now find deploy rust " +
  "deno websocket server client message room lobby hello thanks ok sure lol great"
).split(" ");

/** `count` chat messages as a chat server sends them: about 100 bytes of JSON each. */
export function chatTraffic(count: number, seed = 1): string[] {
  const next = random(seed);
  const nicks = ["alice", "bob", "carol", "dave", "erin", "frank"];
  const rooms = ["lobby", "deno", "rust"];
  const messages: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = Array.from(
      { length: 2 + Math.floor(next() * 9) },
      () => WORDS[Math.floor(next() * WORDS.length)]!,
    );
    messages.push(JSON.stringify({
      type: "message",
      room: rooms[Math.floor(next() * rooms.length)],
      nick: nicks[Math.floor(next() * nicks.length)],
      text: words.join(" "),
      at: 1_764_000_000_000 + i * 1_337 + Math.floor(next() * 1000),
    }));
  }
  return messages;
}

/** `count` JSON documents of about 64 KiB: lists of records, as an API returns them. */
export function jsonTraffic(count: number, seed = 2): string[] {
  const next = random(seed);
  const documents: string[] = [];
  for (let d = 0; d < count; d++) {
    const items = [];
    let size = 0;
    for (let i = 0; size < 64 * 1024 - 300; i++) {
      const item = {
        id: d * 10_000 + i,
        name: `${WORDS[Math.floor(next() * WORDS.length)]}-${Math.floor(next() * 1e6)}`,
        price: Math.round(next() * 100_000) / 100,
        tags: [WORDS[Math.floor(next() * WORDS.length)], WORDS[Math.floor(next() * WORDS.length)]],
        inStock: next() < 0.7,
        updated: new Date(1_764_000_000_000 + Math.floor(next() * 1e9)).toISOString(),
      };
      items.push(item);
      size += JSON.stringify(item).length + 1;
    }
    documents.push(JSON.stringify({ page: d, items }));
  }
  return documents;
}

// ---------------------------------------------------------------------------
// Sans-I/O plumbing: a server Protocol and its client after a negotiation

// Chromium's, ws's and Python's offer.
const OFFER = parseExtensions("permessage-deflate; client_max_window_bits");

interface Link {
  server: Protocol;
  client: Protocol;
  close(): void;
}

function link(server: PerMessageDeflate, client: PerMessageDeflate): Link {
  const session = server.acceptOffer(OFFER)!;
  const agreed = client.acceptResponse(session.response, OFFER[0]!);
  const s = new Protocol({ role: "server", compression: session, maxMessageSize: 1 << 24 });
  const c = new Protocol({ role: "client", compression: agreed, maxMessageSize: 1 << 24 });
  return {
    server: s,
    client: c,
    close() {
      session.compressor.close?.();
      agreed.compressor.close?.();
    },
  };
}

/** Payload bytes of the frames `protocol` has queued (its peer's view). */
function payloadBytes(protocol: Protocol): { bytes: number; chunks: Uint8Array[] } {
  const decoder = new FrameDecoder({ role: "client", allowRsv1: true, maxMessageSize: 1 << 24 });
  const chunks = protocol.dataToSend().map((chunk) => chunk.slice());
  let bytes = 0;
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame; frame = decoder.next()) bytes += frame.payload.length;
  }
  return { bytes, chunks };
}

function ratioOf(messages: string[], options: CompressionOptions | null): number {
  const raw = messages.reduce((n, m) => n + new TextEncoder().encode(m).length, 0);
  if (options === null) return 1;
  const { server, client, close } = link(
    new PerMessageDeflate(zlibEngine, options),
    new PerMessageDeflate(zlibEngine, options),
  );
  let wire = 0;
  for (const message of messages) {
    server.send(message);
    const { bytes, chunks } = payloadBytes(server);
    wire += bytes;
    // Checked on the way: the client inflates it back.
    const events = chunks.flatMap((chunk) => client.receive(chunk));
    if (events.length !== 1 || events[0]!.type !== "message" || events[0]!.data !== message) {
      throw new Error("a message did not round-trip");
    }
  }
  close();
  return wire / raw;
}

async function pythonRatio(
  messages: string[],
  windowBits = 12,
  memLevel = 5,
): Promise<{ ratio: number; us: number } | null> {
  const script = new URL("./_python_ratio.py", import.meta.url).pathname;
  try {
    const child = new Deno.Command("/usr/bin/python3", {
      args: [script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(
        JSON.stringify({ messages, window_bits: windowBits, mem_level: memLevel }),
      ),
    );
    await writer.close();
    const { success, stdout } = await child.output();
    if (!success) return null;
    const result = JSON.parse(new TextDecoder().decode(stdout));
    return { ratio: result.compressed / result.raw, us: result.us_per_message };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------

const lines: string[] = [];
const say = (line = "") => {
  lines.push(line);
  console.log(line);
};
const fixed = (n: number, digits = 3) => n.toFixed(digits);

const SETTINGS: [string, CompressionOptions | null][] = [
  ["off", null],
  ["defaults (takeover, 12 bits, memLevel 5, level 6)", {}],
  ["takeover, level 1", { level: 1 }],
  ["takeover, 9 bits", { serverMaxWindowBits: 9, clientMaxWindowBits: 9 }],
  ["takeover, 10 bits", { serverMaxWindowBits: 10, clientMaxWindowBits: 10 }],
  ["takeover, 15 bits, memLevel 8", {
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
    memLevel: 8,
  }],
  ["takeover, memLevel 4", { memLevel: 4 }],
  ["no takeover, threshold 0", {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    threshold: 0,
  }],
  ["no takeover, threshold 1 KiB (before issue 14)", {
    serverNoContextTakeover: true,
    clientNoContextTakeover: true,
    level: 1,
  }],
];

const chat = chatTraffic(300);
const documents = jsonTraffic(20);

if (PARTS.has("ratio")) {
  const chatRaw = chat.reduce((n, m) => n + m.length, 0);
  say(`## Ratio (bytes on the wire ÷ raw; lower is better)`);
  say();
  say(`Chat: 300 messages, ${chatRaw} bytes raw. JSON: 20 documents of about 64 KiB.`);
  say();
  say("| settings | chat | 64 KiB JSON |");
  say("|---|---:|---:|");
  for (const [name, options] of SETTINGS) {
    say(
      `| Duplex, ${name} | ${fixed(ratioOf(chat, options))} | ${
        fixed(ratioOf(documents, options))
      } |`,
    );
  }
  const cost: string[] = [];
  for (const [bits, mem] of [[12, 5], [15, 8]] as const) {
    const pyChat = await pythonRatio(chat, bits, mem);
    const pyJson = await pythonRatio(documents, bits, mem);
    say(
      `| Python websockets, takeover, ${bits} bits, memLevel ${mem}${
        bits === 12 ? " (its defaults)" : ""
      } | ${pyChat ? fixed(pyChat.ratio) : "n/a"} | ${pyJson ? fixed(pyJson.ratio) : "n/a"} |`,
    );
    if (pyChat && pyJson) {
      cost.push(
        `${bits} bits: ${fixed(pyChat.us, 1)} µs per chat message, ${
          fixed(pyJson.us, 0)
        } µs per 64 KiB`,
      );
    }
  }
  say();
  if (cost.length > 0) {
    say(`Python websockets' compression alone (its encoder): ${cost.join("; ")}.`);
  }
  say();
}

/** µs per message to compress (server send) and inflate (client receive), over `links` connections. */
function cpuOf(
  messages: string[],
  options: CompressionOptions | null,
  links: number,
  rounds: number,
): { send: number; receive: number } {
  const all: Link[] = [];
  for (let i = 0; i < links; i++) {
    all.push(
      options === null
        ? {
          server: new Protocol({ role: "server", maxMessageSize: 1 << 24 }),
          client: new Protocol({ role: "client", maxMessageSize: 1 << 24 }),
          close() {},
        }
        : link(
          new PerMessageDeflate(zlibEngine, options),
          new PerMessageDeflate(zlibEngine, options),
        ),
    );
  }
  let send = 0;
  let receive = 0;
  let count = 0;
  for (let round = 0; round < rounds; round++) {
    for (let m = 0; m < messages.length; m++) {
      const { server, client } = all[(round * messages.length + m) % links]!;
      let t = performance.now();
      server.send(messages[m]!);
      const chunks = server.dataToSend();
      send += performance.now() - t;
      t = performance.now();
      for (const chunk of chunks) client.receive(chunk);
      receive += performance.now() - t;
      count++;
    }
  }
  for (const l of all) l.close();
  return { send: (send / count) * 1000, receive: (receive / count) * 1000 };
}

if (PARTS.has("cpu")) {
  say(`## CPU (µs per message, median of ${RUNS} runs; in-process, Sans-I/O)`);
  say();
  say("| settings | traffic | connections | compress + frame | inflate + decode |");
  say("|---|---|---:|---:|---:|");
  for (const [name, options] of [SETTINGS[0]!, SETTINGS[1]!, SETTINGS[2]!, SETTINGS[7]!]) {
    for (
      const [traffic, messages, rounds] of [["chat", chat, 20], [
        "64 KiB JSON",
        documents,
        5,
      ]] as const
    ) {
      for (const links of [1, CONNECTIONS]) {
        const runs = Array.from({ length: RUNS }, () => cpuOf(messages, options, links, rounds));
        const median = (pick: (r: { send: number; receive: number }) => number) =>
          runs.map(pick).sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
        say(
          `| ${name} | ${traffic} | ${links} | ${fixed(median((r) => r.send), 2)} | ${
            fixed(median((r) => r.receive), 2)
          } |`,
        );
      }
    }
  }
  say();
}

// ---------------------------------------------------------------------------
// Memory: a serve() process holding CONNECTIONS compressed connections

/** Opens a raw connection offering permessage-deflate; resolves after the 101. */
async function openCompressed(port: number, offer: boolean): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
    (offer ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "") +
    "\r\n";
  await conn.write(new TextEncoder().encode(request));
  const buffer = new Uint8Array(4096);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("closed during the handshake");
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return conn;
}

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

async function memoryOf(
  label: string,
  compression: CompressionOptions | null,
): Promise<{ label: string; perConnection: number }> {
  Deno.env.set("DUPLEX_COMPRESSION", JSON.stringify(compression));
  const peer = await startPeer("duplex");
  Deno.env.delete("DUPLEX_COMPRESSION");
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    // One message, compressed as a client's first message (a fresh 12-bit window).
    const message = new TextEncoder().encode(chat[0]!);
    const deflater = zlibEngine.deflater({ windowBits: 12, level: 6, memLevel: 5 });
    const frame = compression === null
      ? encodeFrame(Opcode.Text, message, { mask: KEY })
      : encodeFrame(Opcode.Text, deflater.deflate(message), { mask: KEY, rsv1: true });
    deflater.close();
    const before = rssKiB(peer.pid);
    const conns: Deno.TcpConn[] = [];
    const buffer = new Uint8Array(1024);
    for (let i = 0; i < CONNECTIONS; i += 50) {
      const batch = await Promise.all(
        Array.from(
          { length: Math.min(50, CONNECTIONS - i) },
          () => openCompressed(peer.port, compression !== null),
        ),
      );
      // Each sends one message and reads the echo: the server has made its contexts.
      await Promise.all(batch.map(async (conn) => {
        await conn.write(frame);
        const n = await conn.read(buffer);
        if (n === null) throw new Error("no echo");
      }));
      conns.push(...batch);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = rssKiB(peer.pid);
    for (const conn of conns) conn.close();
    return { label, perConnection: (after - before) / CONNECTIONS };
  } finally {
    await peer.stop();
  }
}

if (PARTS.has("memory")) {
  say(
    `## Memory (RSS per connection of a serve() process, ${CONNECTIONS} connections, median of ${RUNS})`,
  );
  say();
  say("| settings | KiB per connection | over no compression |");
  say("|---|---:|---:|");
  const configs: [string, CompressionOptions | null][] = [
    ["no compression", null],
    ["defaults: takeover, 12 bits, memLevel 5", {}],
    ["no takeover (shared compressors)", {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
    }],
    ["takeover, 15 bits, memLevel 8 (zlib's defaults)", {
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
      memLevel: 8,
    }],
    ["takeover, 10 bits, memLevel 4", {
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 10,
      memLevel: 4,
    }],
  ];
  let baseline = 0;
  for (const [label, compression] of configs) {
    const runs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      runs.push((await memoryOf(label, compression)).perConnection);
    }
    const median = runs.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
    if (compression === null) baseline = median;
    say(
      `| ${label} | ${fixed(median, 1)} (${fixed(runs[0]!, 1)}–${fixed(runs.at(-1)!, 1)}) | ${
        compression === null ? "–" : `+${fixed(median - baseline, 1)}`
      } |`,
    );
  }
  say();
}

// ---------------------------------------------------------------------------
// Broadcast to a 1,000-peer room

function broadcastOf(options: CompressionOptions, peers: number, rounds: number): number {
  const serverSide = new PerMessageDeflate(zlibEngine, options);
  const clientSide = new PerMessageDeflate(zlibEngine, {});
  const links = Array.from({ length: peers }, () => link(serverSide, clientSide));
  const started = performance.now();
  for (let round = 0; round < rounds; round++) {
    const message = new PreparedMessage(chat[round % chat.length]!);
    for (const { server } of links) server.sendPrepared(message);
    for (const { server } of links) server.dataToSend();
  }
  const elapsed = performance.now() - started;
  for (const l of links) l.close();
  return (elapsed / rounds) * 1000;
}

if (PARTS.has("broadcast")) {
  say(
    `## Broadcast: one chat message to ${CONNECTIONS} peers (µs per broadcast, median of ${RUNS})`,
  );
  say();
  say("| peers negotiated | µs per broadcast | µs per delivery |");
  say("|---|---:|---:|");
  for (
    const [label, options] of [
      ["no takeover: compressed once for all", {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        threshold: 0,
      }],
      ["takeover: compressed once per peer", {}],
    ] as const
  ) {
    const runs = Array.from({ length: RUNS }, () => broadcastOf(options, CONNECTIONS, 50));
    const median = runs.sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
    say(`| ${label} | ${fixed(median, 0)} | ${fixed(median / CONNECTIONS, 2)} |`);
  }
  say();
}
