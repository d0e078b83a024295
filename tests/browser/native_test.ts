// Copyright 2026 the Duplex authors. MIT license.
// The browser's own WebSocket against Duplex's serve(): binary
// (ArrayBuffer), a 1 MiB message, close codes and reasons both ways, and a
// subprotocol; and permessage-deflate.
import assert from "node:assert/strict";
import { serve, upgradeWebSocket } from "../../mod.ts";
import { browserTest } from "./_browser.ts";

/** The blank page a test's browser loads before it connects. */
const blankPage = (): Response =>
  new Response("<!doctype html><title>test</title>", { headers: { "content-type": "text/html" } });

browserTest(
  "Chromium's WebSocket talks to Duplex's server: binary, 1 MiB, close codes, subprotocol",
  async (browser) => {
    const closes: { code: number; reason: string }[] = [];
    const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      if (request.headers.get("upgrade") === null) return blankPage();
      const { connection, response } = upgradeWebSocket(request, { protocol: ["chat.v2"] });
      (async () => {
        for await (const message of connection) {
          if (message === "close please") await connection.close(4001, "server says bye");
          else await connection.send(message);
        }
      })().catch(() => {});
      connection.closed.then(({ code, reason }) => closes.push({ code, reason }));
      return response;
    });
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      const result = await page.evaluate(async (url) => {
        const open = (protocols: string[]) =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(url, protocols);
            socket.binaryType = "arraybuffer";
            socket.onopen = () => resolve(socket);
            socket.onerror = () => reject(new Error("could not connect"));
          });
        const next = (socket: WebSocket) =>
          new Promise<MessageEvent>((resolve) =>
            socket.addEventListener("message", resolve, { once: true })
          );
        const closed = (socket: WebSocket) =>
          new Promise<CloseEvent>((resolve) =>
            socket.addEventListener("close", resolve, { once: true })
          );

        const socket = await open(["chat.v1", "chat.v2"]);
        const protocol = socket.protocol;
        socket.send(new Uint8Array([1, 2, 3]).buffer);
        const small = Array.from(new Uint8Array((await next(socket)).data));
        const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
        socket.send(big);
        const echoed = new Uint8Array((await next(socket)).data);
        let same = echoed.length === big.length;
        for (let i = 0; same && i < big.length; i++) same = echoed[i] === big[i];
        socket.send("text too");
        const text = (await next(socket)).data;
        const clientClose = closed(socket);
        socket.close(4000, "browser says bye");
        const fromClient = await clientClose;

        const other = await open(["chat.v2"]);
        const serverClose = closed(other);
        other.send("close please");
        const fromServer = await serverClose;
        return {
          protocol,
          small,
          bigLength: echoed.length,
          same,
          text,
          fromClient: [fromClient.code, fromClient.wasClean],
          fromServer: [fromServer.code, fromServer.reason, fromServer.wasClean],
        };
      }, `ws://127.0.0.1:${server.addr.port}/`);
      assert.deepEqual(result, {
        protocol: "chat.v2",
        small: [1, 2, 3],
        bigLength: 1 << 20,
        same: true,
        text: "text too",
        fromClient: [4000, true],
        fromServer: [4001, "server says bye", true],
      });
    } finally {
      await page.close();
      await server.shutdown();
    }
    assert.deepEqual(closes.sort((a, b) => a.code - b.code), [
      { code: 4000, reason: "browser says bye" },
      { code: 4001, reason: "server says bye" },
    ]);
  },
);

browserTest(
  "Chromium negotiates permessage-deflate with Duplex's server and both ways inflate",
  async (browser) => {
    let serverExtensions = "";
    const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      if (request.headers.get("upgrade") === null) return blankPage();
      const { connection, response } = upgradeWebSocket(request, {
        compression: { threshold: 0 },
      });
      connection.opened.then(() => serverExtensions = connection.extensions);
      connection.listen({ message: (message) => connection.send(message) });
      return response;
    });
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      const result = await page.evaluate(async (url) => {
        const socket = await new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(url);
          socket.binaryType = "arraybuffer";
          socket.onopen = () => resolve(socket);
          socket.onerror = () => reject(new Error("could not connect"));
        });
        const next = () =>
          new Promise<MessageEvent>((resolve) =>
            socket.addEventListener("message", resolve, { once: true })
          );
        const text = "compressible text, ".repeat(20_000);
        socket.send(text);
        const sameText = (await next()).data === text;
        const bytes = new Uint8Array(300_000).map((_, i) => (i % 97) ^ (i >> 12));
        socket.send(bytes);
        const echoed = new Uint8Array((await next()).data);
        let sameBytes = echoed.length === bytes.length;
        for (let i = 0; sameBytes && i < bytes.length; i++) sameBytes = echoed[i] === bytes[i];
        socket.send("");
        const empty = (await next()).data;
        const extensions = socket.extensions;
        socket.close(1000);
        return { extensions, sameText, sameBytes, empty };
      }, `ws://127.0.0.1:${server.addr.port}/`);
      assert.deepEqual(result, {
        // Chromium offers client_max_window_bits: Duplex takes over both ways with 4 KiB windows.
        extensions: "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        sameText: true,
        sameBytes: true,
        empty: "",
      });
      assert.equal(serverExtensions, result.extensions);
    } finally {
      await page.close();
      await server.shutdown();
    }
  },
);

browserTest(
  "Chromium with context takeover at windows of 8, 12 and 15 bits: 2,000 chat messages each way, byte for byte",
  async (browser) => {
    for (const bits of [8, 12, 15]) {
      let received = 0;
      const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
        if (request.headers.get("upgrade") === null) return blankPage();
        const { connection, response } = upgradeWebSocket(request, {
          compression: { threshold: 0, serverMaxWindowBits: bits, clientMaxWindowBits: bits },
        });
        connection.listen({
          message: (message) => {
            received++;
            connection.send(message);
          },
        });
        return response;
      });
      const page = await browser.newPage();
      try {
        await page.goto(`http://127.0.0.1:${server.addr.port}/`);
        const result = await page.evaluate(async (url) => {
          const socket = await new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(url);
            socket.onopen = () => resolve(socket);
            socket.onerror = () => reject(new Error("could not connect"));
          });
          const chat = (i: number) =>
            JSON.stringify({
              type: "message",
              room: "lobby",
              nick: ["alice", "bob", "carol"][i % 3],
              text: `message ${i}: ${"so it goes ".repeat(i % 9)}`,
              at: 1_700_000_000_000 + i * 137,
            });
          const echoes: string[] = [];
          const all = new Promise<void>((resolve) => {
            socket.onmessage = (event) => {
              echoes.push(event.data);
              if (echoes.length === 2_000) resolve();
            };
          });
          for (let i = 0; i < 2_000; i++) socket.send(chat(i));
          await all;
          let same = 0;
          for (let i = 0; i < 2_000; i++) if (echoes[i] === chat(i)) same++;
          const extensions = socket.extensions;
          socket.close(1000);
          return { extensions, same };
        }, `ws://127.0.0.1:${server.addr.port}/`);
        assert.deepEqual(result, {
          extensions: bits === 15
            ? "permessage-deflate"
            : `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`,
          same: 2_000,
        });
        assert.equal(received, 2_000);
      } finally {
        await page.close();
        await server.shutdown();
      }
    }
  },
);
