// Copyright 2026 the Duplex authors. MIT license.
// The package's version, as deno.json states it (tests/client_test.ts
// checks that they agree). Internal.

/** The version of `@duplex/websocket`. */
export const VERSION = "0.1.0";
