// Copyright 2026 the Duplex authors. MIT license.
/**
 * Keepalive as a Sans-I/O decision: when to ping a quiet peer, and when a
 * missing pong means the peer is gone. The caller owns the clock: it reports
 * activity and pongs, and asks {@linkcode Keepalive.check} what to do at a
 * given time. Duplex's connections and its hub share this one rule.
 *
 * This module is browser-compatible.
 *
 * @module
 */

import { positiveLimit } from "./_validate.ts";

/** Keepalive settings: detect a silent peer and close the connection. */
export interface KeepaliveOptions {
  /** Send a ping after this many milliseconds in which nothing arrived from the peer. */
  pingInterval: number;
  /**
   * Give up on the peer (1006, with a `TimeoutError` `"PONG_TIMEOUT"`) if
   * the pong does not arrive within this many milliseconds. Default:
   * `pingInterval`.
   */
  pongTimeout?: number | undefined;
}

/** What {@linkcode Keepalive.check} asks of the caller. */
export type KeepaliveAction = "ping" | "timeout" | undefined;

/**
 * One connection's keepalive. Anything that arrives counts as a sign of
 * life (RFC 6455 §5.5.2: a ping "may serve either as a keepalive or as a
 * means to verify that the remote endpoint is still responsive"), so a busy
 * connection is never pinged. Activity is a flag, not a timestamp, so that
 * noting it costs nothing on the read path; {@linkcode Keepalive.check}
 * turns it into a time.
 *
 * @example
 * ```ts
 * import { Keepalive } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const keepalive = new Keepalive({ pingInterval: 1000, pongTimeout: 500 }, 0);
 * assert.equal(keepalive.check(999), undefined);
 * assert.equal(keepalive.check(1000), "ping"); // quiet for a second
 * assert.equal(keepalive.check(1400), undefined); // waiting for the pong
 * assert.equal(keepalive.check(1500), "timeout");
 *
 * const answered = new Keepalive({ pingInterval: 1000 }, 0);
 * answered.check(1000);
 * answered.pong();
 * assert.equal(answered.check(1999), undefined);
 * ```
 */
export class Keepalive {
  /** Milliseconds without activity before a ping. */
  readonly pingInterval: number;
  /** Milliseconds a ping waits for its pong. */
  readonly pongTimeout: number;
  /** How often to call {@linkcode Keepalive.check}, in milliseconds: fine enough for both times. */
  readonly period: number;
  #active = false;
  #lastActive: number;
  #pongDeadline = 0;

  /**
   * Starts keeping a connection alive.
   *
   * @param options The ping interval and pong timeout.
   * @param now The current time, in milliseconds, on the caller's clock.
   * @throws {RangeError} If an interval is not a positive whole number.
   */
  constructor(options: KeepaliveOptions, now: number) {
    this.pingInterval = positiveLimit("keepalive.pingInterval", options.pingInterval, "keepalive");
    this.pongTimeout = positiveLimit(
      "keepalive.pongTimeout",
      options.pongTimeout ?? options.pingInterval,
      "keepalive",
    );
    this.period = periodOf(this.pingInterval, this.pongTimeout);
    this.#lastActive = now;
  }

  /** Notes that something arrived from the peer. */
  activity(): void {
    this.#active = true;
  }

  /** Notes that a pong arrived: the peer is alive. */
  pong(): void {
    this.#active = true;
    this.#pongDeadline = 0;
  }

  /**
   * What to do now: `"ping"` (send one; its pong is then awaited),
   * `"timeout"` (no pong in time: give up on the peer), or nothing.
   *
   * @param now The current time, on the clock given to the constructor.
   * @returns The action.
   */
  check(now: number): KeepaliveAction {
    if (this.#active) {
      this.#active = false;
      this.#lastActive = now;
    }
    if (this.#pongDeadline !== 0) return now >= this.#pongDeadline ? "timeout" : undefined;
    if (now - this.#lastActive < this.pingInterval) return undefined;
    this.#pongDeadline = now + this.pongTimeout;
    return "ping";
  }
}

/** A quarter of the shorter time: a ping or timeout is at most that late. */
function periodOf(pingInterval: number, pongTimeout: number): number {
  return Math.max(1, Math.min(pingInterval, pongTimeout) / 4);
}
