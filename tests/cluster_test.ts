// Copyright 2026 the Duplex authors. MIT license.
// One chat across the cores of one process, as a user runs it: the chat
// demo with --workers 2 (Workers sharing a port with SO_REUSEPORT, on the
// BroadcastChannel backplane), and under `deno serve --parallel` with
// DENO_JOBS=2. Each is a real subprocess on a free loopback port; clients
// connect until they have landed on both nodes, and a line said on one
// reaches the other.
import assert from "node:assert/strict";
import { connect, type WebSocketConnection } from "../mod.ts";

const HOST = "127.0.0.1";
const chat = new URL("../examples/chat/", import.meta.url);

function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until something accepts on `port`, for at most 20 s. */
async function listening(port: number, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const end = Date.now() + 20_000;
  while (Date.now() < end && !exited) {
    try {
      (await Deno.connect({ hostname: HOST, port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(exited ? "The server exited before listening" : `Nothing listens on ${port}`);
}

type Event = Record<string, unknown>;

/** The next message of `type`, skipping the others (history, notices, members). */
async function nextOf(client: WebSocketConnection, type: string): Promise<Event> {
  while (true) {
    const event = JSON.parse(await client.receive({ timeout: 5_000 }) as string) as Event;
    if (event.type === type) return event;
  }
}

/**
 * Connects members of one room until two of them are on different nodes
 * (the kernel picks a listener per connection); closes the others.
 */
async function onTwoNodes(port: number): Promise<[WebSocketConnection, WebSocketConnection]> {
  const byNode = new Map<string, WebSocketConnection>();
  const extra: WebSocketConnection[] = [];
  for (let i = 0; i < 60 && byNode.size < 2; i++) {
    const client = await connect(`ws://${HOST}:${port}/ws?nick=n${i}&room=lobby`);
    const { node } = await nextOf(client, "joined");
    if (byNode.has(node as string)) extra.push(client);
    else byNode.set(node as string, client);
  }
  await Promise.all(extra.map((client) => client.close()));
  assert.equal(byNode.size, 2, "60 connections all landed on one node");
  return [...byNode.values()] as [WebSocketConnection, WebSocketConnection];
}

/** Says a line on one node and hears it on the other, both ways. */
async function oneChat([a, b]: [WebSocketConnection, WebSocketConnection]): Promise<void> {
  await a.send(JSON.stringify({ type: "say", text: "from the first node" }));
  assert.equal((await nextOf(b, "message")).text, "from the first node");
  assert.equal((await nextOf(a, "message")).text, "from the first node");
  await b.send(JSON.stringify({ type: "say", text: "and back" }));
  assert.equal((await nextOf(a, "message")).text, "and back");
}

async function run(args: string[], env: Record<string, string>, port: number, stop: () => void) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env,
    cwd: new URL("..", chat).pathname,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let failure: unknown;
  try {
    await listening(port, child);
    const clients = await onTwoNodes(port);
    await oneChat(clients);
    await Promise.all(clients.map((client) => client.close()));
  } catch (error) {
    failure = error;
  }
  stop.call(child);
  const status = await child.status;
  const log = await stderr;
  if (failure !== undefined) throw failure;
  if (!status.success && status.signal !== "SIGTERM") {
    throw new Error(`The server failed (${status.code}): ${log}`);
  }
}

Deno.test("cluster: the chat with --workers 2 on one port (SO_REUSEPORT) is one chat", async () => {
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  await run(
    [
      "run",
      "-A",
      "--unstable-net",
      new URL("server.ts", chat).pathname,
      "--port",
      String(port),
      "--workers",
      "2",
    ],
    {},
    port,
    function (this: Deno.ChildProcess) {
      child = this;
      this.kill("SIGTERM");
    },
  );
  // SIGTERM is a graceful stop: the workers close their hubs and servers, exit 0.
  assert.equal((await child!.status).code, 0);
});

Deno.test("cluster: the chat under deno serve --parallel (DENO_JOBS=2) is one chat", async () => {
  const port = freePort();
  await run(
    [
      "serve",
      "--parallel",
      "-A",
      "--host",
      HOST,
      "--port",
      String(port),
      new URL("serve.ts", chat).pathname,
    ],
    { DENO_JOBS: "2" },
    port,
    function (this: Deno.ChildProcess) {
      this.kill("SIGTERM");
    },
  );
});

Deno.test("cluster: serve({ reusePort }) without --unstable-net is a NotSupported error, not an exit", async () => {
  const code = `
    import { serve } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
    try {
      serve({ port: 0, reusePort: true, onListen() {} }, () => new Response());
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(
    new TextDecoder().decode(output.stdout).trim(),
    'NotSupported: Cannot serve with reusePort: Deno needs --unstable-net (or "unstable": ["net"] in deno.json)',
  );
});

Deno.test("cluster: the chat with --workers 2 but no --unstable-net says why and exits 2", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("server.ts", chat).pathname, "--port", "0", "--workers", "2"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  assert.equal(
    new TextDecoder().decode(output.stderr).trim(),
    'chat: NotSupported: Cannot serve with reusePort: Deno needs --unstable-net (or "unstable": ["net"] in deno.json)',
  );
});
