// Copyright 2026 the Duplex authors. MIT license.
// The chat example's protocol, through the testing kit: its real hub and
// handler, in-memory clients, no sockets and no sleeps. (The browser test,
// tests/browser/chat_test.ts, drives the page over TCP.)
import assert from "node:assert/strict";
import { createChat } from "../examples/chat/server.ts";
import { type TestConnection, testServer } from "../testing.ts";

type Event = Record<string, unknown>;

/** The next message, which must be a JSON text. */
async function next(client: TestConnection): Promise<Event> {
  const text = await client.expectMessage((m) => typeof m === "string");
  return JSON.parse(text as string);
}

/** The messages a member gets on entering a room: joined, history, its notice, the members. */
async function entered(client: TestConnection, room: string, nick: string): Promise<Event[]> {
  const { node, ...joined } = await next(client);
  assert.match(String(node), /^[0-9a-f]{8}$/, "joined names the node");
  assert.deepEqual(joined, { type: "joined", room, nick });
  const history = await next(client);
  assert.equal(history.type, "history");
  assert.deepEqual(await next(client), { type: "notice", room, text: `${nick} joined` });
  const members = await next(client);
  assert.equal(members.type, "members");
  return history.messages as Event[];
}

/** What the others in the room get when `nick` comes in. */
async function sawJoin(client: TestConnection, room: string, nick: string, nicks: string[]) {
  assert.deepEqual(await next(client), { type: "notice", room, text: `${nick} joined` });
  assert.deepEqual(await next(client), { type: "members", room, nicks });
}

function say(client: TestConnection, text: unknown): Promise<void> {
  return client.send(JSON.stringify({ type: "say", text }));
}

Deno.test("chat: a message reaches its room, with sender and time, and not another room", async () => {
  const { handler } = createChat({ now: () => 1_700_000_000_000 });
  await using server = testServer(handler);
  const alice = await server.connect("/ws?nick=alice&room=rust");
  assert.deepEqual(await entered(alice, "rust", "alice"), []);
  const bob = await server.connect("/ws?nick=bob&room=rust");
  await entered(bob, "rust", "bob");
  await sawJoin(alice, "rust", "bob", ["alice", "bob"]);
  const carol = await server.connect("/ws?nick=carol&room=deno");
  await entered(carol, "deno", "carol");

  await say(alice, "hello, rust room");
  const line = {
    type: "message",
    room: "rust",
    nick: "alice",
    text: "hello, rust room",
    at: 1_700_000_000_000,
  };
  assert.deepEqual(await next(bob), line);
  assert.deepEqual(await next(alice), line);
  await carol.expectNoMessage({ within: 20 });
  for (const client of [alice, bob, carol]) await client.close(1000);
});

Deno.test("chat: a newcomer gets the room's last 50 messages, oldest first", async () => {
  const { handler } = createChat();
  await using server = testServer(handler);
  const alice = await server.connect("/ws?nick=alice");
  await entered(alice, "lobby", "alice");
  for (let i = 0; i < 60; i++) await say(alice, `line ${i}`);
  for (let i = 0; i < 60; i++) assert.equal((await next(alice)).text, `line ${i}`);
  const dave = await server.connect("/ws?nick=dave");
  const history = await entered(dave, "lobby", "dave");
  assert.equal(history.length, 50);
  assert.equal(history[0]!.text, "line 10");
  assert.equal(history.at(-1)!.text, "line 59");
  assert.ok(history.every((m) => m.nick === "alice" && typeof m.at === "number"));
  await dave.close(1000);
  await alice.close(1000);
});

Deno.test("chat: /join moves a member, with a notice and the member list in both rooms", async () => {
  const { hub, handler } = createChat();
  await using server = testServer(handler);
  const alice = await server.connect("/ws?nick=alice&room=rust");
  await entered(alice, "rust", "alice");
  const dave = await server.connect("/ws?nick=dave&room=rust");
  await entered(dave, "rust", "dave");
  await sawJoin(alice, "rust", "dave", ["alice", "dave"]);
  const carol = await server.connect("/ws?nick=carol&room=deno");
  await entered(carol, "deno", "carol");

  await dave.send(JSON.stringify({ type: "join", room: "deno" }));
  assert.deepEqual(await next(alice), { type: "notice", room: "rust", text: "dave left" });
  assert.deepEqual(await next(alice), { type: "members", room: "rust", nicks: ["alice"] });
  await entered(dave, "deno", "dave");
  await sawJoin(carol, "deno", "dave", ["carol", "dave"]);
  assert.deepEqual(hub.stats().rooms, { rust: 1, deno: 2 });
  // Joining the room it is in changes nothing.
  await dave.send(JSON.stringify({ type: "join", room: "deno" }));
  await dave.expectNoMessage({ within: 20 });
  for (const client of [alice, dave, carol]) await client.close(1000);
});

Deno.test("chat: a new nick is announced, and a member that leaves is announced with it", async () => {
  const { handler } = createChat();
  await using server = testServer(handler);
  const alice = await server.connect("/ws?nick=alice");
  await entered(alice, "lobby", "alice");
  const bob = await server.connect("/ws?nick=bob");
  await entered(bob, "lobby", "bob");
  await sawJoin(alice, "lobby", "bob", ["alice", "bob"]);

  await bob.send(JSON.stringify({ type: "nick", nick: "  bobby\u0007 " }));
  for (const client of [alice, bob]) {
    assert.deepEqual(await next(client), {
      type: "notice",
      room: "lobby",
      text: "bob is now bobby",
    });
    assert.deepEqual(await next(client), {
      type: "members",
      room: "lobby",
      nicks: ["alice", "bobby"],
    });
  }
  await say(bob, "renamed");
  assert.equal((await next(alice)).nick, "bobby");
  await next(bob);
  await bob.close(1000);
  assert.deepEqual(await next(alice), { type: "notice", room: "lobby", text: "bobby left" });
  assert.deepEqual(await next(alice), { type: "members", room: "lobby", nicks: ["alice"] });
  await alice.close(1000);
});

Deno.test("chat: what is not a command is ignored; text is cleaned and cut; a guest gets a name", async () => {
  const { handler } = createChat();
  await using server = testServer(handler);
  const guest = await server.connect("/ws");
  await entered(guest, "lobby", "guest-1");
  await guest.send("not json");
  await guest.send(new Uint8Array([1, 2, 3]));
  await guest.send(JSON.stringify({ type: "dance" }));
  await say(guest, "   ");
  await say(guest, 42);
  await guest.send(JSON.stringify({ type: "nick", nick: "guest-1" }));
  await guest.expectNoMessage({ within: 20 });

  await say(guest, `\u0000 ${"x".repeat(3000)}`);
  const message = await next(guest);
  assert.equal(message.text, "x".repeat(2000));
  await guest.close(1000);
});

Deno.test("chat: a message over 16 KiB closes the connection with 1009", async () => {
  const { hub, handler } = createChat();
  await using server = testServer(handler);
  const client = await server.connect("/ws?nick=big");
  await entered(client, "lobby", "big");
  await say(client, "y".repeat(17 * 1024));
  await client.expectClose(1009);
  assert.equal(hub.size, 0);
});

Deno.test("chat: the page, the stats and a 404, from the same handler", async () => {
  const { handler } = createChat();
  await using server = testServer(handler);
  const member = await server.connect("/ws?nick=ann&room=r1");
  await entered(member, "r1", "ann");
  const info = {
    remoteAddr: { transport: "tcp" as const, hostname: "memory", port: 1 },
    completed: Promise.resolve(),
  };
  const page = await handler(new Request("http://chat.test/"), info);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  assert.match(await page.text(), /<html/i);
  const stats = await (await handler(new Request("http://chat.test/stats"), info)).json();
  assert.equal(stats.connections, 1);
  assert.deepEqual(stats.rooms, { r1: 1 });
  const missing = await handler(new Request("http://chat.test/nope"), info);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  await member.close(1000);
});
