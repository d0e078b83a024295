// Copyright 2026 the Duplex authors. MIT license.
// Checks of option values, shared by the codec's constructors and the root's
// entry points, so that every entry point refuses a bad value the same way:
// at the call, with a message that names the option and what it accepts.
// Internal: not exported from codec/mod.ts.

/**
 * Checks that a limit is a positive whole number, or `Infinity` for none.
 *
 * @param name The option's name.
 * @param value Its value.
 * @param what What is being made, for the message.
 * @returns The value.
 * @throws {RangeError} If it is not.
 */
export function positiveLimit(name: string, value: number, what = "decoder"): number {
  if (!(value > 0) || (value !== Infinity && !Number.isSafeInteger(value))) {
    throw new RangeError(
      `Cannot create ${what}: ${name} must be positive and whole (or Infinity), got ${value}`,
    );
  }
  return value;
}

/**
 * Checks a duration or size that may be zero: a whole number ≥ 0, or
 * `Infinity` for none.
 *
 * @param name The option's name.
 * @param value Its value.
 * @param what What is being made, for the message.
 * @returns The value.
 * @throws {RangeError} If it is not.
 */
export function nonNegative(name: string, value: number, what: string): number {
  if (!(value >= 0) || (value !== Infinity && !Number.isSafeInteger(value))) {
    throw new RangeError(
      `Cannot ${what}: ${name} must be 0 or more and whole (or Infinity), got ${value}`,
    );
  }
  return value;
}

/**
 * Checks an `allowedOrigins` value: an array of strings or a function. A
 * string would otherwise match its substrings.
 *
 * @throws {TypeError} For anything else.
 */
export function checkOriginPolicy(allowed: unknown): void {
  if (typeof allowed === "function") return;
  if (!Array.isArray(allowed) || !allowed.every((entry) => typeof entry === "string")) {
    throw new TypeError(
      "Cannot use allowedOrigins: it must be an array of origins or a function",
    );
  }
}
