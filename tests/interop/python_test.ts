// Copyright 2026 the Duplex authors. MIT license.
// Interop with Python `websockets` (Debian's python3-websockets), which we
// did not write: permessage-deflate with context takeover (its default)
// and with each of its settings, Duplex as client and as server, long runs
// of mixed messages checked byte for byte. CI (`.ci/run`) installs the
// package and sets DUPLEX_REQUIRE_PYTHON=1, so a missing one fails there;
// elsewhere these tests are skipped with a notice.
import assert from "node:assert/strict";
import { connect, serve, upgradeWebSocket, type WebSocketConnection } from "../../mod.ts";
import { assertMixedEchoes, mixedMessage, sameMessage } from "./_util.ts";

const PYTHON = Deno.env.get("DUPLEX_PYTHON") ?? "/usr/bin/python3";
const PEER = new URL("./_websockets_peer.py", import.meta.url).pathname;

function available(): boolean {
  try {
    const { success } = new Deno.Command(PYTHON, {
      args: ["-c", "import websockets.extensions.permessage_deflate"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return success;
  } catch {
    return false;
  }
}

const required = Deno.env.get("DUPLEX_REQUIRE_PYTHON") === "1";
const present = available();
if (!present && !required) {
  console.warn(
    `Skipping Python websockets interop: ${PYTHON} cannot import websockets (apt-get install python3-websockets)`,
  );
}

function pythonTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: !present && !required,
    async fn() {
      if (!present) {
        throw new Error(`${PYTHON} cannot import websockets: apt-get install python3-websockets`);
      }
      await fn();
    },
  });
}

/** A running peer: its stdout's lines, as they come, and its end. */
interface Peer {
  line(): Promise<string>;
  done(): Promise<void>;
}

function startPeer(args: string[]): Peer {
  const child = new Deno.Command(PYTHON, {
    args: [PEER, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const stderr = new Response(child.stderr).text();
  return {
    async line(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the Python peer ended: ${await stderr}`);
        buffered += value;
      }
      const end = buffered.indexOf("\n");
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      return line;
    },
    async done(): Promise<void> {
      const status = await child.status;
      await reader.cancel();
      const errors = await stderr;
      assert.equal(status.code, 0, `the Python peer failed: ${errors}`);
    },
  };
}

// [name, the Python side's permessage-deflate settings (null: none), what is agreed
// with a Duplex client (as Python answers), with a Duplex server (as Duplex answers), count]
const SETTINGS: [string, Record<string, unknown> | null, string, string, number][] = [
  [
    "websockets' defaults (takeover both ways)",
    {},
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    10_000,
  ],
  [
    "server_no_context_takeover",
    { server_no_context_takeover: true },
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
    2_000,
  ],
  [
    "client_no_context_takeover",
    { client_no_context_takeover: true },
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
    2_000,
  ],
  [
    "window bits 9 and 10",
    { server_max_window_bits: 10, client_max_window_bits: 9 },
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
    2_000,
  ],
];

for (const [name, settings, withClient, withServer, count] of SETTINGS) {
  pythonTest(
    `permessage-deflate with a Python websockets server, ${name}: ${count} mixed messages echo byte for byte`,
    async () => {
      const peer = startPeer(["server", JSON.stringify(settings)]);
      const port = Number(await peer.line());
      const client = await connect(`ws://127.0.0.1:${port}/`, { compression: { threshold: 0 } });
      assert.equal(client.extensions, withClient);
      assert.equal(await peer.line(), withClient);
      await assertMixedEchoes(client, count);
      await client.close(1000);
      await peer.done();
    },
  );

  pythonTest(
    `permessage-deflate with a Python websockets client, ${name}: ${count} mixed messages echo byte for byte`,
    async () => {
      const opened = Promise.withResolvers<WebSocketConnection>();
      const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
        // Duplex's server asks for websockets' own settings, so that they are the ones agreed.
        const python = settings ?? {};
        const { connection, response } = upgradeWebSocket(request, {
          compression: {
            threshold: 0,
            serverNoContextTakeover: python.server_no_context_takeover === true,
            clientNoContextTakeover: python.client_no_context_takeover === true,
            ...(typeof python.server_max_window_bits === "number"
              ? { serverMaxWindowBits: python.server_max_window_bits }
              : {}),
            ...(typeof python.client_max_window_bits === "number"
              ? { clientMaxWindowBits: python.client_max_window_bits }
              : {}),
          },
          maxMessageSize: 1 << 20,
        });
        opened.resolve(connection);
        return response;
      });
      const peer = startPeer([
        "client",
        `ws://127.0.0.1:${server.addr.port}/`,
        JSON.stringify(settings),
      ]);
      try {
        const connection = await opened.promise;
        await connection.opened;
        assert.equal(connection.extensions, withServer);
        assert.equal(await peer.line(), withServer);
        // Duplex sends, the Python client echoes.
        await assertMixedEchoes(connection, count);
        await connection.close(1000);
      } finally {
        await peer.done();
        await server.shutdown();
      }
    },
  );
}

pythonTest(
  "without compression on the Python side, Duplex's offer is declined and messages still echo",
  async () => {
    const peer = startPeer(["server", "null"]);
    const port = Number(await peer.line());
    const client = await connect(`ws://127.0.0.1:${port}/`, { compression: true });
    assert.equal(client.extensions, "");
    assert.equal(await peer.line(), "");
    for (let i = 0; i < 50; i++) {
      await client.send(mixedMessage(i));
      assert.ok(sameMessage(await client.receive(), mixedMessage(i)));
    }
    await client.close(1000);
    await peer.done();
  },
);
