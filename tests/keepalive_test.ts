// Copyright 2026 the Duplex authors. MIT license.
// Keepalive as a Sans-I/O decision: the test owns the clock, so times are
// plain numbers and no timer is ever set.
import assert from "node:assert/strict";
import { Keepalive, type KeepaliveAction } from "../codec/mod.ts";

/** The actions `keepalive.check` returns at each of `times`, in order. */
function checks(keepalive: Keepalive, times: number[]): KeepaliveAction[] {
  return times.map((now) => keepalive.check(now));
}

Deno.test("Keepalive pings after pingInterval without activity, not before", () => {
  const keepalive = new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0);
  assert.deepEqual(checks(keepalive, [0, 500, 999]), [undefined, undefined, undefined]);
  assert.equal(keepalive.check(1000), "ping");
});

Deno.test("Keepalive measures the interval from the time given to the constructor", () => {
  const keepalive = new Keepalive({ pingInterval: 1000 }, 5000);
  assert.equal(keepalive.check(5999), undefined);
  assert.equal(keepalive.check(6000), "ping");
});

Deno.test("Keepalive pings a late check at once, even long after the interval", () => {
  const keepalive = new Keepalive({ pingInterval: 1000 }, 0);
  assert.equal(keepalive.check(60_000), "ping");
});

Deno.test("Keepalive activity postpones the ping to pingInterval after the check that saw it", () => {
  const keepalive = new Keepalive({ pingInterval: 1000 }, 0);
  assert.equal(keepalive.check(600), undefined);
  keepalive.activity();
  // Activity is a flag: the check that sees it dates it.
  assert.equal(keepalive.check(700), undefined);
  assert.equal(keepalive.check(1000), undefined, "no ping: there was activity at 700");
  assert.equal(keepalive.check(1699), undefined);
  assert.equal(keepalive.check(1700), "ping");
});

Deno.test("Keepalive never pings a connection that is busy at every check", () => {
  const keepalive = new Keepalive({ pingInterval: 100 }, 0);
  for (let now = 25; now <= 10_000; now += 25) {
    keepalive.activity();
    assert.equal(keepalive.check(now), undefined, `at ${now}`);
  }
  assert.equal(keepalive.check(10_099), undefined);
  assert.equal(keepalive.check(10_100), "ping");
});

Deno.test("Keepalive returns nothing after a ping until pongTimeout passes, then timeout", () => {
  const keepalive = new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0);
  assert.equal(keepalive.check(1000), "ping");
  assert.deepEqual(checks(keepalive, [1000, 1200, 1499]), [undefined, undefined, undefined]);
  assert.equal(keepalive.check(1500), "timeout");
});

Deno.test("Keepalive sends one ping per interval, not one per check while the pong is awaited", () => {
  const keepalive = new Keepalive({ pingInterval: 100, pongTimeout: 1000 }, 0);
  const actions = checks(keepalive, [100, 200, 300, 400, 500, 600, 700, 800, 900, 1099]);
  assert.deepEqual(actions.filter((action) => action === "ping"), ["ping"]);
  assert.equal(actions[0], "ping");
  assert.equal(keepalive.check(1100), "timeout");
});

Deno.test("Keepalive counts the pong timeout from the check that pinged", () => {
  const keepalive = new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0);
  assert.equal(keepalive.check(1300), "ping"); // a late check
  assert.equal(keepalive.check(1799), undefined);
  assert.equal(keepalive.check(1800), "timeout");
});

Deno.test("Keepalive activity other than a pong does not cancel the pong deadline", () => {
  // pongTimeout: give up "if the pong does not arrive" in time.
  const keepalive = new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0);
  assert.equal(keepalive.check(1000), "ping");
  keepalive.activity();
  assert.equal(keepalive.check(1200), undefined);
  keepalive.activity();
  assert.equal(keepalive.check(1500), "timeout");
});

Deno.test("Keepalive pong cancels the deadline and the next ping waits a full interval", () => {
  const keepalive = new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0);
  assert.equal(keepalive.check(1000), "ping");
  keepalive.pong();
  assert.equal(keepalive.check(1100), undefined);
  assert.equal(keepalive.check(1500), undefined, "no timeout after the pong");
  assert.equal(keepalive.check(2099), undefined);
  assert.equal(keepalive.check(2100), "ping");
  // The second ping has a deadline of its own.
  assert.equal(keepalive.check(2599), undefined);
  assert.equal(keepalive.check(2600), "timeout");
});

Deno.test("Keepalive pong that arrives before the deadline's check still cancels it", () => {
  const answered = new Keepalive({ pingInterval: 1000 }, 0);
  assert.equal(answered.check(1000), "ping");
  answered.pong();
  assert.equal(answered.check(1999), undefined);
  assert.equal(answered.check(2000), undefined, "not a timeout: the pong came");
});

Deno.test("Keepalive pongTimeout defaults to pingInterval", () => {
  const keepalive = new Keepalive({ pingInterval: 1000 }, 0);
  assert.equal(keepalive.pingInterval, 1000);
  assert.equal(keepalive.pongTimeout, 1000);
  assert.equal(keepalive.check(1000), "ping");
  assert.equal(keepalive.check(1999), undefined);
  assert.equal(keepalive.check(2000), "timeout");
  assert.equal(new Keepalive({ pingInterval: 700, pongTimeout: undefined }, 0).pongTimeout, 700);
});

Deno.test("Keepalive keeps the given pingInterval and pongTimeout", () => {
  const keepalive = new Keepalive({ pingInterval: 30_000, pongTimeout: 5_000 }, 0);
  assert.equal(keepalive.pingInterval, 30_000);
  assert.equal(keepalive.pongTimeout, 5_000);
});

Deno.test("Keepalive period is a quarter of the shorter of the two times", () => {
  assert.equal(new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0).period, 125);
  assert.equal(new Keepalive({ pingInterval: 400, pongTimeout: 2000 }, 0).period, 100);
  assert.equal(new Keepalive({ pingInterval: 1000 }, 0).period, 250);
  assert.equal(new Keepalive({ pingInterval: 10, pongTimeout: 6 }, 0).period, 1.5);
});

Deno.test("Keepalive period is at least 1 millisecond", () => {
  assert.equal(new Keepalive({ pingInterval: 1 }, 0).period, 1);
  assert.equal(new Keepalive({ pingInterval: 3 }, 0).period, 1);
  assert.equal(new Keepalive({ pingInterval: 1000, pongTimeout: 2 }, 0).period, 1);
});

Deno.test("Keepalive refuses a pingInterval of 0, -5, NaN or 1.5 with RangeError naming it", () => {
  for (const pingInterval of [0, -5, NaN, 1.5]) {
    assert.throws(
      () => new Keepalive({ pingInterval }, 0),
      (error) =>
        error instanceof RangeError &&
        error.message ===
          `Cannot create keepalive: keepalive.pingInterval must be a whole number, 1 or more (or Infinity), got ${pingInterval}`,
      String(pingInterval),
    );
  }
});

Deno.test("Keepalive refuses a pongTimeout of 0, -1, NaN or 2.5 with RangeError naming it", () => {
  for (const pongTimeout of [0, -1, NaN, 2.5]) {
    assert.throws(
      () => new Keepalive({ pingInterval: 1000, pongTimeout }, 0),
      (error) =>
        error instanceof RangeError && error.message.includes("keepalive.pongTimeout") &&
        error.message.endsWith(`got ${pongTimeout}`),
      String(pongTimeout),
    );
  }
});
