// Copyright 2026 the Duplex authors. MIT license.
// The codec in a browser: codec/mod.ts bundled by `deno bundle` for the
// browser platform, then an encode → decode round trip run inside the page.
import assert from "node:assert/strict";
import { serve } from "../../mod.ts";
import { browserTest } from "./_browser.ts";

browserTest(
  "the codec bundled for the browser round-trips frames and messages inside Chromium",
  async (browser) => {
    const dir = await Deno.makeTempDir({ prefix: "duplex-bundle-" });
    const bundle = `${dir}/codec.js`;
    const root = new URL("../../", import.meta.url).pathname;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "browser", "--output", bundle, `${root}codec/mod.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const code = await Deno.readTextFile(bundle);
    assert.doesNotMatch(code, /\bDeno\./, "the browser bundle must not touch Deno");
    const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/codec.js") {
        return new Response(code, { headers: { "content-type": "text/javascript" } });
      }
      return new Response("<!doctype html><title>codec</title>", {
        headers: { "content-type": "text/html" },
      });
    });
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      const result = await page.evaluate(async () => {
        const codec = await import("/codec.js");
        // RFC 6455 §5.7: the masked "Hello".
        const hello = codec.encodeFrame(codec.Opcode.Text, "Hello", {
          mask: new Uint8Array([0x37, 0xfa, 0x21, 0x3d]),
        });
        // A client and a server Protocol exchanging messages of every length encoding.
        const client = new codec.Protocol({ role: "client" });
        const server = new codec.Protocol({ role: "server" });
        const sent = [
          "short",
          "é€😀".repeat(100),
          new Uint8Array(70_000).map((_: number, i: number) => i & 0xff),
        ];
        for (const message of sent) client.send(message);
        const received = [];
        for (const chunk of client.dataToSend()) {
          for (let i = 0; i < chunk.length; i += 1000) {
            for (const event of server.receive(chunk.slice(i, i + 1000))) {
              if (event.type === "message") received.push(event.data);
            }
          }
        }
        const binary = received[2];
        let same = binary instanceof Uint8Array && binary.length === 70_000;
        for (let i = 0; same && i < 70_000; i++) same = binary[i] === (i & 0xff);
        return {
          hello: Array.from(hello),
          texts: received.slice(0, 2),
          binary: same,
          accept: await codec.acceptKey("dGhlIHNhbXBsZSBub25jZQ=="),
          userAgent: navigator.userAgent.includes("Chrome"),
        };
      });
      assert.deepEqual(result, {
        hello: [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
        texts: ["short", "é€😀".repeat(100)],
        binary: true,
        accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        userAgent: true,
      });
    } finally {
      await page.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
