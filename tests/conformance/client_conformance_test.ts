// Copyright 2026 the Duplex authors. MIT license.
// Conformance of Duplex's client, after the Autobahn|Testsuite case catalogue
// (groups 1–7, 9 and 10, from `_harness.ts`), plus the client's side of the
// opening handshake and what Deno's native client gets wrong. A hand-written
// server (RawServer) answers connect() and sends exact unmasked bytes; the
// client runs the echo loop of examples/echo_client.ts, and every case also
// checks how `connection.closed` reports the end.

import assert from "node:assert/strict";
import {
  connect,
  ConnectionError,
  HandshakeError,
  ProtocolError,
  TimeoutError,
  type WebSocketConnection,
} from "../../mod.ts";
import {
  AUTOBAHN_CASES,
  buildFrame,
  closePayload,
  concat,
  hex,
  Opcode,
  RawServer,
  repeat,
  runAgainstClient,
  withTimeout,
} from "./_harness.ts";

for (const testCase of AUTOBAHN_CASES) {
  Deno.test(`client ${testCase.id}: ${testCase.title}`, () => runAgainstClient(testCase.run));
}

// -----------------------------------------------------------------------------
// 10. Auto-fragmentation by the client itself (fragmentSize).

Deno.test(
  "client 10.1.1 (fragmentSize 1300): the echo of 65536 bytes goes out as 1 text frame and 50 continuations",
  () =>
    runAgainstClient(async (peer) => {
      const payload = repeat("*", 65536);
      await peer.sendFrame(Opcode.Text, payload);
      const frames = await peer.expectMessage(Opcode.Text, payload);
      assert.deepEqual(
        frames.map((frame) => frame.payload.length),
        [...Array(50).fill(1300), 536],
      );
      assert.deepEqual(
        frames.map((frame) => frame.opcode),
        [Opcode.Text, ...Array(50).fill(Opcode.Continuation)],
      );
      await peer.closeHandshake(1000);
    }, { connect: { fragmentSize: 1300 } }),
);

// -----------------------------------------------------------------------------
// Masking and limits: RFC 6455 §5.1–§5.2 beyond Autobahn.

Deno.test("client mask: a masked server frame fails the connection with 1002", () =>
  runAgainstClient(async (peer) => {
    // RFC 6455 §5.1: "A client MUST close a connection if it detects a
    // masked frame." Deno's native client accepts it.
    await peer.send(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
    await peer.expectFailure(1002);
  }));

Deno.test("client mask: every frame the client sends is masked (RFC 6455 §5.3)", () =>
  runAgainstClient(async (peer) => {
    // The raw server's FrameDecoder (role "server") refuses unmasked
    // frames, so a correct echo proves the masking.
    await peer.sendFrame(Opcode.Binary, hex("00 01 02 03 04 05"));
    await peer.expectMessage(Opcode.Binary, hex("00 01 02 03 04 05"));
    await peer.closeHandshake(1000);
  }));

Deno.test("client lengths: a 64-bit length with its top bit set fails with 1002", () =>
  runAgainstClient(async (peer) => {
    await peer.send(hex("82 7f 80 00 00 00 00 00 00 00"));
    await peer.expectFailure(1002);
  }));

Deno.test(
  "client limits: a frame over maxMessageSize fails with 1009 as soon as its header arrives",
  () =>
    runAgainstClient(async (peer) => {
      await peer.send(hex("82 7f 00 00 00 00 00 10 00 01"));
      await peer.expectFailure(1009);
    }, { connect: { maxMessageSize: 1024 * 1024 } }),
);

// -----------------------------------------------------------------------------
// Closing started by the client.

Deno.test(
  "client close: close(1000, reason) sends a masked close and waits for the server to close TCP",
  () =>
    runAgainstClient(async (peer, connection) => {
      const closing = connection.close(1000, "bye");
      const { code, reason } = await peer.expectClose(1000, { eof: false });
      assert.equal(reason, "bye");
      await peer.sendFrame(Opcode.Close, closePayload(1000));
      // RFC 6455 §7.1.1: the client waits for the server to close TCP first.
      await peer.expectNothing(50, "the client to wait for the server's TCP close");
      await peer.closeWrite();
      await peer.expectEof();
      const info = await closing;
      assert.deepEqual([code, info.code, info.wasClean], [1000, 1000, true]);
    }),
);

// -----------------------------------------------------------------------------
// The opening handshake (RFC 6455 §4.1): what the client sends, and the
// answers it must refuse.

Deno.test("client handshake: the request is a GET with every required header", async () => {
  const server = RawServer.listen();
  const connecting = connect(server.url, { protocols: ["chat", "superchat"] });
  connecting.catch(() => {});
  try {
    const request = await server.accept({ headers: { "Sec-WebSocket-Protocol": "chat" } });
    assert.equal(request.method, "GET");
    assert.equal(request.target, "/");
    assert.equal(request.version, "HTTP/1.1");
    assert.equal(request.headers.get("host"), `127.0.0.1:${server.port}`);
    assert.match(request.headers.get("upgrade") ?? "", /^websocket$/i);
    assert.match(request.headers.get("connection") ?? "", /\bupgrade\b/i);
    assert.equal(request.headers.get("sec-websocket-version"), "13");
    assert.equal(request.headers.get("sec-websocket-protocol"), "chat, superchat");
    const key = request.headers.get("sec-websocket-key") ?? "";
    assert.match(key, /^[A-Za-z0-9+/]{22}==$/, "the key is 16 bytes of base64");
    const connection = await connecting;
    assert.equal(connection.protocol, "chat");
    await endCleanly(server, connection);
  } finally {
    await server.dispose();
    await settle(connecting);
  }
});

Deno.test("client handshake: two connections use different keys", async () => {
  const keys: string[] = [];
  for (let i = 0; i < 2; i++) {
    const server = RawServer.listen();
    const connecting = connect(server.url);
    connecting.catch(() => {});
    try {
      const request = await server.accept();
      keys.push(request.headers.get("sec-websocket-key") ?? "");
      await endCleanly(server, await connecting);
    } finally {
      await server.dispose();
      await settle(connecting);
    }
  }
  assert.notEqual(keys[0], keys[1]);
});

Deno.test(
  "client handshake: frames pipelined in the same write as the 101 are processed",
  () =>
    runAgainstClient(async (peer) => {
      await peer.expectMessage(Opcode.Text, "pipelined 1");
      await peer.expectMessage(Opcode.Binary, hex("00 ff"));
      await peer.closeHandshake(1000);
    }, {
      accept: {
        after: concat(
          buildFrame(Opcode.Text, "pipelined 1"),
          buildFrame(Opcode.Binary, hex("00 ff")),
        ),
      },
    }),
);

Deno.test("client handshake: a 101 in 1-byte writes is accepted", async () => {
  const server = RawServer.listen();
  const connecting = connect(server.url);
  connecting.catch(() => {});
  try {
    let answer = new Uint8Array(0);
    await server.accept({
      response: (_, accept) => {
        answer = new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        return new Uint8Array(0);
      },
    });
    await server.sendChopped(answer, 1);
    const connection = await connecting;
    await endCleanly(server, connection);
  } finally {
    await server.dispose();
    await settle(connecting);
  }
});

interface Refusal {
  name: string;
  protocols?: string[];
  response: (accept: string) => string;
  code: string;
  status: number;
}

const UPGRADE = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";

const refusals: Refusal[] = [
  {
    name: "a wrong Sec-WebSocket-Accept is refused",
    // The accept of the RFC 6455 §1.3 sample key, which this client never sends.
    response: () => `${UPGRADE}Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n`,
    code: "INVALID_ACCEPT",
    status: 101,
  },
  {
    name: "a missing Sec-WebSocket-Accept is refused",
    response: () => `${UPGRADE}\r\n`,
    code: "MISSING_ACCEPT",
    status: 101,
  },
  {
    name: "a subprotocol that was not offered is refused",
    protocols: ["chat"],
    response: (accept) =>
      `${UPGRADE}Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: superchat\r\n\r\n`,
    code: "UNEXPECTED_PROTOCOL",
    status: 101,
  },
  {
    name: "a subprotocol when none was offered is refused",
    response: (accept) =>
      `${UPGRADE}Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
    code: "UNEXPECTED_PROTOCOL",
    status: 101,
  },
  {
    name: "an extension that was not offered is refused",
    response: (accept) =>
      `${UPGRADE}Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
    code: "UNEXPECTED_EXTENSION",
    status: 101,
  },
  {
    name: "a 101 without Upgrade: websocket is refused",
    response: (accept) =>
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    code: "MISSING_UPGRADE",
    status: 101,
  },
  {
    name: "a 101 without Connection: Upgrade is refused",
    response: (accept) =>
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    code: "MISSING_CONNECTION",
    status: 101,
  },
  {
    name: "a 200 is refused with its status",
    response: () => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    code: "UNEXPECTED_STATUS",
    status: 200,
  },
];

for (const refusal of refusals) {
  Deno.test(`client handshake: ${refusal.name} (HandshakeError ${refusal.code})`, async () => {
    const server = RawServer.listen();
    const connecting = connect(server.url, {
      handshakeTimeout: 3_000,
      ...(refusal.protocols !== undefined ? { protocols: refusal.protocols } : {}),
    });
    connecting.catch(() => {});
    try {
      await server.accept({ response: (_, accept) => refusal.response(accept) });
      await assert.rejects(connecting, (error) => {
        assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${error}`);
        assert.equal(error.code, refusal.code);
        assert.equal(error.status, refusal.status);
        return true;
      });
      // The client drops the connection without sending a frame.
      await server.expectEof();
    } finally {
      await server.dispose();
      await settle(connecting);
    }
  });
}

Deno.test("client handshake: a 403 refusal rejects with its status, headers and body", async () => {
  const server = RawServer.listen();
  const connecting = connect(server.url, { handshakeTimeout: 3_000 });
  connecting.catch(() => {});
  try {
    await server.accept({
      response: () =>
        "HTTP/1.1 403 Forbidden\r\nX-Reason: origin\r\nContent-Length: 9\r\n\r\nforbidden",
    });
    await assert.rejects(connecting, (error) => {
      assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${error}`);
      assert.equal(error.status, 403);
      assert.equal(error.headers.get("x-reason"), "origin");
      assert.equal(error.body, "forbidden");
      return true;
    });
  } finally {
    await server.dispose();
    await settle(connecting);
  }
});

Deno.test(
  "client handshake: a server that closes during the handshake rejects with ConnectionError",
  async () => {
    const server = RawServer.listen();
    const connecting = connect(server.url, { handshakeTimeout: 3_000 });
    connecting.catch(() => {});
    try {
      await server.accept({ response: () => "HTTP/1.1 101 Swit" });
      await server.closeTcp();
      await assert.rejects(connecting, ConnectionError);
    } finally {
      await server.dispose();
      await settle(connecting);
    }
  },
);

Deno.test(
  "client handshake: a server that never answers rejects with a TimeoutError",
  async () => {
    const server = RawServer.listen();
    const connecting = connect(server.url, { handshakeTimeout: 200 });
    connecting.catch(() => {});
    try {
      await server.accept({ response: () => "" });
      await assert.rejects(connecting, TimeoutError);
      await server.expectEof();
    } finally {
      await server.dispose();
      await settle(connecting);
    }
  },
);

// -----------------------------------------------------------------------------
// `closed` after a failure carries the ProtocolError.

Deno.test("client closed: a protocol error is reported with its code and a ProtocolError", () =>
  runAgainstClient(async (peer, connection) => {
    await peer.sendFrame(Opcode.Text, "Hello", { rsv: 4 });
    await peer.expectFailure(1002);
    await peer.closeTcp();
    const info = await withTimeout(connection.closed, 2_000, "closed");
    assert.equal(info.code, 1002);
    assert.equal(info.wasClean, false);
    assert.ok(info.error instanceof ProtocolError);
    assert.equal(info.error.code, "RESERVED_BITS");
  }));

/** The raw server ends the connection with a clean close handshake. */
async function endCleanly(server: RawServer, connection: WebSocketConnection): Promise<void> {
  await server.closeHandshake(1000);
  await server.closeTcp();
  const info = await withTimeout(connection.closed, 2_000, "closed");
  assert.deepEqual([info.code, info.wasClean], [1000, true]);
}

/** Waits for a connection attempt to end, however it went. */
async function settle(connecting: Promise<WebSocketConnection>): Promise<void> {
  const connection = await connecting.catch(() => undefined);
  if (connection !== undefined) {
    await withTimeout(connection.closed, 8_000, "the client to close").catch(() => {});
  }
}
