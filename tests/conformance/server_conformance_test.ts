// Copyright 2026 the Duplex authors. MIT license.
// Conformance of Duplex's server, after the Autobahn|Testsuite case catalogue
// (groups 1–7, 9 and 10, from `_harness.ts`), plus the opening handshake and
// what Deno's native server gets wrong. A hand-written client (RawClient)
// sends exact bytes to an in-process echo server built with serve() and
// upgradeWebSocket(), and checks every byte that comes back.

import assert from "node:assert/strict";
import { acceptKey } from "../../mod.ts";
import {
  AUTOBAHN_CASES,
  buildFrame,
  closePayload,
  concat,
  FAIL_TIMEOUT,
  hex,
  httpExchange,
  MASK_KEY,
  Opcode,
  randomKey,
  RawClient,
  repeat,
  runAgainstServer,
  split,
  startEchoServer,
  upgradeRequestHead,
} from "./_harness.ts";

for (const testCase of AUTOBAHN_CASES) {
  Deno.test(`server ${testCase.id}: ${testCase.title}`, () => runAgainstServer(testCase.run));
}

// -----------------------------------------------------------------------------
// 10. Auto-fragmentation by the server itself (fragmentSize).

Deno.test(
  "server 10.1.1 (fragmentSize 1300): the echo of 65536 bytes goes out as 1 text frame and 50 continuations",
  () =>
    runAgainstServer(async (peer) => {
      const payload = repeat("*", 65536);
      await peer.sendFrame(Opcode.Text, payload);
      const frames = await peer.expectMessage(Opcode.Text, payload);
      assert.equal(frames.length, 51);
      assert.deepEqual(
        frames.map((frame) => frame.payload.length),
        [...Array(50).fill(1300), 536],
      );
      assert.deepEqual(
        frames.map((frame) => frame.opcode),
        [Opcode.Text, ...Array(50).fill(Opcode.Continuation)],
      );
      await peer.closeHandshake(1000);
    }, { server: { fragmentSize: 1300 } }),
);

// -----------------------------------------------------------------------------
// Masking, lengths and limits: RFC 6455 §5.1–§5.2 beyond Autobahn.

Deno.test("server mask: an unmasked client frame fails the connection with 1002", () =>
  runAgainstServer(async (peer) => {
    // Deno's native server echoes this frame; RFC 6455 §5.1 says the server
    // MUST close the connection.
    await peer.sendFrame(Opcode.Text, "Hello", { mask: false });
    await peer.expectFailure(1002);
  }));

Deno.test('server mask: the RFC 6455 §5.7 masked "Hello" is echoed unmasked', () =>
  runAgainstServer(async (peer) => {
    await peer.send(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
    const [frame] = await peer.expectMessage(Opcode.Text, "Hello");
    assert.deepEqual(frame!.payload, hex("48 65 6c 6c 6f"));
    await peer.closeHandshake(1000);
  }));

Deno.test("server lengths: a 64-bit length with its top bit set fails with 1002", () =>
  runAgainstServer(async (peer) => {
    await peer.send(concat(hex("82 ff 80 00 00 00 00 00 00 00"), MASK_KEY));
    await peer.expectFailure(1002);
  }));

Deno.test(
  "server limits: a frame over maxMessageSize fails with 1009 as soon as its header arrives",
  () =>
    runAgainstServer(async (peer) => {
      // The header announces 1 MiB + 1 bytes; none of the payload is sent.
      await peer.send(concat(hex("82 ff 00 00 00 00 00 10 00 01"), MASK_KEY));
      await peer.expectFailure(1009);
    }, { server: { maxMessageSize: 1024 * 1024 } }),
);

Deno.test(
  "server limits: a fragmented message growing past maxMessageSize fails with 1009",
  () =>
    runAgainstServer(async (peer) => {
      await peer.sendFrames([
        peer.frame(Opcode.Binary, repeat(hex("fe"), 600), { fin: false }),
        peer.frame(Opcode.Continuation, repeat(hex("fe"), 600)),
      ]);
      await peer.expectFailure(1009);
    }, { server: { maxMessageSize: 1000 } }),
);

// -----------------------------------------------------------------------------
// The opening handshake (RFC 6455 §4.2).

Deno.test(
  "server handshake: the RFC 6455 §1.3 key is answered with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  () =>
    runAgainstServer(async (peer) => {
      assert.equal(peer.response.status, 101);
      assert.equal(peer.response.version, "HTTP/1.1");
      assert.equal(
        peer.response.headers.get("sec-websocket-accept"),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
      );
      assert.equal(peer.response.headers.get("sec-websocket-protocol"), null);
      assert.equal(peer.response.headers.get("sec-websocket-extensions"), null);
      await peer.closeHandshake(1000);
    }, { connect: { key: "dGhlIHNhbXBsZSBub25jZQ==" } }),
);

Deno.test(
  "server handshake: frames pipelined in the same write as the request are processed",
  () =>
    runAgainstServer(async (peer) => {
      await peer.expectMessage(Opcode.Text, "pipelined 1");
      await peer.expectMessage(Opcode.Binary, hex("00 ff"));
      await peer.closeHandshake(1000);
    }, {
      connect: {
        after: concat(
          buildFrame(Opcode.Text, "pipelined 1", { mask: MASK_KEY }),
          buildFrame(Opcode.Binary, hex("00 ff"), { mask: MASK_KEY }),
        ),
      },
    }),
);

Deno.test("server handshake: a request in 1-byte writes is upgraded", async () => {
  const server = await startEchoServer();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    for (const piece of split(new TextEncoder().encode(upgradeRequestHead(server.port, key)), 1)) {
      await conn.write(piece);
    }
    const buffer = new Uint8Array(4096);
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      assert.ok(n !== null, "the server closed the connection");
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
  } finally {
    conn.close();
    await server.close();
  }
});

Deno.test(
  "server handshake: the offered subprotocol the server prefers is chosen",
  () =>
    runAgainstServer(async (peer) => {
      assert.equal(peer.response.headers.get("sec-websocket-protocol"), "chat");
      await peer.closeHandshake(1000);
    }, {
      server: { protocol: ["chat", "superchat"] },
      connect: { headers: { "Sec-WebSocket-Protocol": "superchat, chat" } },
    }),
);

Deno.test(
  "server handshake: no subprotocol is chosen when none offered is supported",
  () =>
    runAgainstServer(async (peer) => {
      assert.equal(peer.response.headers.get("sec-websocket-protocol"), null);
      await peer.closeHandshake(1000);
    }, {
      server: { protocol: ["chat"] },
      connect: { headers: { "Sec-WebSocket-Protocol": "other" } },
    }),
);

Deno.test(
  "server handshake: an offered extension (permessage-deflate) is not accepted",
  () =>
    runAgainstServer(async (peer) => {
      assert.equal(peer.response.headers.get("sec-websocket-extensions"), null);
      // Without the extension, RSV1 stays reserved.
      await peer.sendFrame(Opcode.Text, "Hello", { rsv1: true });
      await peer.expectFailure(1002);
    }, {
      connect: {
        headers: { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" },
      },
    }),
);

const acceptedVariants: [string, (port: number) => string][] = [
  [
    "Upgrade: WebSocket with Connection: keep-alive, Upgrade (as Firefox sends) is accepted",
    (port) => request(port, { set: { Upgrade: "WebSocket", Connection: "keep-alive, Upgrade" } }),
  ],
  [
    "lower-case header names are accepted",
    (port) =>
      `GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\nconnection: upgrade\r\n` +
      `sec-websocket-key: ${randomKey()}\r\nsec-websocket-version: 13\r\n\r\n`,
  ],
  [
    "a target with a query string is accepted",
    (port) => request(port, { line: "GET /chat?room=1&x=%20 HTTP/1.1" }),
  ],
  [
    "an absolute-form target (RFC 7230 §5.3.2) is accepted",
    (port) => request(port, { line: `GET http://127.0.0.1:${port}/chat HTTP/1.1` }),
  ],
];

for (const [name, build] of acceptedVariants) {
  Deno.test(`server handshake: ${name}`, async () => {
    const server = await startEchoServer();
    try {
      const head = build(server.port);
      const key = /sec-websocket-key: (\S+)/i.exec(head)![1]!;
      const response = await httpExchange(server.port, head);
      assert.equal(response.status, 101, `the status (body: ${response.body})`);
      assert.equal(response.headers.get("sec-websocket-accept"), await acceptKey(key));
    } finally {
      await server.close();
    }
  });
}

/** A request head for the refusals below: the valid upgrade, with fields replaced or removed. */
function request(
  port: number,
  changes: { line?: string; set?: Record<string, string>; remove?: string[]; extra?: string } = {},
): string {
  const fields: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": randomKey(),
    "Sec-WebSocket-Version": "13",
    ...changes.set,
  };
  for (const name of changes.remove ?? []) delete fields[name];
  let head = `${changes.line ?? "GET / HTTP/1.1"}\r\n`;
  for (const [name, value] of Object.entries(fields)) head += `${name}: ${value}\r\n`;
  return `${head}${changes.extra ?? ""}\r\n`;
}

interface Refusal {
  name: string;
  request: (port: number) => string;
  status: number;
  headers?: Record<string, string>;
  /** A head that cannot be parsed leaves nothing to resynchronise on: the server must close. */
  closes?: boolean;
}

const refusals: Refusal[] = [
  {
    name: "a request without Sec-WebSocket-Key is refused with 400",
    request: (port) => request(port, { remove: ["Sec-WebSocket-Key"] }),
    status: 400,
  },
  {
    name: "a Sec-WebSocket-Key that is not 16 bytes of base64 is refused with 400",
    request: (port) => request(port, { set: { "Sec-WebSocket-Key": "c2hvcnQ=" } }),
    status: 400,
  },
  {
    name: "a Sec-WebSocket-Key that is not base64 is refused with 400",
    request: (port) => request(port, { set: { "Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!==" } }),
    status: 400,
  },
  {
    name: "Sec-WebSocket-Version 25 is refused with 426 and Sec-WebSocket-Version: 13",
    request: (port) => request(port, { set: { "Sec-WebSocket-Version": "25" } }),
    status: 426,
    headers: { "sec-websocket-version": "13" },
  },
  {
    name: "a request without Sec-WebSocket-Version is refused with 426 and version 13",
    request: (port) => request(port, { remove: ["Sec-WebSocket-Version"] }),
    status: 426,
    headers: { "sec-websocket-version": "13" },
  },
  {
    name: "a POST upgrade is refused with 405 and Allow: GET",
    request: (port) => request(port, { line: "POST / HTTP/1.1", set: { "Content-Length": "0" } }),
    status: 405,
    headers: { allow: "GET" },
  },
  {
    name: "a plain GET is refused with 426 and Upgrade: websocket",
    request: (port) => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
    status: 426,
    headers: { upgrade: "websocket" },
  },
  {
    name: "Upgrade: h2c is refused with 400",
    request: (port) => request(port, { set: { Upgrade: "h2c" } }),
    status: 400,
  },
  {
    name: "a Connection header without the upgrade token is refused with 400",
    request: (port) => request(port, { set: { Connection: "keep-alive" } }),
    status: 400,
  },
  {
    name: "an HTTP/1.0 upgrade is refused with 400",
    request: (port) => request(port, { line: "GET / HTTP/1.0" }),
    status: 400,
  },
  {
    name: "an unknown HTTP version (HTTP/2.0 in HTTP/1 syntax) is refused with 505",
    request: (port) => request(port, { line: "GET / HTTP/2.0" }),
    status: 505,
    closes: true,
  },
  {
    name: "a malformed request line is refused with 400",
    request: (port) => request(port, { line: "GET /  HTTP/1.1" }),
    status: 400,
    closes: true,
  },
  {
    name: "a request without Host is refused with 400",
    request: (port) => request(port, { remove: ["Host"] }),
    status: 400,
    closes: true,
  },
  {
    name: "a flood of 150 header fields is refused with 431",
    request: (port) =>
      request(port, {
        extra: Array.from({ length: 150 }, (_, i) => `X-Flood-${i}: ${i}\r\n`).join(""),
      }),
    status: 431,
    closes: true,
  },
  {
    name: "a head over 8 KiB is refused with 431",
    request: (port) => request(port, { set: { "X-Large": "a".repeat(9000) } }),
    status: 431,
    closes: true,
  },
  {
    name: "a request line over 8 KiB is refused with 414",
    request: (port) => request(port, { line: `GET /${"a".repeat(9000)} HTTP/1.1` }),
    status: 414,
    closes: true,
  },
  {
    name: "a line ending in a bare LF is refused with 400",
    request: (port) => request(port).replace("Upgrade: websocket\r\n", "Upgrade: websocket\n"),
    status: 400,
    closes: true,
  },
];

for (const refusal of refusals) {
  Deno.test(`server handshake: ${refusal.name}`, async () => {
    const server = await startEchoServer();
    try {
      const response = await httpExchange(server.port, refusal.request(server.port));
      assert.equal(response.status, refusal.status, `the status (body: ${response.body})`);
      for (const [name, value] of Object.entries(refusal.headers ?? {})) {
        assert.equal(response.headers.get(name), value, `the ${name} header`);
      }
      assert.equal(response.headers.get("sec-websocket-accept"), null);
      if (refusal.closes) assert.ok(response.closed, "the server closes the connection");
      assert.equal(server.connections.length, 0, "no WebSocket connection was opened");
    } finally {
      await server.close();
    }
  });
}

// -----------------------------------------------------------------------------
// Close: what the server sends when it closes first.

Deno.test(
  "server close: a server shutting down sends 1001 and closes TCP after the client's reply",
  async () => {
    const server = await startEchoServer();
    const peer = await RawClient.connect(server.port);
    try {
      const closing = server.close();
      await peer.expectClose(1001, { eof: false, timeout: FAIL_TIMEOUT });
      await peer.sendFrame(Opcode.Close, closePayload(1001));
      await peer.expectEof();
      await peer.closeTcp();
      await closing;
      const info = await server.connections[0]!.closed;
      assert.equal(info.code, 1001);
      assert.equal(info.wasClean, true);
    } finally {
      await peer.closeTcp();
      await server.close();
    }
  },
);
