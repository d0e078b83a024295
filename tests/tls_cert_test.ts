// Copyright 2026 the Duplex authors. MIT license.
// The generated certificates must satisfy rustls/webpki, which is what Deno's TLS uses: these
// tests run real handshakes on loopback rather than only inspecting the DER.
import assert from "node:assert/strict";
import { generateTestCertificates, type TestCertificates } from "./_tls.ts";

const certificates = await generateTestCertificates();

/** Whether this machine has IPv6 loopback, for the `::1` case. */
const hasIpv6Loopback = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let offset = 0;
  while (offset < length) {
    const read = await conn.read(bytes.subarray(offset));
    if (read === null) throw new Error(`Cannot read: EOF after ${offset} of ${length} bytes`);
    offset += read;
  }
  return bytes;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/**
 * Handshakes with a server on `listenAddress` as `hostname`, trusting `caCert`, then trades
 * "ping" for "pong".
 */
async function pingPong(
  certs: TestCertificates,
  hostname: string,
  listenAddress = "127.0.0.1",
): Promise<void> {
  const listener = Deno.listenTls({
    hostname: listenAddress,
    port: 0,
    cert: certs.cert,
    key: certs.key,
  });
  try {
    const server = (async () => {
      const conn = await listener.accept();
      try {
        const request = await readExactly(conn, 4);
        assert.equal(new TextDecoder().decode(request), "ping");
        await writeAll(conn, new TextEncoder().encode("pong"));
      } finally {
        conn.close();
      }
    })();
    const client = (async () => {
      const conn = await Deno.connectTls({
        hostname,
        port: listener.addr.port,
        caCerts: [certs.caCert],
      });
      try {
        await conn.handshake();
        await writeAll(conn, new TextEncoder().encode("ping"));
        const reply = await readExactly(conn, 4);
        assert.equal(new TextDecoder().decode(reply), "pong");
      } finally {
        conn.close();
      }
    })();
    await Promise.all([server, client]);
  } finally {
    listener.close();
  }
}

/**
 * Asserts that both ends of a handshake fail when the client, connecting as "localhost", does
 * not accept the server's certificate, and that the client says why (`reason`, e.g. rustls's
 * `UnknownIssuer`).
 */
async function assertRejected(
  certs: TestCertificates,
  caCerts: string[] | undefined,
  reason: RegExp,
): Promise<void> {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.cert,
    key: certs.key,
  });
  try {
    const server = (async () => {
      const conn = await listener.accept();
      try {
        // The client aborts with an alert (or just goes away), so the server cannot finish.
        await assert.rejects(conn.handshake());
      } finally {
        conn.close();
      }
    })();
    const client = (async () => {
      // Deno.connectTls resolves before the handshake; the verdict arrives from handshake().
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: listener.addr.port,
        ...(caCerts === undefined ? {} : { caCerts }),
      });
      try {
        await assert.rejects(
          conn.handshake(),
          (e: unknown) =>
            e instanceof Deno.errors.InvalidData &&
            /invalid peer certificate/.test(e.message) && reason.test(e.message),
        );
      } finally {
        conn.close();
      }
    })();
    await Promise.all([server, client]);
  } finally {
    listener.close();
  }
}

Deno.test("generateTestCertificates makes a server certificate rustls accepts for localhost", async () => {
  await pingPong(certificates, "localhost");
});

Deno.test("generateTestCertificates makes a server certificate rustls accepts for 127.0.0.1", async () => {
  await pingPong(certificates, "127.0.0.1");
});

Deno.test({
  name: "generateTestCertificates makes a server certificate rustls accepts for ::1",
  ignore: !hasIpv6Loopback,
  fn: () => pingPong(certificates, "::1", "::1"),
});

Deno.test("generateTestCertificates puts the given hostnames, not others, in subjectAltName", async () => {
  // webpki matches only subjectAltName (never the subject CN), so a leaf for another name must
  // fail for "localhost" even though its CA is trusted.
  const elsewhere = await generateTestCertificates({ hostnames: ["example.test"], ips: [] });
  await assertRejected(elsewhere, [elsewhere.caCert], /not valid for name/);
});

Deno.test("generateTestCertificates's server certificate is rejected without its CA", async () => {
  await assertRejected(certificates, undefined, /UnknownIssuer/);
});

Deno.test("generateTestCertificates's server certificate is rejected by another generated CA", async () => {
  const other = await generateTestCertificates();
  assert.notEqual(other.caCert, certificates.caCert);
  await assertRejected(certificates, [other.caCert], /UnknownIssuer/);
});

Deno.test("generateTestCertificates rejects an unparsable IP address with TypeError", async () => {
  for (const ip of ["127.0.0.256", "1.2.3", "::1::", "1:2:3:4:5:6:7:8:9", "localhost"]) {
    await assert.rejects(generateTestCertificates({ ips: [ip] }), TypeError, ip);
  }
});
