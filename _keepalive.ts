// Copyright 2026 the Duplex authors. MIT license.
// The keepalive clock: one interval timer for every connection whose
// keepalive ticks at the same period, instead of one timer each; it stops
// when the last member leaves. What a tick decides (ping, or give up) is the
// codec's Keepalive; this only keeps time. Internal.

/** Something the clock ticks: a connection with a keepalive. */
export interface Ticking {
  /** Called every period with the time (`performance.now()`). */
  keepaliveTick(now: number): void;
}

/** One shared interval timer for every member of the same period. */
export class KeepaliveClock {
  static readonly #clocks = new Map<number, KeepaliveClock>();
  readonly #period: number;
  readonly #members = new Set<Ticking>();
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(period: number) {
    this.#period = period;
  }

  /**
   * Adds `member` to the clock of `period` milliseconds, starting it if needed.
   *
   * @returns The clock, to leave when the member ends.
   */
  static join(member: Ticking, period: number): KeepaliveClock {
    let clock = KeepaliveClock.#clocks.get(period);
    if (clock === undefined) {
      clock = new KeepaliveClock(period);
      KeepaliveClock.#clocks.set(period, clock);
    }
    clock.#members.add(member);
    clock.#timer ??= setInterval(() => clock.#tick(), period);
    return clock;
  }

  /** Removes `member`; the last one out stops the timer. */
  leave(member: Ticking): void {
    this.#members.delete(member);
    if (this.#members.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    KeepaliveClock.#clocks.delete(this.#period);
  }

  #tick(): void {
    const now = performance.now();
    for (const member of this.#members) member.keepaliveTick(now);
  }
}
