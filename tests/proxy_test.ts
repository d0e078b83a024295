// Copyright 2026 the Duplex authors. MIT license.
// connect() through a real HTTP CONNECT proxy: Debian's tinyproxy, started
// here on a free loopback port with a config of its own. ws:// and wss://
// (TLS end to end inside the tunnel), a refused CONNECT, Basic
// authentication, and proxy: "env" with NO_PROXY. CI (`.ci/run`) installs
// tinyproxy and sets DUPLEX_REQUIRE_PROXY=1, so a missing one fails there;
// elsewhere these tests are skipped with a notice.
import assert from "node:assert/strict";
import {
  connect,
  ConnectionError,
  HandshakeError,
  parseUrl,
  serve,
  upgradeWebSocket,
} from "../mod.ts";
import { bypassed, proxyFor } from "../_proxy.ts";
import { generateTestCertificates } from "./_tls.ts";

const TINYPROXY = Deno.env.get("DUPLEX_TINYPROXY") ?? "/usr/bin/tinyproxy";

function available(): boolean {
  try {
    return Deno.statSync(TINYPROXY).isFile;
  } catch {
    return false;
  }
}

const required = Deno.env.get("DUPLEX_REQUIRE_PROXY") === "1";
const present = available();
if (!present && !required) {
  console.warn(`Skipping proxy tests: no tinyproxy at ${TINYPROXY} (apt-get install tinyproxy)`);
}

function proxyTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: !present && !required,
    async fn() {
      if (!present) throw new Error(`No tinyproxy at ${TINYPROXY}: apt-get install tinyproxy`);
      await fn();
    },
  });
}

/** A port free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** tinyproxy on a loopback port, with `extra` config lines; stopped by `stop()`. */
async function startProxy(extra: string[] = []) {
  const dir = await Deno.makeTempDir({ prefix: "duplex-proxy-" });
  const port = freePort();
  const config = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Timeout 30",
    "MaxClients 20",
    "Allow 127.0.0.1",
    "LogLevel Critical",
    `LogFile "${dir}/tinyproxy.log"`,
    ...extra,
  ].join("\n");
  await Deno.writeTextFile(`${dir}/tinyproxy.conf`, config);
  const child = new Deno.Command(TINYPROXY, {
    args: ["-d", "-c", `${dir}/tinyproxy.conf`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  // Ready once it accepts a connection.
  for (let tries = 0;; tries++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (tries > 200) {
        throw new Error(`tinyproxy did not start: ${await stderr}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await stderr;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function echoServer(tls?: { cert: string; key: string }) {
  return serve({ hostname: "127.0.0.1", port: 0, onListen() {}, ...tls }, (request) => {
    const { connection, response } = upgradeWebSocket(request);
    connection.listen({ message: (data) => connection.send(data) });
    return response;
  });
}

proxyTest("ws:// through tinyproxy: echoes, and fails once the proxy is gone", async () => {
  const proxy = await startProxy();
  const server = echoServer();
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  try {
    const client = await connect(url, { proxy: proxy.url });
    await client.send("through the tunnel");
    assert.equal(await client.receive(), "through the tunnel");
    await client.send(new Uint8Array(100_000).fill(7));
    assert.deepEqual(await client.receive(), new Uint8Array(100_000).fill(7));
    await client.close(1000);
  } finally {
    await proxy.stop();
  }
  // The same connect without the proxy running: it did go through it.
  await assert.rejects(
    connect(url, { proxy: proxy.url }),
    (error: unknown) => error instanceof ConnectionError && error.code === "CONNECTION_REFUSED",
  );
  await server.shutdown();
});

proxyTest("wss:// through tinyproxy: TLS runs end to end inside the tunnel", async () => {
  const { caCert, cert, key } = await generateTestCertificates();
  const proxy = await startProxy();
  const server = echoServer({ cert, key });
  try {
    const client = await connect(`wss://localhost:${server.addr.port}/`, {
      proxy: proxy.url,
      caCerts: [caCert],
    });
    await client.send("sealed");
    assert.equal(await client.receive(), "sealed");
    await client.close(1000);
    // The certificate is checked against the server's name, not the proxy's.
    await assert.rejects(
      connect(`wss://localhost:${server.addr.port}/`, { proxy: proxy.url }),
      ConnectionError,
    );
  } finally {
    await proxy.stop();
    await server.shutdown();
  }
});

proxyTest(
  "a CONNECT the proxy refuses is a HandshakeError PROXY_REFUSED with its status",
  async () => {
    // Only port 1 may be tunnelled to.
    const proxy = await startProxy(["ConnectPort 1"]);
    const server = echoServer();
    try {
      await assert.rejects(
        connect(`ws://127.0.0.1:${server.addr.port}/`, { proxy: proxy.url }),
        (error: unknown) =>
          error instanceof HandshakeError && error.code === "PROXY_REFUSED" && error.status === 403,
      );
    } finally {
      await proxy.stop();
      await server.shutdown();
    }
  },
);

proxyTest(
  "Basic authentication to the proxy: refused without or with wrong credentials, through with them",
  async () => {
    const proxy = await startProxy(["BasicAuth duplex s3cret"]);
    const server = echoServer();
    const url = `ws://127.0.0.1:${server.addr.port}/`;
    try {
      // tinyproxy asks with 407, and answers wrong credentials with 401.
      for (const [credentials, status] of [["", 407], ["duplex:wrong@", 401]] as const) {
        await assert.rejects(
          connect(url, { proxy: `http://${credentials}127.0.0.1:${proxy.port}` }),
          (error: unknown) =>
            error instanceof HandshakeError && error.code === "PROXY_REFUSED" &&
            error.status === status,
          credentials || "none",
        );
      }
      const client = await connect(url, { proxy: `http://duplex:s3cret@127.0.0.1:${proxy.port}` });
      await client.send("authorized");
      assert.equal(await client.receive(), "authorized");
      await client.close(1000);
    } finally {
      await proxy.stop();
      await server.shutdown();
    }
  },
);

proxyTest('proxy: "env" takes HTTP_PROXY, and NO_PROXY bypasses it', async () => {
  const proxy = await startProxy(["BasicAuth duplex s3cret"]);
  const server = echoServer();
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const saved = ["HTTP_PROXY", "NO_PROXY", "http_proxy", "no_proxy"].map((name) =>
    [name, Deno.env.get(name)] as const
  );
  try {
    for (const [name] of saved) Deno.env.delete(name);
    // Through the proxy without credentials: its 407 proves the way taken.
    Deno.env.set("HTTP_PROXY", proxy.url);
    await assert.rejects(
      connect(url, { proxy: "env" }),
      (error: unknown) => error instanceof HandshakeError && error.status === 407,
    );
    Deno.env.set("NO_PROXY", "localhost, 127.0.0.1");
    const direct = await connect(url, { proxy: "env" });
    await direct.close(1000);
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    await proxy.stop();
    await server.shutdown();
  }
});

Deno.test("proxyFor and NO_PROXY: hosts, suffixes, ports, *; bad proxy options refused at the call", async () => {
  const target = parseUrl("wss://api.example.com:8443/x");
  assert.equal(bypassed(target, "*"), true);
  assert.equal(bypassed(target, "example.com"), true);
  assert.equal(bypassed(target, ".example.com"), true);
  assert.equal(bypassed(target, "other.com, api.example.com:8443"), true);
  assert.equal(bypassed(target, "api.example.com:443"), false);
  assert.equal(bypassed(target, "ample.com"), false);
  assert.equal(bypassed(target, ""), false);
  assert.equal(bypassed(parseUrl("ws://[::1]:9/"), "::1"), true);
  const chosen = proxyFor(target, "http://u%40x:p%3Ass@proxy.local:3128");
  assert.deepEqual(
    chosen && [chosen.hostname, chosen.port, chosen.username, chosen.password],
    ["proxy.local", 3128, "u@x", "p:ss"],
  );
  assert.equal(proxyFor(target, undefined), null);
  for (const proxy of ["https://proxy:443", "socks5://proxy:1080", "not a url", 5]) {
    await assert.rejects(
      connect("ws://127.0.0.1:9/", { proxy: proxy as string }),
      TypeError,
      String(proxy),
    );
  }
});
