// Copyright 2026 the Duplex authors. MIT license.
// The duplex CLI, end to end, as a subprocess: connect with piped stdin
// against listen, --json events, --once and --binary, exit codes on a
// refused handshake and an abnormal close, bench against Deno's native
// server, listen --static and its graceful shutdown, and connect typed at
// under a pseudo-terminal (util-linux's script).
import assert from "node:assert/strict";
import { serve, upgradeWebSocket } from "../mod.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end, with `input` on stdin. */
async function run(args: string[], input = ""): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

/** `duplex listen 0 ARGS`, until `stop()` sends SIGINT; resolves its URL once listening. */
async function listen(args: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "listen", "0", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!/listening on (\S+)/.test(output)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`listen ended: ${output}`);
    output += value;
  }
  const url = /listening on (\S+)/.exec(output)![1]!;
  const log = new Response(child.stderr).text();
  return {
    url,
    async stop(): Promise<{ code: number; log: string }> {
      child.kill("SIGINT");
      const { code } = await child.status;
      await reader.cancel();
      return { code, log: await log };
    },
  };
}

Deno.test("cli: --version, --help, and a usage error", async () => {
  const version = await run(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^duplex \d+\.\d+\.\d+ \(Deno \d/);
  for (const command of ["connect", "listen", "bench"]) {
    const help = await run([command, "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^duplex ${command}`));
  }
  const unknown = await run(["fly"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown command "fly"/);
  const insecure = await run(["connect", "wss://127.0.0.1:9/", "--insecure"]);
  assert.equal(insecure.code, 2);
  assert.match(insecure.stderr, /--unsafely-ignore-certificate-errors/);
});

Deno.test("cli: connect with piped stdin against listen echoes each line and closes at EOF; --json, --once, --binary", async () => {
  const server = await listen();
  try {
    const plain = await run(["connect", server.url], "hello\nwörld\n");
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(plain.stdout.trim().split("\n"), [
      `connected to ${server.url}`,
      "hello",
      "wörld",
      "closed 1000",
    ]);
    const json = await run(["connect", server.url, "--json"], "one\ntwo\n");
    assert.equal(json.code, 0, json.stderr);
    const events = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(events.map((event) => event.type), ["open", "message", "message", "close"]);
    assert.deepEqual(events.slice(1, 3).map((event) => event.data), ["one", "two"]);
    assert.deepEqual(events[3], { type: "close", code: 1000, reason: "", wasClean: true });
    const binary = await run(
      ["connect", server.url, "--binary", "base64", "--once", "--json"],
      "AAEC/w==\n",
    );
    assert.equal(binary.code, 0, binary.stderr);
    assert.deepEqual(JSON.parse(binary.stdout.split("\n")[1]!), {
      type: "message",
      binary: true,
      data: "AAEC/w==",
    });
  } finally {
    const { code, log } = await server.stop();
    assert.equal(code, 0, "SIGINT is a graceful shutdown");
    assert.match(log, /open #1/);
    assert.match(log, /close #1 1000/);
  }
});

Deno.test("cli: a refused handshake and an abnormal close exit 1, saying why", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (new URL(request.url).pathname === "/private") {
      return new Response("no entry without a token\n", { status: 403 });
    }
    const { connection, response } = upgradeWebSocket(request);
    connection.listen({ message: () => connection.terminate() });
    return response;
  });
  try {
    const refused = await run(["connect", `ws://127.0.0.1:${server.addr.port}/private`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /403/);
    assert.match(refused.stderr, /no entry without a token/);
    const dropped = await run(
      ["connect", `ws://127.0.0.1:${server.addr.port}/`, "--json"],
      "bye\n",
    );
    assert.equal(dropped.code, 1);
    assert.equal(JSON.parse(dropped.stdout.trim().split("\n").at(-1)!).code, 1006);
  } finally {
    await server.shutdown();
  }
});

Deno.test("cli: bench against Deno's native server checks every echo and reports", async () => {
  const native = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  try {
    const result = await run([
      "bench",
      `ws://127.0.0.1:${native.addr.port}/`,
      "--connections",
      "4",
      "--size",
      "64",
      "--binary",
      "--duration",
      "1.5",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.errors, 0);
    assert.equal(summary.connections, 4);
    assert.ok(summary.messages > 100, `${summary.messages} messages`);
    assert.ok(summary.rtt.p50 > 0 && summary.rtt.p99 >= summary.rtt.p50);
  } finally {
    await native.shutdown();
  }
});

Deno.test("cli: listen --static serves files beside /ws, and --broadcast reaches every connection", async () => {
  const dir = await Deno.makeTempDir({ prefix: "duplex-cli-" });
  await Deno.writeTextFile(`${dir}/index.html`, "<h1>hi</h1>");
  const server = await listen(["--static", dir, "--broadcast"]);
  try {
    assert.match(server.url, /\/ws$/);
    const base = server.url.replace(/^ws/, "http").replace(/ws$/, "");
    const page = await fetch(base);
    assert.equal(await page.text(), "<h1>hi</h1>");
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    const missing = await fetch(`${base}nope.txt`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const { connect } = await import("../mod.ts");
    const [a, b] = [await connect(server.url), await connect(server.url)];
    await a.send("to all");
    assert.equal(await a.receive(), "to all");
    assert.equal(await b.receive(), "to all");
    await a.close(1000);
    await b.close(1000);
  } finally {
    assert.equal((await server.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

const hasScript = (() => {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "cli: connect under a pseudo-terminal: a typed line comes back, ^D closes",
  ignore: !hasScript,
  async fn() {
    const server = serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const { connection, response } = upgradeWebSocket(request);
      connection.listen({ message: (data) => connection.send(`echo: ${data}`) });
      return response;
    });
    const command = `${Deno.execPath()} run -A ${CLI} connect ws://127.0.0.1:${server.addr.port}/`;
    const child = new Deno.Command("/usr/bin/script", {
      args: ["-qfec", command, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const writer = child.stdin.getWriter();
    let output = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(output)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the terminal ended: ${output}`);
        output += value;
      }
    };
    try {
      await until(/connected to/);
      await writer.write(new TextEncoder().encode("typed at a terminal\r"));
      await until(/echo: typed at a terminal/);
      await writer.write(new TextEncoder().encode("\x04"));
      await until(/closed 1000/);
    } finally {
      await writer.close().catch(() => {});
      const status = await child.status;
      await reader.cancel();
      await new Response(child.stderr).text();
      await server.shutdown();
      assert.equal(status.code, 0, output);
    }
  },
});

Deno.test("cli: bench --broadcast against listen --broadcast: every connection gets every message", async () => {
  const server = await listen(["--broadcast"]);
  try {
    const result = await run([
      "bench",
      server.url,
      "--broadcast",
      "--connections",
      "3",
      "--duration",
      "0.5",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.errors, 0);
    assert.equal(summary.broadcast, true);
    // Three connections, each with every message: a multiple of three.
    assert.ok(summary.messages > 30 && summary.messages % 3 === 0, `${summary.messages}`);
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});
