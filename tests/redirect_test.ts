// Copyright 2026 the Duplex authors. MIT license.
// followRedirects: 301, 302, 303, 307 and 308 followed to the end, relative
// and absolute Locations, credentials kept on the same host and dropped
// on another, a limit, no redirect by default, and never wss: down to ws:.
import assert from "node:assert/strict";
import { connect, HandshakeError, serve, type Server, upgradeWebSocket } from "../mod.ts";
import { generateTestCertificates } from "./_tls.ts";

interface Seen {
  path: string;
  authorization: string | null;
  cookie: string | null;
}

/**
 * A server that redirects per its routes (path → [status, Location], filled
 * in after it starts, since they name its port) and upgrades elsewhere.
 */
function redirecting(tls?: { cert: string; key: string }) {
  const seen: Seen[] = [];
  const routes: Record<string, [number, string]> = {};
  const server: Server = serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    (request) => {
      const url = new URL(request.url);
      seen.push({
        path: url.pathname,
        authorization: request.headers.get("authorization"),
        cookie: request.headers.get("cookie"),
      });
      const route = routes[url.pathname];
      if (route !== undefined) {
        return new Response(null, { status: route[0], headers: { location: route[1] } });
      }
      const { connection, response } = upgradeWebSocket(request);
      connection.listen({ message: (data) => connection.send(`${url.pathname}: ${data}`) });
      return response;
    },
  );
  return { server, seen, routes, port: server.addr.port };
}

const CREDENTIALS = { authorization: "Bearer t0ken", cookie: "session=1" };

Deno.test("followRedirects: each redirect status is followed, relative and absolute; credentials stay on the same host only", async () => {
  const far = redirecting();
  const near = redirecting();
  Object.assign(near.routes, {
    "/301": [301, "/302"],
    "/302": [302, `http://127.0.0.1:${near.port}/303`],
    "/303": [303, `ws://127.0.0.1:${near.port}/307`],
    "/307": [307, "/308"],
    "/308": [308, `ws://127.0.0.1:${far.port}/final`],
  });
  const client = await connect(`ws://127.0.0.1:${near.port}/301`, {
    followRedirects: 5,
    headers: CREDENTIALS,
  });
  assert.equal(client.url, `ws://127.0.0.1:${far.port}/final`);
  await client.send("hi");
  assert.equal(await client.receive(), "/final: hi");
  await client.close(1000);
  assert.deepEqual(near.seen.map((seen) => seen.path), ["/301", "/302", "/303", "/307", "/308"]);
  assert.ok(near.seen.every((seen) => seen.authorization === "Bearer t0ken"));
  assert.ok(near.seen.every((seen) => seen.cookie === "session=1"));
  // Another host (here, another port): no credentials.
  assert.deepEqual(far.seen, [{ path: "/final", authorization: null, cookie: null }]);
  await near.server.shutdown();
  await far.server.shutdown();
});

Deno.test("followRedirects: off by default, a redirect is a refusal; past the limit, TOO_MANY_REDIRECTS", async () => {
  const loop = redirecting();
  Object.assign(loop.routes, { "/a": [302, "/b"], "/b": [307, "/a"] });
  const url = `ws://127.0.0.1:${loop.port}/a`;
  await assert.rejects(
    connect(url),
    (error: unknown) =>
      error instanceof HandshakeError && error.code === "UNEXPECTED_STATUS" &&
      error.status === 302 && error.headers.get("location") === "/b",
  );
  await assert.rejects(
    connect(url, { followRedirects: 3 }),
    (error: unknown) =>
      error instanceof HandshakeError && error.code === "TOO_MANY_REDIRECTS" &&
      error.status === 307,
  );
  // 1 (refused) + 4 (three followed, the fourth refused).
  assert.equal(loop.seen.length, 5);
  // A redirect without a Location, or to another scheme, cannot be followed.
  Object.assign(loop.routes, { "/ftp": [301, "ftp://127.0.0.1/x"] });
  await assert.rejects(
    connect(`ws://127.0.0.1:${loop.port}/ftp`, { followRedirects: 1 }),
    (error: unknown) => error instanceof HandshakeError && error.code === "INVALID_REDIRECT",
  );
  await loop.server.shutdown();
});

Deno.test("followRedirects never goes from wss: down to ws:, but follows wss: to wss:", async () => {
  const { caCert, cert, key } = await generateTestCertificates();
  const plain = redirecting();
  const secure = redirecting({ cert, key });
  Object.assign(secure.routes, {
    "/down": [302, `ws://127.0.0.1:${plain.port}/`],
    "/http": [302, `http://127.0.0.1:${plain.port}/`],
    "/up": [302, "/tls"],
  });
  for (const path of ["/down", "/http"]) {
    await assert.rejects(
      connect(`wss://localhost:${secure.port}${path}`, { caCerts: [caCert], followRedirects: 2 }),
      (error: unknown) =>
        error instanceof HandshakeError && error.code === "REDIRECT_DOWNGRADE" &&
        error.status === 302,
    );
  }
  assert.equal(plain.seen.length, 0, "nothing went out in the clear");
  const client = await connect(`wss://localhost:${secure.port}/up`, {
    caCerts: [caCert],
    followRedirects: 1,
  });
  assert.equal(client.url, `wss://localhost:${secure.port}/tls`);
  await client.send("sealed");
  assert.equal(await client.receive(), "/tls: sealed");
  await client.close(1000);
  await secure.server.shutdown();
  await plain.server.shutdown();
});
