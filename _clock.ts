// Copyright 2026 the Duplex authors. MIT license.
// The system's clock, the default of every `clock` option: performance.now()
// and the global timers. Internal: the public face is `Clock` in
// connection.ts.
import type { Clock } from "./connection.ts";

/** `performance.now()` and the global timers. */
export const SYSTEM_CLOCK: Clock = Object.freeze({
  now: (): number => performance.now(),
  setTimeout: (callback: () => void, delay: number): unknown => setTimeout(callback, delay),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as number),
});

/**
 * Lets the process exit while only this timer is pending, if it is a system
 * timer (another clock's timers are its own business).
 */
export function unrefTimer(clock: Clock, handle: unknown): void {
  if (clock === SYSTEM_CLOCK) Deno.unrefTimer(handle as number);
}
