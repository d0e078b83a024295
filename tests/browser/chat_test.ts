// Copyright 2026 the Duplex authors. MIT license.
// The chat demo in a real browser: pages in the same room see each other's
// messages, a page in another room does not, and a newcomer gets the history.
import assert from "node:assert/strict";
import type { Page } from "npm:playwright-core@1.56.1";
import { startChat } from "../../examples/chat/server.ts";
import { browserTest } from "./_browser.ts";

async function enter(page: Page, url: string, nick: string, room: string): Promise<void> {
  await page.goto(url);
  // The page connects as a guest on load: let that finish, so that its
  // "joined" cannot overwrite the fields filled in below.
  await page.waitForFunction(`document.getElementById("current-room").textContent !== "—"`);
  await page.fill("#nick", nick);
  await page.fill("#room", room);
  await page.click("#connect");
  // Evaluated in the page (a string: this file has no DOM types).
  await page.waitForFunction(
    `document.getElementById("current-room").textContent === ${JSON.stringify(room)} &&
     document.getElementById("nick").value === ${JSON.stringify(nick)} &&
     document.getElementById("status").textContent === "connected"`,
  );
}

function lines(page: Page): Promise<string[]> {
  return page.$$eval(
    "#messages li",
    (items) => items.map((item) => `${item.className}: ${item.textContent}`),
  );
}

browserTest(
  "the chat demo delivers a message to the pages in its room and not to another room",
  async (browser) => {
    const { server, hub } = startChat({ port: 0, onListen() {} });
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const [alice, bob, carol] = await Promise.all([
      browser.newPage(),
      browser.newPage(),
      browser.newPage(),
    ]);
    try {
      await enter(alice, url, "alice", "rust");
      await enter(bob, url, "bob", "rust");
      await enter(carol, url, "carol", "deno");
      // Reconnecting (guest on load, then the chosen nick) leaves every page connected.
      for (const page of [alice, bob, carol]) {
        assert.equal(await page.textContent("#status"), "connected");
        assert.equal(await page.isEnabled("#input"), true);
      }
      await bob.waitForFunction(`document.querySelectorAll("#members li").length === 2`);
      assert.deepEqual(
        await bob.$$eval("#members li", (items) => items.map((item) => item.textContent)),
        ["alice", "bob"],
      );

      await alice.fill("#input", "hello, rust room");
      await alice.press("#input", "Enter");
      await bob.waitForSelector("#messages li.message:has-text('hello, rust room')");
      assert.ok((await lines(bob)).includes("message: alicehello, rust room"));
      assert.ok((await lines(alice)).includes("message: alicehello, rust room"));
      // Carol is in another room: give the message time to (not) arrive.
      await carol.waitForTimeout(200);
      assert.ok(!(await lines(carol)).some((line) => line.includes("hello, rust room")));

      // A newcomer gets the room's history, and the others a join notice.
      const dave = await browser.newPage();
      await enter(dave, url, "dave", "rust");
      await dave.waitForSelector("#messages li.history:has-text('hello, rust room')");
      await bob.waitForSelector("#messages li.notice:has-text('dave joined')");
      // Switching rooms with /join.
      await dave.fill("#input", "/join deno");
      await dave.press("#input", "Enter");
      await carol.waitForSelector("#messages li.notice:has-text('dave joined')");
      await bob.waitForSelector("#messages li.notice:has-text('dave left')");
      assert.deepEqual(hub.stats().rooms, { rust: 2, deno: 2 });

      const dir = await Deno.makeTempDir({ prefix: "duplex-chat-" });
      await bob.screenshot({ path: `${dir}/bob.png` });
      assert.ok((await Deno.stat(`${dir}/bob.png`)).size > 0);
      await Deno.remove(dir, { recursive: true });
      await dave.close();
    } finally {
      await Promise.all([alice.close(), bob.close(), carol.close()]);
      await hub.close();
      await server.shutdown();
    }
  },
);
