// Copyright 2026 the Duplex authors. MIT license.
// The keepalive clock: one timer for every connection whose keepalive ticks
// at the same period on the same clock, instead of one timer each; it stops
// when the last member leaves. What a tick decides (ping, or give up) is the
// codec's Keepalive; this only keeps time. Internal.
import type { Clock } from "./connection.ts";

/** Something the clock ticks: a connection with a keepalive. */
export interface Ticking {
  /** Called every period with the time on the clock. */
  keepaliveTick(now: number): void;
}

/** One shared timer for every member of the same period and clock. */
export class KeepaliveClock {
  static readonly #clocks = new Map<Clock, Map<number, KeepaliveClock>>();
  readonly #clock: Clock;
  readonly #period: number;
  readonly #members = new Set<Ticking>();
  #timer: unknown;

  private constructor(clock: Clock, period: number) {
    this.#clock = clock;
    this.#period = period;
  }

  /**
   * Adds `member` to the ticker of `period` milliseconds on `clock`,
   * starting it if needed.
   *
   * @returns The ticker, to leave when the member ends.
   */
  static join(member: Ticking, period: number, clock: Clock): KeepaliveClock {
    let periods = KeepaliveClock.#clocks.get(clock);
    if (periods === undefined) KeepaliveClock.#clocks.set(clock, periods = new Map());
    let ticker = periods.get(period);
    if (ticker === undefined) periods.set(period, ticker = new KeepaliveClock(clock, period));
    ticker.#members.add(member);
    if (ticker.#timer === undefined) ticker.#arm();
    return ticker;
  }

  /** Removes `member`; the last one out stops the timer. */
  leave(member: Ticking): void {
    this.#members.delete(member);
    if (this.#members.size > 0) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const periods = KeepaliveClock.#clocks.get(this.#clock)!;
    periods.delete(this.#period);
    if (periods.size === 0) KeepaliveClock.#clocks.delete(this.#clock);
  }

  // A timeout re-armed at each tick rather than an interval: a Clock has
  // timeouts only, and one timer per period costs nothing either way.
  #arm(): void {
    this.#timer = this.#clock.setTimeout(this.#tick, this.#period);
  }

  #tick = (): void => {
    this.#arm();
    const now = this.#clock.now();
    for (const member of this.#members) member.keepaliveTick(now);
  };
}
