// Copyright 2026 the Duplex authors. MIT license.
/**
 * An echo client: connects to URL, sends back every text or binary message
 * unchanged and with the same type, and completes the closing handshake
 * when the server closes.
 *
 * Usage: deno run -A examples/echo_client.ts URL
 *
 * Exits 0 after a clean close; otherwise exits 1 with the reason on stderr.
 *
 * @module
 */

import { connect } from "../mod.ts";

const url = Deno.args[0];
if (url === undefined) {
  console.error("usage: echo_client.ts URL");
  Deno.exit(2);
}

let connection;
try {
  connection = await connect(url);
} catch (error) {
  console.error(`echo_client: ${(error as Error).message}`);
  Deno.exit(1);
}

try {
  for await (const message of connection) await connection.send(message);
} catch {
  // The connection failed; `closed` says how.
}
const { code, reason, wasClean, error } = await connection.closed;
if (!wasClean) {
  console.error(
    `echo_client: closed abnormally with ${code}${reason ? ` (${reason})` : ""}: ${
      error?.message ?? "no close frame"
    }`,
  );
  Deno.exit(1);
}
Deno.exit(0);
