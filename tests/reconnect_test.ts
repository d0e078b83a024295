// Copyright 2026 the Duplex authors. MIT license.
// reconnect(): a server killed and restarted, what is retried and what is
// not, Retry-After, the backoff and its jitter, the abort signal, break,
// and bad options refused at the call.
import assert from "node:assert/strict";
import {
  type ConnectionCloseInfo,
  ConnectionError,
  HandshakeError,
  reconnect,
  type ReconnectRetry,
  serve,
  type Server,
  upgradeWebSocket,
  type WebSocketConnection,
} from "../mod.ts";
import { ManualClock } from "../testing.ts";

/** An echo server; `refuse` answers an upgrade with a plain response instead, while it returns one. */
function echoServer(port = 0, refuse?: () => Response | undefined) {
  const closes: ConnectionCloseInfo[] = [];
  let upgrades = 0;
  let requests = 0;
  const server: Server = serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => {
    requests++;
    const refusal = refuse?.();
    if (refusal !== undefined) return refusal;
    upgrades++;
    const { connection, response } = upgradeWebSocket(request);
    connection.listen({
      message: (data) => {
        if (data === "close 1011") connection.close(1011, "oops").catch(() => {});
        else if (data === "close 4001") connection.close(4001, "go away").catch(() => {});
        else connection.send(data);
      },
    });
    connection.closed.then((info) => closes.push(info));
    return response;
  });
  return {
    server,
    port: server.addr.port,
    url: `ws://127.0.0.1:${server.addr.port}/`,
    closes,
    stats: () => ({ requests, upgrades }),
  };
}

Deno.test("reconnect: a server killed and restarted on its port; the attempts in between are reported", async () => {
  let echo = echoServer();
  const port = echo.port;
  const retries: ReconnectRetry[] = [];
  const stop = new AbortController();
  const received: string[] = [];
  let restarted: Promise<void> | undefined;
  for await (
    const connection of reconnect(echo.url, {
      minDelay: 5,
      maxDelay: 20,
      signal: stop.signal,
      onRetry(retry) {
        retries.push(retry);
        // Back after two attempts have failed.
        if (retries.length === 3) {
          restarted = Promise.resolve().then(() => void (echo = echoServer(port)));
        }
      },
    })
  ) {
    await connection.send(`round ${received.length}`);
    received.push(String(await connection.receive({ timeout: 2_000 })));
    if (received.length === 1) await echo.server.shutdown();
    else stop.abort();
  }
  await restarted;
  assert.deepEqual(received, ["round 0", "round 1"]);
  // The drop (1001 from the shutdown), then two refused attempts.
  assert.equal((retries[0]!.reason as ConnectionCloseInfo).code, 1001);
  assert.ok(retries[1]!.reason instanceof ConnectionError);
  assert.ok(retries[2]!.reason instanceof ConnectionError);
  assert.deepEqual(retries.map((retry) => retry.attempt), [1, 2, 3]);
  // The abort closed the open connection with 1000.
  await echo.server.shutdown();
  assert.deepEqual(echo.closes.map((info) => [info.code, info.reason]), [[
    1000,
    "reconnect stopped",
  ]]);
});

Deno.test("reconnect: the backoff doubles from minDelay to maxDelay, each wait drawn in its upper half", async () => {
  // Nothing listens there: every attempt is refused at once.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `ws://127.0.0.1:${probe.addr.port}/`;
  probe.close();
  const clock = new ManualClock();
  const delays: number[] = [];
  const iteration = reconnect(url, {
    clock,
    minDelay: 100,
    maxDelay: 1_000,
    maxAttempts: 8,
    onRetry: ({ delay }) => void delays.push(delay),
  });
  const outcome = iteration.next().then(
    () => new Error("it connected"),
    (error) => error,
  );
  // Each wait is on the clock: move it on as each one starts.
  for (let i = 0; i < 7; i++) {
    while (delays.length <= i) await new Promise((resolve) => setTimeout(resolve, 1));
    await clock.advance(delays[i]!);
  }
  const error = await outcome;
  assert.ok(error instanceof ConnectionError, String(error));
  assert.equal(delays.length, 7, "maxAttempts 8: seven waits, then the eighth failure is thrown");
  const bases = [100, 200, 400, 800, 1_000, 1_000, 1_000];
  delays.forEach((delay, i) => {
    assert.ok(delay >= bases[i]! / 2 && delay <= bases[i]!, `wait ${i + 1}: ${delay} ms`);
  });
});

Deno.test("reconnect: 503 and 429 are retried after their Retry-After; 401 and 404 are not retried", async () => {
  let refusals = 2;
  const echo = echoServer(0, () => {
    if (refusals-- <= 0) return undefined;
    return new Response("busy", {
      status: refusals === 1 ? 503 : 429,
      headers: { "retry-after": "7" },
    });
  });
  const clock = new ManualClock();
  const retries: ReconnectRetry[] = [];
  const iteration = reconnect(echo.url, {
    clock,
    minDelay: 10,
    maxDelay: 100,
    onRetry: (retry) => void retries.push(retry),
  });
  const first = iteration.next();
  for (let i = 0; i < 2; i++) {
    while (retries.length <= i) await new Promise((resolve) => setTimeout(resolve, 1));
    // Retry-After: 7 seconds, more than maxDelay: honoured.
    assert.equal(retries[i]!.delay, 7_000);
    assert.equal((retries[i]!.reason as HandshakeError).status, i === 0 ? 503 : 429);
    await clock.advance(7_000);
  }
  const { value: connection } = await first;
  await (connection as WebSocketConnection).send("in");
  assert.equal(await (connection as WebSocketConnection).receive(), "in");
  await iteration.return?.();
  assert.deepEqual(echo.stats(), { requests: 3, upgrades: 1 });
  await echo.server.shutdown();

  for (const status of [401, 404]) {
    const refusing = echoServer(0, () => new Response("no", { status }));
    let retried = false;
    const loop = reconnect(refusing.url, { minDelay: 1, onRetry: () => void (retried = true) });
    await assert.rejects(
      loop.next(),
      (error: unknown) => error instanceof HandshakeError && error.status === status,
    );
    assert.equal(retried, false);
    assert.equal(refusing.stats().requests, 1, `${status} is asked once`);
    await refusing.server.shutdown();
  }
});

Deno.test("reconnect: 1011 is retried; 1000 and 4001 end the loop; break closes the connection", async () => {
  const echo = echoServer();
  const codes: number[] = [];
  let round = 0;
  for await (const connection of reconnect(echo.url, { minDelay: 1, maxDelay: 5 })) {
    round++;
    connection.closed.then((info) => codes.push(info.code));
    if (round === 1) await connection.send("close 1011");
    else if (round === 2) await connection.send("close 4001");
    else throw new Error("a third connection");
    await connection.closed;
  }
  assert.deepEqual(codes, [1011, 4001]);

  for await (const connection of reconnect(echo.url)) {
    await connection.send("x");
    await connection.receive();
    break;
  }
  await echo.server.shutdown();
  assert.deepEqual(echo.closes.map((info) => info.code), [1011, 4001, 1000]);
});

Deno.test("reconnect: the signal stops the loop while it waits, and during a handshake", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `ws://127.0.0.1:${probe.addr.port}/`;
  probe.close();
  const clock = new ManualClock();
  const stop = new AbortController();
  const iteration = reconnect(url, { clock, signal: stop.signal, onRetry: () => stop.abort() });
  assert.deepEqual(await iteration.next(), { value: undefined, done: true });

  // A server that never answers: the abort cancels the handshake under way.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = silent.accept();
  const stopSoon = new AbortController();
  const pending = reconnect(`ws://127.0.0.1:${silent.addr.port}/`, { signal: stopSoon.signal })
    .next();
  const conn = await accepted;
  stopSoon.abort();
  assert.deepEqual(await pending, { value: undefined, done: true });
  conn.close();
  silent.close();
});

Deno.test("reconnect: bad options are refused at the call, before any attempt", () => {
  const cases: [Record<string, unknown>, ErrorConstructor][] = [
    [{ minDelay: -1 }, RangeError],
    [{ maxDelay: Infinity }, RangeError],
    [{ minDelay: 2_000, maxDelay: 1_000 }, RangeError],
    [{ maxAttempts: 0 }, RangeError],
    [{ maxAttempts: 1.5 }, RangeError],
    [{ minDelay: "1" }, TypeError],
    [{ onRetry: "log" }, TypeError],
    [{ handshakeTimeout: -5 }, RangeError],
  ];
  for (const [options, error] of cases) {
    // A port nothing listens on: a refusal, not a connection error, proves nothing was dialed.
    assert.throws(() => reconnect("ws://127.0.0.1:9/", options), error, JSON.stringify(options));
  }
});

/** bench/servers/duplex.ts (an echo server) in its own process, on `port`. */
async function serverProcess(port: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../bench/servers/duplex.ts", import.meta.url).pathname,
      String(port),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!/ready \d+/.test(output)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the server process ended before listening");
    output += value;
  }
  return {
    port: Number(/ready (\d+)/.exec(output)![1]),
    async kill(): Promise<void> {
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel();
    },
  };
}

Deno.test("reconnect: a server process killed (SIGKILL) and started again: 1006, then back", async () => {
  let server = await serverProcess(0);
  const port = server.port;
  let restarting: Promise<void> | undefined;
  const retries: ReconnectRetry[] = [];
  const stop = new AbortController();
  const echoed: string[] = [];
  try {
    for await (
      const connection of reconnect(`ws://127.0.0.1:${port}/`, {
        minDelay: 20,
        maxDelay: 200,
        signal: stop.signal,
        onRetry(retry) {
          retries.push(retry);
          restarting ??= serverProcess(port).then((next) => void (server = next));
        },
      })
    ) {
      await connection.send(`life ${echoed.length + 1}`);
      echoed.push(String(await connection.receive({ timeout: 5_000 })));
      if (echoed.length === 1) await server.kill();
      else stop.abort();
    }
    assert.deepEqual(echoed, ["life 1", "life 2"]);
    // Killed: no close frame, so 1006; then refused attempts until it is back.
    assert.equal((retries[0]!.reason as ConnectionCloseInfo).code, 1006);
    assert.ok(retries.slice(1).every((retry) => retry.reason instanceof ConnectionError));
  } finally {
    await restarting;
    await server.kill();
  }
});
