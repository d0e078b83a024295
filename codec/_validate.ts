// Copyright 2026 the Duplex authors. MIT license.
// Checks of option values, shared by the codec's constructors and the root's
// entry points, so that every entry point refuses a bad value the same way:
// at the call, with a message that names the option and what it accepts.
// Internal: not exported from codec/mod.ts.

/** A value as a message shows it: strings quoted, so `"1"` is not taken for `1`. */
function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** Refuses a value that is not a number with a TypeError. */
function number(name: string, value: unknown, what: string): number {
  if (typeof value !== "number") {
    throw new TypeError(`Cannot ${what}: ${name} must be a number, got ${show(value)}`);
  }
  return value;
}

/**
 * Checks that a limit is a positive whole number, or `Infinity` for none.
 *
 * @param name The option's name.
 * @param value Its value.
 * @param what What is being made, for the message.
 * @returns The value.
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is not positive and whole.
 */
export function positiveLimit(name: string, value: unknown, what = "decoder"): number {
  return wholeAtLeast(name, value, 1, `create ${what}`);
}

/**
 * Checks a size or count that may be zero: a whole number ≥ 0, or
 * `Infinity` for none.
 *
 * @param name The option's name.
 * @param value Its value.
 * @param what What is being done, for the message ("connect").
 * @returns The value.
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is negative or not whole.
 */
export function nonNegative(name: string, value: unknown, what: string): number {
  return wholeAtLeast(name, value, 0, what);
}

/**
 * Checks a whole number of at least `min` (or `Infinity`, for no limit).
 *
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is below `min` or not whole.
 */
export function wholeAtLeast(name: string, value: unknown, min: 0 | 1, what: string): number {
  const n = number(name, value, what);
  if (!(n >= min) || (n !== Infinity && !Number.isSafeInteger(n))) {
    throw new RangeError(
      `Cannot ${what}: ${name} must be a whole number, ${min} or more (or Infinity), got ${n}`,
    );
  }
  return n;
}

/** The longest a timer can wait (ms): setTimeout fires at once past it. */
export const MAX_DELAY = 2 ** 31 - 1;

/**
 * Checks a duration: a number from 0 (or above 0, with `positive`) to
 * the longest a timer can wait, in milliseconds or, with `seconds`, in
 * seconds. Fractions are allowed; `Infinity` is not (a timer would fire
 * at once).
 *
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is out of range.
 */
export function duration(
  name: string,
  value: unknown,
  what: string,
  unit: "ms" | "s" = "ms",
): number {
  const n = number(name, value, what);
  const max = unit === "ms" ? MAX_DELAY : Math.floor(MAX_DELAY / 1000);
  if (!(n >= 0 && n <= max)) {
    throw new RangeError(
      `Cannot ${what}: ${name} must be from 0 to ${max} ${
        unit === "ms" ? "milliseconds" : "seconds"
      }, got ${n}`,
    );
  }
  return n;
}

/**
 * Checks that a value is one of a few strings.
 *
 * @throws {TypeError} If it is not.
 */
export function oneOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  what: string,
): T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw new TypeError(
      `Cannot ${what}: ${name} must be ${allowed.map((a) => JSON.stringify(a)).join(" or ")}, got ${
        show(value)
      }`,
    );
  }
  return value as T;
}

/** The roles a codec object may play. */
const ROLES: readonly ("client" | "server")[] = ["client", "server"];

/**
 * Checks a role: `"client"` or `"server"`.
 *
 * @throws {TypeError} For anything else.
 */
export function checkRole(value: unknown, what: string): "client" | "server" {
  return oneOf("role", value, ROLES, `create ${what}`);
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

/**
 * Checks a whole number from `min` to `max`.
 *
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is outside the range or not whole.
 */
export function wholeBetween(
  name: string,
  value: unknown,
  min: number,
  max: number,
  what: string,
): number {
  const n = number(name, value, what);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(
      `Cannot ${what}: ${name} must be a whole number from ${min} to ${max}, got ${n}`,
    );
  }
  return n;
}

/**
 * Checks a boolean if given.
 *
 * @throws {TypeError} If it is given and not a boolean.
 */
export function optionalBoolean(name: string, value: unknown, what: string): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  throw new TypeError(`Cannot ${what}: ${name} must be a boolean, got ${show(value)}`);
}
