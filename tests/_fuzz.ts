// Copyright 2026 the Duplex authors. MIT license.
// Seeded, bounded fuzzing of the Sans-I/O codec: FrameDecoder, Protocol (both
// roles, with and without permessage-deflate) and the HTTP/1.1 readers
// (HttpHeadReader, parseRequestHead, parseResponseHead, bodyFraming,
// BodyDecoder, then acceptUpgrade or validateUpgradeResponse).
//
// Each case is valid traffic (for the Protocol, also traffic that a sending
// Protocol made), valid traffic with one rule broken on purpose, valid
// traffic with its bytes mutated, or random bytes. Each input is fed to
// fresh instances in one piece, one byte at a time, at every split point (for
// short inputs) and at random splits, and, where the API has one, through the
// zero-copy receive target. Every feeding must describe the same outcome:
// events and the bytes the Protocol wants to send, frames and the error for
// FrameDecoder, the head, body and rest or the error's code and status for
// HTTP. The codec may throw only its typed errors, where its contract says it
// does; anything else is a crash. Valid traffic must decode to what was
// encoded, and a broken rule must fail with its code.
//
// fuzz_test.ts runs this on a short budget; fuzz.ts runs it for as long as
// asked. A failure names the seed and the case, and shows the input shrunk
// to the fewest bytes that still fail.

import {
  acceptDeflateResponse,
  acceptKeySync,
  acceptUpgrade,
  BodyDecoder,
  type BodyFraming,
  bodyFraming,
  buildUpgradeRequest,
  type CompressionOptions,
  deflateOffer,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
  HandshakeError,
  type HttpHeadLimits,
  HttpHeadReader,
  type MessageCompressor,
  parseExtensions,
  parseRequestHead,
  parseResponseHead,
  PerMessageDeflate,
  PreparedMessage,
  Protocol,
  ProtocolError,
  type ProtocolEvent,
  type ProtocolOptions,
  rejectUpgrade,
  type Role,
  serializeResponseHead,
  type ServerHandshakeOptions,
  validateUpgradeResponse,
} from "../codec/mod.ts";
import { zlibEngine } from "../_deflate.ts";
import { concat, random, randomBytes, randomInt } from "./_util.ts";

// Public API ----------------------------------------------------------------

/** What to fuzz: the frame decoder, the protocol state machine, or HTTP/1.1. */
export type FuzzTarget = "frame" | "protocol" | "http";

/** Every target, in the order a run takes turns between them. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = ["frame", "protocol", "http"];

/** Options for {@linkcode fuzz}. */
export interface FuzzOptions {
  /** The run's seed: the same seed makes the same cases. */
  seed: number;
  /** The targets to take turns between. Default: all. */
  targets?: readonly FuzzTarget[];
  /** Stop after this many cases. Default: 300, or no limit when `seconds` is given. */
  iterations?: number;
  /** Stop after this many seconds. Default: no limit. */
  seconds?: number;
  /** Called about every `progressInterval` milliseconds. */
  onProgress?: (progress: FuzzProgress) => void;
  /** How often to call `onProgress`, in milliseconds. Default 1000. */
  progressInterval?: number;
  /** Called before each case, with what replays it (a watchdog can record it). */
  onCase?: (target: FuzzTarget, caseSeed: number, index: number) => void;
}

/** How far a run has got. */
export interface FuzzProgress {
  /** The run's seed. */
  seed: number;
  /** Cases run. */
  cases: number;
  /** Cases run, per target. */
  byTarget: Record<FuzzTarget, number>;
  /** Inputs fed to fresh instances, over all cases and feedings. */
  feedings: number;
  /** Milliseconds since the run started. */
  elapsed: number;
  /** The slowest case so far. */
  slowest: SlowCase | undefined;
}

/** What a completed run did. */
export type FuzzReport = FuzzProgress;

/** The slowest case of a run, to replay with {@linkcode fuzzCase}. */
export interface SlowCase {
  /** Its target. */
  target: FuzzTarget;
  /** Its seed. */
  caseSeed: number;
  /** What kind of input it was. */
  kind: string;
  /** How long its feedings took, in milliseconds. */
  ms: number;
}

/** A case that failed: the codec crashed, broke its contract, or depended on the split. */
export class FuzzFailure extends Error {
  /** The run's seed, when the case came from {@linkcode fuzz}. */
  readonly seed: number | undefined;
  /** The case's target. */
  readonly target: FuzzTarget;
  /** The case's seed: `fuzzCase(target, caseSeed)` replays it. */
  readonly caseSeed: number;
  /** The case's index in its run. */
  readonly index: number | undefined;
  /** The (shrunk) input that fails. */
  readonly input: Uint8Array;
  /** The description of the failure and how to reproduce it. */
  readonly reproduction: string;

  /**
   * Creates a failure.
   *
   * @param details The case, its input and the report.
   */
  constructor(details: {
    seed: number | undefined;
    target: FuzzTarget;
    caseSeed: number;
    index: number | undefined;
    input: Uint8Array;
    reproduction: string;
    cause?: unknown;
  }) {
    super(details.reproduction, details.cause === undefined ? {} : { cause: details.cause });
    this.name = "FuzzFailure";
    this.seed = details.seed;
    this.target = details.target;
    this.caseSeed = details.caseSeed;
    this.index = details.index;
    this.input = details.input;
    this.reproduction = details.reproduction;
  }
}

/**
 * Runs seeded cases, taking turns between the targets, until the iterations
 * or the seconds run out.
 *
 * @param options The seed, the targets and the budget.
 * @returns What the run did.
 * @throws {FuzzFailure} For the first case that fails, with its seed and a shrunk input.
 */
export function fuzz(options: FuzzOptions): FuzzReport {
  const targets = options.targets ?? FUZZ_TARGETS;
  if (targets.length === 0) throw new RangeError("Cannot fuzz: no targets");
  const iterations = options.iterations ?? (options.seconds === undefined ? 300 : Infinity);
  const start = performance.now();
  const deadline = options.seconds === undefined ? Infinity : start + options.seconds * 1000;
  const interval = options.progressInterval ?? 1000;
  const seeds = random(options.seed);
  const progress: FuzzProgress = {
    seed: options.seed,
    cases: 0,
    byTarget: { frame: 0, protocol: 0, http: 0 },
    feedings: 0,
    elapsed: 0,
    slowest: undefined,
  };
  let lastReport = start;
  for (let index = 0; index < iterations; index++) {
    const now = performance.now();
    if (now >= deadline) break;
    if (options.onProgress !== undefined && now - lastReport >= interval) {
      lastReport = now;
      options.onProgress({ ...progress, elapsed: now - start });
    }
    const target = targets[index % targets.length]!;
    const caseSeed = Math.floor(seeds() * 2 ** 32);
    options.onCase?.(target, caseSeed, index);
    const began = performance.now();
    const result = runCase(target, caseSeed, options.seed, index);
    const ms = performance.now() - began;
    progress.cases++;
    progress.byTarget[target]++;
    progress.feedings += result.feedings;
    if (progress.slowest === undefined || ms > progress.slowest.ms) {
      progress.slowest = { target, caseSeed, kind: result.kind, ms };
    }
  }
  progress.elapsed = performance.now() - start;
  return progress;
}

/**
 * Runs one case again, as a failure report names it.
 *
 * @param target The case's target.
 * @param caseSeed The case's seed.
 * @returns How many feedings the case made, and what kind of input it was.
 * @throws {FuzzFailure} If the case fails.
 */
export function fuzzCase(
  target: FuzzTarget,
  caseSeed: number,
): { feedings: number; kind: string } {
  return runCase(target, caseSeed, undefined, undefined);
}

// The engine ----------------------------------------------------------------

/** The codec threw something its contract does not allow. */
class Crash extends Error {
  override name = "Crash";
}

/** The codec broke a promise its contract makes (an invariant). */
class Broken extends Error {
  override name = "Broken";
}

/** What one feeding observed. */
interface Outcome {
  /** Everything observed, canonical: every feeding of an input must give the same. */
  key: string;
  /** The part an expectation is checked against, one entry per event, frame or stage. */
  observed: string[];
}

/**
 * What a generated input must do. `exact`: observe exactly these entries.
 * `prefix` and `failWith`: observe these entries first, then only entries
 * that `between` allows, then an error whose code is one of `failWith`.
 */
type Expectation =
  | { exact: string[] }
  | { prefix: string[]; failWith: readonly string[]; between: (entry: string) => boolean };

/** One generated case. */
interface Case {
  /** What the input is, such as `"valid"` or `"broken:reserved-opcode"`. */
  kind: string;
  /** The options the instances are made with, for the report. */
  config: unknown;
  /** The bytes. */
  input: Uint8Array;
  /** What the input must do, when the generator knows. */
  expect: Expectation | undefined;
  /** Whether the API can be fed through a receive target too. */
  hasTarget: boolean;
  /** Feeds the pieces to fresh instances and describes what happened. */
  run(pieces: Uint8Array[], useTarget: boolean): Outcome;
}

/** One way of feeding an input. */
interface Feeding {
  name: string;
  cuts: number[];
  useTarget: boolean;
}

interface Problem {
  kind: "crash" | "broken" | "disagree" | "expectation" | "harness";
  message: string;
  feeding: Feeding;
  cause?: unknown;
  /** For a disagreement: what the first feeding observed, and what this one did. */
  keys?: [string, string];
}

const GENERATORS: Record<FuzzTarget, (next: () => number) => Case> = {
  frame: frameCase,
  protocol: protocolCase,
  http: httpCase,
};

function runCase(
  target: FuzzTarget,
  caseSeed: number,
  seed: number | undefined,
  index: number | undefined,
): { feedings: number; kind: string } {
  const next = random(caseSeed);
  let c: Case;
  try {
    c = GENERATORS[target](next);
  } catch (error) {
    // A promise the codec broke while the case was made (the sending side of
    // an exchange), or a bug of the generator: reported with the seed.
    throw new FuzzFailure({
      seed,
      target,
      caseSeed,
      index,
      input: new Uint8Array(0),
      reproduction: [
        `${target} case ${hex32(caseSeed)}${
          seed === undefined ? "" : ` (DUPLEX_SEED=${seed}, case #${index})`
        }: making the case threw ${describeError(error)}`,
        `  replay: deno task fuzz --target ${target} --case ${hex32(caseSeed)}`,
      ].join("\n"),
      cause: error,
    });
  }
  const feedingSeed = Math.floor(next() * 2 ** 32);
  const result = check(c, c.input, feedingSeed);
  let problem = result.problem;
  if (problem === undefined && c.expect !== undefined) {
    const mismatch = meets(c.expect, result.first!.observed);
    if (mismatch !== undefined) {
      problem = {
        kind: "expectation",
        message: mismatch,
        feeding: FEED_WHOLE,
      };
    }
  }
  if (problem === undefined) return { feedings: result.feedings, kind: c.kind };
  throw failure(c, target, caseSeed, seed, index, feedingSeed, problem);
}

const FEED_WHOLE: Feeding = { name: "in one piece", cuts: [], useTarget: false };

/** Feeds `input` every way, comparing the outcomes. */
function check(
  c: Case,
  input: Uint8Array,
  feedingSeed: number,
): { problem: Problem | undefined; first: Outcome | undefined; feedings: number } {
  const feedings = feedingsFor(input.length, feedingSeed, c.hasTarget);
  let first: Outcome | undefined;
  let count = 0;
  for (const feeding of feedings) {
    let outcome: Outcome;
    count++;
    try {
      outcome = c.run(split(input, feeding.cuts), feeding.useTarget);
    } catch (error) {
      const kind = error instanceof Broken
        ? "broken"
        : error instanceof Crash
        ? "crash"
        : "harness";
      return {
        problem: { kind, message: describeError(error), feeding, cause: error },
        first,
        feedings: count,
      };
    }
    if (first === undefined) {
      first = outcome;
    } else if (outcome.key !== first.key) {
      return {
        problem: {
          kind: "disagree",
          message: "the outcome differs from the one fed in one piece",
          feeding,
          keys: [first.key, outcome.key],
        },
        first,
        feedings: count,
      };
    }
  }
  return { problem: undefined, first, feedings: count };
}

/** The ways to feed an input of `length` bytes. */
function feedingsFor(length: number, seed: number, hasTarget: boolean): Feeding[] {
  const next = random(seed);
  const feedings: Feeding[] = [FEED_WHOLE];
  if (length < 2) return feedings;
  const everyByte = Array.from({ length: length - 1 }, (_, i) => i + 1);
  if (length <= 16 * 1024) {
    feedings.push({ name: "one byte at a time", cuts: everyByte, useTarget: false });
  } else {
    feedings.push({
      name: "in pieces of 1-3 bytes",
      cuts: chopCuts(next, length, 3),
      useTarget: false,
    });
  }
  if (length <= 24) {
    for (let at = 1; at < length; at++) {
      feedings.push({ name: `split at ${at}`, cuts: [at], useTarget: false });
    }
  }
  for (let i = 0; i < 3; i++) {
    const cuts = randomCuts(next, length, randomInt(next, 1, Math.min(8, length - 1)));
    feedings.push({ name: `split at ${cuts.join(", ")}`, cuts, useTarget: false });
  }
  const piece = randomInt(next, 2, 64);
  feedings.push({
    name: `in random pieces of 1-${piece} bytes`,
    cuts: chopCuts(next, length, piece),
    useTarget: false,
  });
  if (hasTarget) {
    feedings.push({ name: "in one piece, through receive targets", cuts: [], useTarget: true });
    const cuts = randomCuts(next, length, randomInt(next, 1, Math.min(6, length - 1)));
    feedings.push({
      name: `split at ${cuts.join(", ")}, through receive targets`,
      cuts,
      useTarget: true,
    });
    if (length <= 4096) {
      feedings.push({
        name: "one byte at a time, through receive targets",
        cuts: everyByte,
        useTarget: true,
      });
    }
  }
  return feedings;
}

function randomCuts(next: () => number, length: number, count: number): number[] {
  const cuts = new Set<number>();
  for (let i = 0; i < count; i++) cuts.add(randomInt(next, 1, length - 1));
  return [...cuts].sort((a, b) => a - b);
}

function chopCuts(next: () => number, length: number, maxPiece: number): number[] {
  const cuts: number[] = [];
  for (let at = randomInt(next, 1, maxPiece); at < length; at += randomInt(next, 1, maxPiece)) {
    cuts.push(at);
  }
  return cuts;
}

/** Fresh copies of the pieces between the cuts: each feeding owns its bytes. */
function split(input: Uint8Array, cuts: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const cut of cuts) {
    pieces.push(input.slice(from, cut));
    from = cut;
  }
  pieces.push(input.slice(from));
  return pieces;
}

/** Whether `observed` meets `expect`; a description of the mismatch if not. */
function meets(expect: Expectation, observed: string[]): string | undefined {
  const show = (entries: string[]) => JSON.stringify(entries, null, 1).slice(0, 3000);
  if ("exact" in expect) {
    if (JSON.stringify(observed) === JSON.stringify(expect.exact)) return undefined;
    return `valid input, wrong outcome:\n  expected ${show(expect.exact)}\n  observed ${
      show(observed)
    }`;
  }
  const { prefix, failWith, between } = expect;
  const mismatch = (why: string) =>
    `${why}:\n  expected ${show(prefix)} then an error with code ${
      failWith.join(" or ")
    }\n  observed ${show(observed)}`;
  for (let i = 0; i < prefix.length; i++) {
    if (observed[i] !== prefix[i]) return mismatch(`entry ${i} differs`);
  }
  let i = prefix.length;
  while (i < observed.length && !observed[i]!.startsWith("error:") && between(observed[i]!)) i++;
  const entry = observed[i];
  if (entry === undefined || !entry.startsWith("error:")) {
    return mismatch("no error where expected");
  }
  const code = entry.split(":")[2]!;
  if (!failWith.includes(code)) return mismatch(`the error is ${code}`);
  return undefined;
}

function failure(
  c: Case,
  target: FuzzTarget,
  caseSeed: number,
  seed: number | undefined,
  index: number | undefined,
  feedingSeed: number,
  problem: Problem,
): FuzzFailure {
  let input = c.input;
  // Shrink crashes, broken promises and disagreements; an expectation holds
  // only for the input as generated.
  if (problem.kind !== "expectation") {
    input = shrink(c, input, feedingSeed, problem.kind);
    problem = check(c, input, feedingSeed).problem ?? problem;
  }
  const lines = [
    `${target} case ${hex32(caseSeed)}${
      seed === undefined ? "" : ` (DUPLEX_SEED=${seed}, case #${index})`
    }, ${c.kind}: ${problemTitle(problem)}`,
    `  options: ${JSON.stringify(c.config)}`,
    `  input (${input.length} bytes${
      input.length === c.input.length ? "" : `, shrunk from ${c.input.length}`
    }): ${toHex(input, 600)}`,
    `  fed ${problem.feeding.name}`,
    `  ${problem.message}`,
  ];
  if (problem.keys !== undefined) {
    const [a, b] = problem.keys;
    let at = 0;
    while (at < a.length && a[at] === b[at]) at++;
    const from = Math.max(0, at - 160);
    lines.push(`  in one piece: …${a.slice(from, at + 240)}`);
    lines.push(`  ${problem.feeding.name}: …${b.slice(from, at + 240)}`);
  }
  if (problem.cause instanceof Error && problem.cause.stack !== undefined) {
    const cause = problem.cause.cause instanceof Error ? problem.cause.cause : problem.cause;
    lines.push(`  stack: ${cause.stack!.split("\n").slice(0, 8).join("\n    ")}`);
  }
  lines.push(
    `  replay: deno task fuzz --target ${target} --case ${hex32(caseSeed)}` +
      `   (or fuzzCase("${target}", ${hex32(caseSeed)}) from tests/_fuzz.ts)`,
  );
  return new FuzzFailure({
    seed,
    target,
    caseSeed,
    index,
    input,
    reproduction: lines.join("\n"),
    cause: problem.cause,
  });
}

function problemTitle(problem: Problem): string {
  switch (problem.kind) {
    case "crash":
      return "the codec threw an error its contract does not allow";
    case "broken":
      return "the codec broke a promise of its contract";
    case "disagree":
      return "the outcome depends on how the bytes were split";
    case "expectation":
      return "the outcome is not what the input must give";
    case "harness":
      return "an error outside any codec call: a bug in tests/_fuzz.ts itself?";
  }
}

/** Removes bytes while the failure of this kind persists (a bounded delta debugging). */
function shrink(c: Case, input: Uint8Array, feedingSeed: number, kind: string): Uint8Array {
  let best = input;
  let budget = 300;
  let size = Math.max(1, best.length >> 1);
  while (budget > 0) {
    let removed = false;
    for (let at = 0; at < best.length && budget > 0;) {
      const candidate = concat(best.subarray(0, at), best.subarray(at + size));
      budget--;
      const problem = check(c, candidate, feedingSeed).problem;
      if (problem !== undefined && problem.kind === kind) {
        best = candidate;
        removed = true;
      } else {
        at += size;
      }
    }
    if (!removed) {
      if (size === 1) break;
      size >>= 1;
    }
  }
  return best;
}

// Descriptions --------------------------------------------------------------

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, "0")}`;
}

function toHex(bytes: Uint8Array, max = Infinity): string {
  let text = "";
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) {
    text += (i === 0 ? "" : " ") + bytes[i]!.toString(16).padStart(2, "0");
  }
  return bytes.length > n ? `${text} … (${bytes.length - n} more)` : text;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fnv(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return (hash >>> 0).toString(16);
}

/** Bytes, short: in hex up to 24 bytes, else length, hash and head. */
function describeBytes(bytes: Uint8Array): string {
  if (bytes.length <= 24) return `[${toHex(bytes)}]`;
  return `[${bytes.length}B #${fnv(bytes)} ${toHex(bytes.subarray(0, 6))} …]`;
}

function describeText(text: string): string {
  if (text.length <= 40) return JSON.stringify(text);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return `${JSON.stringify(text.slice(0, 12))}…(${text.length}c #${(hash >>> 0).toString(16)})`;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `a non-error value ${String(error)}`;
  const code = (error as { code?: unknown }).code;
  const detail = error.cause instanceof Error ? ` (cause: ${describeError(error.cause)})` : "";
  return `${error.name}${code === undefined ? "" : ` ${String(code)}`}: ${error.message}${detail}`;
}

/** The parts of a frame that a description shows. */
type FrameLike = Omit<Frame, "opcode"> & { opcode: number };

function describeFrame(frame: FrameLike): string {
  const bits = `${frame.fin ? "F" : "-"}${frame.rsv1 ? "1" : "-"}${frame.rsv2 ? "2" : "-"}${
    frame.rsv3 ? "3" : "-"
  }`;
  return `frame:${frame.opcode}:${bits}:${describeBytes(frame.payload)}`;
}

// Typed errors --------------------------------------------------------------

const PROTOCOL_CLOSE_CODES = new Set([1002, 1007, 1008, 1009]);

/** `error` if it is a well-formed ProtocolError; a Crash otherwise. */
function protocolErrorOf(error: unknown, where: string): ProtocolError {
  if (
    error instanceof ProtocolError && typeof error.code === "string" && error.code !== "" &&
    PROTOCOL_CLOSE_CODES.has(error.closeCode)
  ) {
    return error;
  }
  throw new Crash(`${where} threw ${describeError(error)}`, { cause: error });
}

/** `error` if it is a well-formed HandshakeError with one of `statuses`; a Crash otherwise. */
function handshakeErrorOf(
  error: unknown,
  where: string,
  statuses: (status: number) => boolean,
): HandshakeError {
  if (
    error instanceof HandshakeError && typeof error.code === "string" && error.code !== "" &&
    statuses(error.status)
  ) {
    return error;
  }
  throw new Crash(`${where} threw ${describeError(error)}`, { cause: error });
}

/** Runs `fn`, turning anything it throws into a Crash naming `where`. */
function safely<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof Crash || error instanceof Broken) throw error;
    throw new Crash(`${where} threw ${describeError(error)}`, { cause: error });
  }
}

function promise(condition: boolean, message: string): void {
  if (!condition) throw new Broken(message);
}

// Random values -------------------------------------------------------------

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)]!;
}

function chance(next: () => number, p: number): boolean {
  return next() < p;
}

/** A size up to `max`, mostly small, often on a boundary of the length encodings. */
function randomSize(next: () => number, max: number): number {
  const r = next();
  let size: number;
  if (r < 0.4) size = randomInt(next, 0, 16);
  else if (r < 0.7) size = randomInt(next, 17, 200);
  else if (r < 0.82) size = pick(next, [124, 125, 126, 127, 128]);
  else if (r < 0.96) size = randomInt(next, 200, 3000);
  else if (r < 0.99) size = pick(next, [65535, 65536, 65537]);
  else size = randomInt(next, 65538, 140_000);
  return Math.min(size, max);
}

/** Text of about `bytes` bytes of UTF-8: ASCII and 2-, 3- and 4-byte characters. */
function randomText(next: () => number, bytes: number): string {
  let text = "";
  let size = 0;
  while (size < bytes) {
    const r = next();
    let code: number;
    let width: number;
    if (r < 0.6 || bytes - size < 4) {
      code = randomInt(next, 0x20, 0x7e);
      width = 1;
    } else if (r < 0.75) {
      code = randomInt(next, 0x80, 0x7ff);
      width = 2;
    } else if (r < 0.9) {
      code = randomInt(next, 0x800, 0xfffd);
      if (code >= 0xd800 && code <= 0xdfff) code = 0x20ac;
      width = 3;
    } else {
      code = randomInt(next, 0x10000, 0x10ffff);
      width = 4;
    }
    text += String.fromCodePoint(code);
    size += width;
  }
  return text;
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function latin1(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return bytes;
}

/** Splits `bytes` into `count` pieces at random points; pieces may be empty. */
function cutInto(next: () => number, bytes: Uint8Array, count: number): Uint8Array[] {
  const cuts = Array.from({ length: count - 1 }, () => randomInt(next, 0, bytes.length)).sort((
    a,
    b,
  ) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const cut of cuts) {
    pieces.push(bytes.subarray(from, cut));
    from = cut;
  }
  pieces.push(bytes.subarray(from));
  return pieces;
}

const INTERESTING_BYTES = [
  0x00,
  0x01,
  0x0a,
  0x0d,
  0x20,
  0x3a,
  0x7d,
  0x7e,
  0x7f,
  0x80,
  0x81,
  0x88,
  0x89,
  0x8a,
  0xc0,
  0xed,
  0xf4,
  0xfe,
  0xff,
];

/** Mutates bytes: flips, overwrites, truncates, inserts, deletes, duplicates. */
function mutateBytes(
  next: () => number,
  bytes: Uint8Array,
  other: () => Uint8Array,
): { bytes: Uint8Array; how: string[] } {
  let out = bytes;
  const how: string[] = [];
  const count = randomInt(next, 1, 3);
  for (let i = 0; i < count; i++) {
    const at = randomInt(next, 0, out.length);
    const op = pick(next, [
      "flip",
      "flip",
      "set",
      "set",
      "truncate",
      "insert",
      "delete",
      "duplicate",
      "splice",
    ]);
    how.push(op);
    switch (op) {
      case "flip":
        if (out.length === 0) break;
        out = out.slice();
        out[Math.min(at, out.length - 1)]! ^= 1 << randomInt(next, 0, 7);
        break;
      case "set":
        if (out.length === 0) break;
        out = out.slice();
        out[Math.min(at, out.length - 1)] = chance(next, 0.7)
          ? pick(next, INTERESTING_BYTES)
          : randomInt(next, 0, 255);
        break;
      case "truncate":
        out = out.slice(0, at);
        break;
      case "insert":
        out = concat(
          out.subarray(0, at),
          randomBytes(next, randomInt(next, 1, 16)),
          out.subarray(at),
        );
        break;
      case "delete":
        out = concat(out.subarray(0, at), out.subarray(at + randomInt(next, 1, 16)));
        break;
      case "duplicate": {
        const from = randomInt(next, 0, out.length);
        const piece = out.slice(from, from + randomInt(next, 1, 32));
        out = concat(out.subarray(0, at), piece, out.subarray(at));
        break;
      }
      case "splice": {
        const tail = other();
        out = concat(out.subarray(0, at), tail.subarray(randomInt(next, 0, tail.length)));
        break;
      }
    }
  }
  return { bytes: out, how };
}

// WebSocket traffic ---------------------------------------------------------

/** One frame to send, and what receiving it yields. */
interface FrameSpec {
  opcode: number;
  payload: Uint8Array;
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  mask: Uint8Array | null;
  /** Bytes to send instead of encoding the frame (a header announcing a huge length). */
  raw?: Uint8Array;
  /** What the receiver observes once this frame is complete. */
  yields: string[];
}

/** How traffic is made: for the frame decoder, or for the protocol (with meaning). */
interface TrafficOptions {
  layer: "frame" | "protocol";
  /** The receiver's role, which decides masking. */
  role: Role;
  /** Whether RSV1 (permessage-deflate) is allowed. */
  rsv1: boolean;
  maxMessageSize: number;
  maxFrameSize: number;
  maxFragments: number;
  /** For the protocol: whether a close frame received is the peer's initiative. */
  closedByPeer: boolean;
}

function encodeSpec(spec: FrameSpec): Uint8Array {
  if (spec.raw !== undefined) return spec.raw;
  return encodeFrame(spec.opcode, spec.payload, {
    fin: spec.fin,
    rsv1: spec.rsv1,
    rsv2: spec.rsv2,
    rsv3: spec.rsv3,
    mask: spec.mask ?? false,
  });
}

function encodeTraffic(specs: FrameSpec[]): Uint8Array {
  return concat(...specs.map(encodeSpec));
}

function maskFor(next: () => number, role: Role): Uint8Array | null {
  if (role === "client") return null;
  return chance(next, 0.1) ? new Uint8Array(4) : randomBytes(next, 4);
}

function spec(
  next: () => number,
  o: TrafficOptions,
  opcode: number,
  payload: Uint8Array,
  fields: Partial<FrameSpec> = {},
): FrameSpec {
  return {
    opcode,
    payload,
    fin: true,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    mask: maskFor(next, o.role),
    yields: [],
    ...fields,
  };
}

function withYield(s: FrameSpec, o: TrafficOptions, event: string): FrameSpec {
  s.yields = o.layer === "frame" ? [describeFrame(s)] : [event];
  return s;
}

function controlFrame(next: () => number, o: TrafficOptions): FrameSpec {
  const r = next();
  const size = r < 0.7 ? randomInt(next, 0, 20) : r < 0.9 ? randomInt(next, 21, 125) : 125;
  const payload = randomBytes(next, size);
  const opcode = chance(next, 0.6) ? 9 : 10;
  return withYield(
    spec(next, o, opcode, payload),
    o,
    `${opcode === 9 ? "ping" : "pong"}:${describeBytes(payload)}`,
  );
}

const VALID_CLOSE_CODES = [
  1000,
  1001,
  1002,
  1003,
  1007,
  1008,
  1009,
  1010,
  1011,
  1012,
  1013,
  1014,
  3000,
  4999,
];

function closeFrame(next: () => number, o: TrafficOptions): FrameSpec {
  if (o.layer === "frame") {
    const payload = randomBytes(next, randomInt(next, 0, 125));
    return withYield(spec(next, o, 8, payload), o, "");
  }
  if (chance(next, 0.2)) {
    return withYield(
      spec(next, o, 8, new Uint8Array(0)),
      o,
      `close:1005:"":true:${o.closedByPeer}`,
    );
  }
  const code = pick(next, VALID_CLOSE_CODES);
  let reason = randomText(next, chance(next, 0.2) ? 123 : randomInt(next, 0, 40));
  while (utf8(reason).length > 123) reason = [...reason].slice(0, -1).join("");
  if (chance(next, 0.5)) reason = reason.padEnd(reason.length + 123 - utf8(reason).length, "r");
  return withYield(
    spec(next, o, 8, encodeClosePayload(code, reason)),
    o,
    `close:${code}:${describeText(reason)}:true:${o.closedByPeer}`,
  );
}

// Generated traffic: each message compressed on its own (no context
// takeover), so that a message dropped or mutated leaves the others valid.
// A receiver with takeover reads them as well: they never refer back.
let deflater: ReturnType<typeof zlibEngine.deflater> | undefined;
function deflate(bytes: Uint8Array): Uint8Array {
  deflater ??= zlibEngine.deflater({ windowBits: 15, level: 1, memLevel: 8 });
  try {
    return deflater.deflate(bytes);
  } finally {
    deflater.reset();
  }
}

/**
 * One end's compressor, as PerMessageDeflate makes it for a session: 15-bit
 * windows both ways (what deflate() compresses with), level 1, context
 * takeover both ways or neither.
 */
function sessionCompressor(takeover: boolean): MessageCompressor {
  const options: CompressionOptions = {
    level: 1,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  if (!takeover) {
    options.serverNoContextTakeover = true;
    options.clientNoContextTakeover = true;
  }
  const offer = parseExtensions("permessage-deflate; client_max_window_bits");
  return new PerMessageDeflate(zlibEngine, options).acceptOffer(offer)!.compressor;
}

/**
 * A data message's frames: text or binary, maybe compressed, maybe
 * fragmented with control frames between the fragments.
 */
function dataMessage(
  next: () => number,
  o: TrafficOptions,
  content?: { text: boolean; bytes: Uint8Array; data: string },
): FrameSpec[] {
  const limit = Math.min(o.maxMessageSize, o.layer === "frame" ? o.maxFrameSize : Infinity);
  let text: boolean;
  let bytes: Uint8Array;
  let data: string;
  if (content !== undefined) {
    ({ text, bytes, data } = content);
  } else {
    text = chance(next, 0.5);
    const size = randomSize(next, limit);
    if (text && o.layer === "protocol") {
      let value = randomText(next, size);
      while (utf8(value).length > limit) value = [...value].slice(0, -1).join("");
      bytes = utf8(value);
      data = `text:${describeText(value)}`;
    } else {
      bytes = chance(next, 0.3)
        ? new Uint8Array(size).map((_, i) => i % 7)
        : randomBytes(next, size);
      data = `binary:${describeBytes(bytes)}`;
    }
  }
  let wire = bytes;
  let compressed = false;
  if (o.rsv1 && chance(next, 0.6)) {
    if (o.layer === "frame") {
      compressed = true;
    } else {
      const deflated = deflate(bytes);
      if (deflated.length <= o.maxMessageSize) {
        wire = deflated;
        compressed = true;
      }
    }
  }
  const most = Math.min(o.maxFragments, 6);
  let count = most < 2 || chance(next, 0.55) ? 1 : randomInt(next, 2, most);
  // A frame's payload must fit maxFrameSize (the frame layer's budget above keeps it so).
  const pieces = cutInto(next, wire, count);
  count = pieces.length;
  const specs: FrameSpec[] = [];
  pieces.forEach((piece, i) => {
    const last = i === count - 1;
    const s = spec(next, o, i === 0 ? (text ? 1 : 2) : 0, piece, {
      fin: last,
      rsv1: i === 0 && compressed,
    });
    specs.push(withYield(s, o, ""));
    if (o.layer === "protocol") s.yields = last ? [data] : [];
    if (!last && chance(next, 0.25)) specs.push(controlFrame(next, o));
  });
  return specs;
}

/** Valid traffic: messages, pings and pongs, maybe a close frame, maybe bytes after it. */
function traffic(next: () => number, o: TrafficOptions): FrameSpec[] {
  const specs: FrameSpec[] = [];
  const items = pick(next, [0, 1, 1, 2, 2, 3, 4, 6, 8]);
  for (let i = 0; i < items; i++) {
    const r = next();
    if (r < 0.65) specs.push(...dataMessage(next, o));
    else if (r < 0.9) specs.push(controlFrame(next, o));
    else if (o.layer === "frame") specs.push(closeFrame(next, o));
  }
  if (o.layer === "protocol" && chance(next, 0.4)) {
    specs.push(closeFrame(next, o));
    // RFC 6455 §5.5.1: nothing after a close frame is read.
    if (chance(next, 0.3)) {
      const after = chance(next, 0.5)
        ? [spec(next, o, 1, randomBytes(next, 5)), spec(next, o, 3, new Uint8Array(0))]
        : [];
      for (const s of after) specs.push(s);
      if (after.length === 0) {
        specs.push({ ...spec(next, o, 2, new Uint8Array(0)), raw: randomBytes(next, 20) });
      }
    }
  }
  return specs;
}

/** Where no data message is in progress, in front of each frame index. */
function boundaries(specs: FrameSpec[]): boolean[] {
  const at: boolean[] = [];
  let inMessage = false;
  for (const s of specs) {
    at.push(!inMessage);
    if (s.opcode < 8) inMessage = !s.fin;
  }
  at.push(!inMessage);
  return at;
}

const RESERVED_OPCODES = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15];
const INVALID_UTF8 = [
  [0xc0, 0x80], // overlong
  [0xed, 0xa0, 0x80], // a surrogate
  [0xf5, 0x80, 0x80, 0x80], // past U+10FFFF
  [0xff],
  [0x80], // a lone continuation byte
  [0xe2, 0x82, 0x41], // a sequence cut by ASCII
];
const INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

/** Traffic with one rule broken at frame `k`; the error it must fail with. */
function breakRule(
  next: () => number,
  o: TrafficOptions,
  all: FrameSpec[],
): { specs: FrameSpec[]; rule: string; failWith: string[]; at: number } | undefined {
  // The protocol reads nothing after a close frame: break a rule before it,
  // and keep the close and what follows it after the broken traffic.
  const closeAt = o.layer === "protocol" ? all.findIndex((s) => s.opcode === 8) : -1;
  const specs = closeAt < 0 ? all : all.slice(0, closeAt);
  const closing = closeAt < 0 ? [] : all.slice(closeAt);
  if (specs.length === 0) specs.push(...dataMessage(next, o));
  const broken = breakLive(next, o, specs);
  if (broken !== undefined) broken.specs.push(...closing);
  return broken;
}

function breakLive(
  next: () => number,
  o: TrafficOptions,
  specs: FrameSpec[],
): { specs: FrameSpec[]; rule: string; failWith: string[]; at: number } | undefined {
  const rules = [
    "reserved-opcode",
    "reserved-bits",
    "masking",
    "fragmented-control",
    "long-control",
    "orphan-continuation",
    "interleaved-message",
    "too-big",
    "huge-length",
    "too-many-fragments",
  ];
  if (o.layer === "protocol") rules.push("invalid-utf8", "invalid-utf8", "close-payload");
  const rule = pick(next, rules);
  const k = randomInt(next, 0, specs.length - 1);
  const at = boundaries(specs);
  const before = specs.slice(0, k);
  const target = { ...specs[k]! };
  const after = specs.slice(k + 1);
  const data = (s: FrameSpec) => s.opcode < 8;
  switch (rule) {
    case "reserved-opcode":
      target.opcode = pick(next, RESERVED_OPCODES);
      return {
        specs: [...before, target, ...after],
        rule,
        failWith: ["RESERVED_OPCODE", "RESERVED_BITS"],
        at: k,
      };
    case "reserved-bits": {
      const bit = pick(next, ["rsv2", "rsv3", "rsv1"] as const);
      if (bit === "rsv1" && o.rsv1 && data(target) && target.opcode !== 0) {
        target.rsv2 = true; // RSV1 is allowed there
      } else {
        target[bit] = true;
      }
      return { specs: [...before, target, ...after], rule, failWith: ["RESERVED_BITS"], at: k };
    }
    case "masking":
      target.mask = target.mask === null ? randomBytes(next, 4) : null;
      return {
        specs: [...before, target, ...after],
        rule,
        failWith: ["UNMASKED_FRAME", "MASKED_FRAME"],
        at: k,
      };
    case "fragmented-control": {
      const control = controlFrame(next, o);
      control.fin = false;
      return {
        specs: [...before, control, target, ...after],
        rule,
        failWith: ["FRAGMENTED_CONTROL_FRAME"],
        at: k,
      };
    }
    case "long-control": {
      const control = spec(
        next,
        o,
        pick(next, [8, 9, 10]),
        randomBytes(next, randomInt(next, 126, 300)),
      );
      return {
        specs: [...before, control, target, ...after],
        rule,
        failWith: ["CONTROL_FRAME_TOO_LONG"],
        at: k,
      };
    }
    case "orphan-continuation": {
      const free = at.flatMap((isFree, i) => isFree ? [i] : []);
      const j = pick(next, free);
      const cont = spec(next, o, 0, randomBytes(next, randomInt(next, 0, 10)), {
        fin: chance(next, 0.5),
      });
      return {
        specs: [...specs.slice(0, j), cont, ...specs.slice(j)],
        rule,
        failWith: ["UNEXPECTED_CONTINUATION"],
        at: j,
      };
    }
    case "interleaved-message": {
      const j = at.findIndex((free) => !free);
      if (j < 0) {
        // No fragmented message: make one, cut short by a new message.
        const first = spec(next, o, 1, randomBytes(next, 0), { fin: false });
        if (o.layer === "frame") withYield(first, o, "");
        const intruder = spec(next, o, 2, randomBytes(next, 3));
        return {
          specs: [...before, first, intruder],
          rule,
          failWith: ["EXPECTED_CONTINUATION"],
          at: k + 1,
        };
      }
      const intruder = spec(next, o, pick(next, [1, 2]), randomBytes(next, randomInt(next, 0, 10)));
      return {
        specs: [...specs.slice(0, j), intruder, ...specs.slice(j)],
        rule,
        failWith: ["EXPECTED_CONTINUATION"],
        at: j,
      };
    }
    case "too-big":
    case "huge-length": {
      const j = specs.findIndex((s, i) => i >= k && data(s));
      if (j < 0) return undefined;
      const victim = specs[j]!;
      const limit = Math.min(o.maxMessageSize, o.maxFrameSize);
      let length: bigint;
      let failWith: string[];
      if (rule === "too-big") {
        if (limit >= 2 ** 40) return undefined;
        length = BigInt(limit + randomInt(next, 1, 3));
        failWith = ["MESSAGE_TOO_BIG"];
      } else {
        const r = next();
        length = r < 0.4
          ? 1n << 63n
          : r < 0.7
          ? (1n << 53n) + BigInt(randomInt(next, 0, 8))
          : r < 0.85
          ? (1n << 64n) - 1n
          : BigInt(2 ** 53 - randomInt(next, 1, 2 ** 20));
        failWith = length >= 1n << 63n ? ["INVALID_LENGTH"] : ["MESSAGE_TOO_BIG"];
      }
      const raw = rawHeader(victim, length);
      const tail = randomBytes(next, randomInt(next, 0, 40));
      return {
        specs: [...specs.slice(0, j), { ...victim, raw: concat(raw, tail) }],
        rule,
        failWith,
        at: j,
      };
    }
    case "too-many-fragments": {
      if (o.maxFragments > 8 || !at[k]) return undefined;
      const frames: FrameSpec[] = [];
      for (let i = 0; i <= o.maxFragments; i++) {
        frames.push(spec(next, o, i === 0 ? 2 : 0, new Uint8Array(0), { fin: false }));
        if (o.layer === "frame") withYield(frames[i]!, o, "");
      }
      return {
        specs: [...before, ...frames],
        rule,
        failWith: ["TOO_MANY_FRAGMENTS"],
        at: k + o.maxFragments,
      };
    }
    case "invalid-utf8": {
      if (!at[k]) return undefined;
      const value = randomText(next, randomInt(next, 0, 60));
      const bytes = utf8(value);
      const bad = pick(next, INVALID_UTF8);
      // A character boundary: bad bytes cannot complete a character cut in two.
      let cut = randomInt(next, 0, bytes.length);
      while (cut < bytes.length && (bytes[cut]! & 0xc0) === 0x80) cut++;
      const corrupted = chance(next, 0.15)
        ? concat(bytes, new Uint8Array([0xe2, 0x82])) // a character cut short by the end
        : concat(bytes.subarray(0, cut), new Uint8Array(bad), bytes.subarray(cut));
      const message = dataMessage(next, o, { text: true, bytes: corrupted, data: "" });
      return {
        specs: [...before, ...message, ...after],
        rule,
        failWith: ["INVALID_UTF8", "MESSAGE_TOO_BIG"],
        at: k,
      };
    }
    case "close-payload": {
      const r = next();
      let payload: Uint8Array;
      let failWith: string[];
      if (r < 0.3) {
        payload = randomBytes(next, 1);
        failWith = ["INVALID_CLOSE_PAYLOAD"];
      } else if (r < 0.7) {
        const code = pick(next, INVALID_CLOSE_CODES);
        payload = concat(new Uint8Array([code >> 8, code & 0xff]), utf8(randomText(next, 10)));
        failWith = ["INVALID_CLOSE_CODE"];
      } else {
        const code = pick(next, VALID_CLOSE_CODES);
        payload = concat(
          new Uint8Array([code >> 8, code & 0xff]),
          utf8("bye"),
          new Uint8Array(pick(next, INVALID_UTF8)),
        );
        failWith = ["INVALID_UTF8"];
      }
      return {
        specs: [...before, spec(next, o, 8, payload), target, ...after],
        rule,
        failWith,
        at: k,
      };
    }
  }
  return undefined;
}

/** A header announcing `length`, with the frame's first byte and mask. */
function rawHeader(s: FrameSpec, length: bigint): Uint8Array {
  const b0 = (s.fin ? 0x80 : 0) | (s.rsv1 ? 0x40 : 0) | (s.rsv2 ? 0x20 : 0) | (s.rsv3 ? 0x10 : 0) |
    s.opcode;
  const maskBit = s.mask === null ? 0 : 0x80;
  let header: Uint8Array;
  if (length < 126n) {
    header = new Uint8Array([b0, maskBit | Number(length)]);
  } else if (length < 65536n) {
    header = new Uint8Array([b0, maskBit | 126, Number(length >> 8n), Number(length & 0xffn)]);
  } else {
    header = new Uint8Array(10);
    header[0] = b0;
    header[1] = maskBit | 127;
    for (let i = 0; i < 8; i++) header[9 - i] = Number((length >> BigInt(8 * i)) & 0xffn);
  }
  return s.mask === null ? header : concat(header, s.mask);
}

/** Frames with random headers: any opcode, any bits, masked or not. */
function randomFrames(next: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  const count = randomInt(next, 1, 6);
  for (let i = 0; i < count; i++) {
    parts.push(
      encodeFrame(randomInt(next, 0, 15), randomBytes(next, randomSize(next, 300)), {
        fin: chance(next, 0.7),
        rsv1: chance(next, 0.2),
        rsv2: chance(next, 0.05),
        rsv3: chance(next, 0.05),
        mask: chance(next, 0.5) ? randomBytes(next, 4) : false,
      }),
    );
  }
  return concat(...parts);
}

/** Traffic of one of the four kinds, with what it must do. */
function trafficCase(
  next: () => number,
  o: TrafficOptions,
  eventsAfter: (observed: string[]) => string[],
  between: (entry: string) => boolean,
): { kind: string; input: Uint8Array; expect: Expectation | undefined } {
  const r = next();
  const specs = traffic(next, o);
  if (r < 0.3) {
    const yields = specs.flatMap((s) => s.yields);
    return { kind: "valid", input: encodeTraffic(specs), expect: { exact: eventsAfter(yields) } };
  }
  if (r < 0.6) {
    const broken = breakRule(next, o, specs);
    if (broken !== undefined) {
      const prefix = broken.specs.slice(0, broken.at).flatMap((s) => s.yields);
      return {
        kind: `broken:${broken.rule}`,
        input: encodeTraffic(broken.specs),
        expect: { prefix, failWith: broken.failWith, between },
      };
    }
  }
  if (r < 0.9) {
    const { bytes, how } = mutateBytes(
      next,
      encodeTraffic(specs),
      () => encodeTraffic(traffic(next, o)),
    );
    return { kind: `mutated:${how.join("+")}`, input: bytes, expect: undefined };
  }
  return chance(next, 0.5)
    ? { kind: "random:bytes", input: randomBytes(next, randomInt(next, 0, 200)), expect: undefined }
    : { kind: "random:frames", input: randomFrames(next), expect: undefined };
}

// The frame decoder ---------------------------------------------------------

interface FrameConfig {
  role: Role;
  allowRsv1: boolean;
  maxMessageSize?: number;
  maxFrameSize?: number;
  maxFragments?: number;
}

function smallLimit(next: () => number): number {
  return chance(next, 0.3)
    ? pick(next, [1, 2, 125, 126, 127, 65535, 65536])
    : randomInt(next, 1, 3000);
}

function frameCase(next: () => number): Case {
  const config: FrameConfig = {
    role: pick(next, ["client", "server"]),
    allowRsv1: chance(next, 0.4),
  };
  if (chance(next, 0.5)) config.maxMessageSize = smallLimit(next);
  if (chance(next, 0.2)) config.maxFrameSize = smallLimit(next);
  if (chance(next, 0.3)) config.maxFragments = randomInt(next, 1, 6);
  const maxMessageSize = config.maxMessageSize ?? 64 * 1024 * 1024;
  const o: TrafficOptions = {
    layer: "frame",
    role: config.role,
    rsv1: config.allowRsv1,
    maxMessageSize,
    maxFrameSize: config.maxFrameSize ?? maxMessageSize,
    maxFragments: config.maxFragments ?? 100_000,
    closedByPeer: true,
  };
  const made = trafficCase(
    next,
    o,
    (frames) => [...frames, "end"],
    (e) => /^frame:(9|10):/.test(e),
  );
  return {
    kind: made.kind,
    config,
    input: made.input,
    expect: made.expect,
    hasTarget: true,
    run: (pieces, useTarget) => runFrameDecoder(config, pieces, useTarget),
  };
}

function runFrameDecoder(config: FrameConfig, pieces: Uint8Array[], useTarget: boolean): Outcome {
  const options: FrameDecoderOptions = { role: config.role, allowRsv1: config.allowRsv1 };
  if (config.maxMessageSize !== undefined) options.maxMessageSize = config.maxMessageSize;
  if (config.maxFrameSize !== undefined) options.maxFrameSize = config.maxFrameSize;
  if (config.maxFragments !== undefined) options.maxFragments = config.maxFragments;
  const decoder = new FrameDecoder(options);
  const observed: string[] = [];
  let error: ProtocolError | undefined;
  let errorText = "";
  const drain = () => {
    try {
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        promise(frame.payload instanceof Uint8Array, "a frame's payload is not a Uint8Array");
        observed.push(describeFrame(frame)); // described at once: views of the chunk
      }
    } catch (caught) {
      error = protocolErrorOf(caught, "FrameDecoder.next()");
      observed.push(`error:${error.closeCode}:${error.code}`);
      errorText = error.message;
    }
  };
  for (const piece of pieces) {
    if (error !== undefined) break;
    let offset = 0;
    while (useTarget && offset < piece.length && error === undefined) {
      const target = safely("FrameDecoder.payloadTarget()", () => decoder.payloadTarget(1));
      if (target === undefined) break;
      promise(target.length > 0, "payloadTarget(1) offered no room");
      const n = Math.min(target.length, piece.length - offset);
      target.set(piece.subarray(offset, offset + n));
      safely("FrameDecoder.wrote()", () => decoder.wrote(n));
      offset += n;
      drain();
    }
    if (error !== undefined) break;
    if (offset < piece.length) {
      safely("FrameDecoder.push()", () => decoder.push(piece.subarray(offset)));
      drain();
    }
    // The chunk may be reused once next() has returned undefined.
    piece.fill(0xee);
  }
  const state: string[] = [];
  if (error !== undefined) {
    // "the decoder then stays failed"
    const failed = error;
    for (
      const [name, call] of [["next()", () => decoder.next()], [
        "push()",
        () => decoder.push(new Uint8Array(1)),
      ]] as const
    ) {
      let again: unknown;
      try {
        call();
      } catch (caught) {
        again = caught;
      }
      promise(
        again === failed,
        `after a failure, FrameDecoder.${name} did not throw the same error`,
      );
    }
    promise(
      decoder.payloadTarget(1) === undefined,
      "a failed FrameDecoder offers a payload target",
    );
  } else {
    const partial = decoder.partial;
    if (partial !== undefined) {
      state.push(
        `partial:${partial.opcode}:${partial.fin}:${partial.rsv1}:${partial.length}:${
          describeBytes(partial.payload)
        }`,
      );
    }
    state.push(`inMessage:${decoder.inMessage}`);
    observed.push("end");
  }
  return { key: JSON.stringify({ observed, errorText, state }), observed };
}

// The protocol --------------------------------------------------------------

interface ProtocolConfig {
  role: Role;
  compression: boolean;
  /** With compression: context takeover both ways (else neither). */
  takeover: boolean;
  maxMessageSize?: number;
  maxFragments?: number;
  autoPong: boolean;
  holdCloseReply: boolean;
  /** What this end does before anything arrives. */
  before: "nothing" | "close" | "ping" | "fragment";
  /** Whether the transport closes after the bytes (receiveEof). */
  eof: boolean;
}

function protocolCase(next: () => number): Case {
  const config: ProtocolConfig = {
    role: pick(next, ["client", "server"]),
    compression: chance(next, 0.4),
    takeover: chance(next, 0.5),
    autoPong: chance(next, 0.85),
    holdCloseReply: chance(next, 0.25),
    before: chance(next, 0.7) ? "nothing" : pick(next, ["close", "ping", "fragment"]),
    eof: chance(next, 0.5),
  };
  if (chance(next, 0.5)) config.maxMessageSize = smallLimit(next);
  if (chance(next, 0.3)) config.maxFragments = randomInt(next, 1, 6);
  const maxMessageSize = config.maxMessageSize ?? 64 * 1024 * 1024;
  const o: TrafficOptions = {
    layer: "protocol",
    role: config.role,
    rsv1: config.compression,
    maxMessageSize,
    maxFrameSize: maxMessageSize,
    maxFragments: config.maxFragments ?? 100_000,
    closedByPeer: config.before !== "close",
  };
  const withEof = (events: string[]) => {
    // The transport's end, when no close frame came first.
    if (config.eof && !events.some((e) => e.startsWith("close:"))) {
      return [...events, 'close:1006:"":false:true'];
    }
    return events;
  };
  const made = chance(next, 0.3) ? exchange(next, config, o, withEof) : trafficCase(
    next,
    o,
    withEof,
    (entry) => entry.startsWith("ping:") || entry.startsWith("pong:"),
  );
  // A bomb: a small compressed message that inflates past the limit.
  if (
    config.compression && config.maxMessageSize !== undefined && made.kind.startsWith("mutated") &&
    chance(next, 0.15)
  ) {
    const bomb = deflate(new Uint8Array(config.maxMessageSize + randomInt(next, 1, 100_000)));
    made.kind = "broken:inflates-too-big";
    made.input = encodeFrame(2, bomb, { rsv1: true, mask: maskFor(next, config.role) ?? false });
    // Too big inflated, or already on the wire.
    made.expect = { prefix: [], failWith: ["MESSAGE_TOO_BIG"], between: () => false };
  }
  return {
    kind: made.kind,
    config,
    input: made.input,
    expect: made.expect,
    hasTarget: true,
    run: (pieces, useTarget) => runProtocol(config, pieces, useTarget),
  };
}

/**
 * Traffic made by a Protocol on the other side: messages whole and in
 * fragments (by hand and by fragmentSize), compressed from a threshold,
 * prepared and pre-encoded messages, pings, pongs, and a close. Each batch
 * dataToSend() returns must stay intact until the next call, while other
 * connections recycle the pooled buffers. A client's frames are masked
 * again with seeded keys, so that the case replays byte for byte.
 */
function exchange(
  next: () => number,
  config: ProtocolConfig,
  o: TrafficOptions,
  withEof: (events: string[]) => string[],
): { kind: string; input: Uint8Array; expect: Expectation | undefined } {
  const role: Role = config.role === "server" ? "client" : "server";
  const options: ProtocolOptions = { role };
  // Fragments must stay within maxFragments, compressed data within maxMessageSize.
  const fragmentSize = config.maxFragments === undefined && chance(next, 0.35)
    ? randomInt(next, 1, 300)
    : undefined;
  if (fragmentSize !== undefined) options.fragmentSize = fragmentSize;
  const compress = config.compression && o.maxMessageSize >= 64 && chance(next, 0.8);
  if (compress) {
    // The same takeover as the receiver: with it, each message may refer
    // back into the ones before.
    options.compression = {
      compressor: sessionCompressor(config.takeover),
      threshold: randomInt(next, 0, 200),
    };
  }
  // A message that compression would grow goes uncompressed, so any size
  // up to maxMessageSize arrives, compressed or not.
  const limit = Math.min(
    o.maxMessageSize,
    fragmentSize === undefined ? Infinity : 3000,
  );
  const sender = new Protocol(options);
  const noise = new Protocol({ role });
  const out: Uint8Array[] = [];
  let held: { chunks: Uint8Array[]; copies: Uint8Array[] } | undefined;
  const flush = () => {
    if (held !== undefined) {
      // "they stay valid until the next call"
      const { chunks, copies } = held;
      promise(
        chunks.length === copies.length && chunks.every((chunk, i) => sameBytes(chunk, copies[i]!)),
        "a batch dataToSend() returned changed before the next call",
      );
    }
    const chunks = safely("Protocol.dataToSend()", () => sender.dataToSend());
    const copies = chunks.map((chunk) => chunk.slice());
    out.push(...copies);
    held = { chunks, copies };
  };
  const events: string[] = [];
  const content = (text: boolean, size: number): { data: string | Uint8Array; event: string } => {
    if (text) {
      let value = randomText(next, size);
      while (utf8(value).length > size) value = [...value].slice(0, -1).join("");
      return { data: value, event: `text:${describeText(value)}` };
    }
    const bytes = chance(next, 0.4)
      ? new Uint8Array(size).map((_, i) => (i * 7) % 11)
      : randomBytes(next, size);
    return { data: bytes, event: `binary:${describeBytes(bytes)}` };
  };
  const operations = randomInt(next, 1, 10);
  for (let i = 0; i < operations; i++) {
    const r = next();
    const text = chance(next, 0.5);
    if (r < 0.3) {
      const { data, event } = content(text, randomSize(next, limit));
      safely("Protocol.send()", () => sender.send(data));
      events.push(event);
    } else if (r < 0.45) {
      const most = Math.min(config.maxFragments ?? 6, 6);
      const count = randomInt(next, 1, most);
      const { data, event } = content(text, randomSize(next, limit));
      let pieces: (string | Uint8Array)[];
      if (typeof data === "string") {
        const points = [...data];
        const cuts = Array.from({ length: count - 1 }, () => randomInt(next, 0, points.length))
          .sort((a, b) => a - b);
        pieces = [...cuts, points.length].map((cut, j) =>
          points.slice(j === 0 ? 0 : cuts[j - 1], cut).join("")
        );
      } else {
        pieces = cutInto(next, data, count);
      }
      pieces.forEach((piece, j) => {
        const fin = j === pieces.length - 1;
        safely(
          "Protocol.sendText()/sendBinary()",
          () =>
            typeof piece === "string"
              ? sender.sendText(piece, { fin })
              : sender.sendBinary(piece, { fin }),
        );
      });
      events.push(event);
    } else if (r < 0.6) {
      const payload = randomBytes(next, randomInt(next, 0, 125));
      const ping = chance(next, 0.7);
      safely("Protocol.ping()/pong()", () => ping ? sender.ping(payload) : sender.pong(payload));
      events.push(`${ping ? "ping" : "pong"}:${describeBytes(payload)}`);
    } else if (r < 0.7) {
      const { data, event } = content(text, randomSize(next, limit));
      safely("Protocol.sendPrepared()", () => sender.sendPrepared(new PreparedMessage(data)));
      events.push(event);
    } else if (r < 0.75 && role === "server") {
      const { data, event } = content(false, randomSize(next, Math.min(limit, 20_000)));
      safely("Protocol.sendEncoded()", () => sender.sendEncoded(encodeFrame(2, data)));
      events.push(event);
    } else {
      flush();
    }
    if (chance(next, 0.3)) {
      // Another connection takes and returns pooled buffers meanwhile.
      noise.send(randomBytes(next, randomSize(next, 40_000)));
      noise.dataToSend();
      noise.dataToSend();
    }
  }
  if (chance(next, 0.4)) {
    const code = pick(next, VALID_CLOSE_CODES);
    const reason = chance(next, 0.5) ? "" : randomText(next, 20);
    safely("Protocol.close()", () => sender.close(code, reason));
    events.push(`close:${code}:${describeText(reason)}:true:${o.closedByPeer}`);
  }
  flush();
  flush();
  let input = concat(...out);
  if (role === "client") {
    // Unmasked by a decoder, masked again with seeded keys.
    const decoder = new FrameDecoder({ role: "server", allowRsv1: true });
    decoder.push(input);
    const frames: Uint8Array[] = [];
    try {
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        frames.push(encodeFrame(frame.opcode, frame.payload, {
          fin: frame.fin,
          rsv1: frame.rsv1,
          mask: randomBytes(next, 4),
        }));
      }
    } catch (error) {
      throw new Broken(
        `a client Protocol sent frames a server cannot decode: ${describeError(error)}`,
      );
    }
    input = concat(...frames);
  }
  if (chance(next, 0.25)) {
    const mutated = mutateBytes(next, input, () => randomFrames(next));
    return {
      kind: `exchange-mutated:${mutated.how.join("+")}`,
      input: mutated.bytes,
      expect: undefined,
    };
  }
  return { kind: "exchange", input, expect: { exact: withEof(events) } };
}

function describeEvent(event: ProtocolEvent): string {
  switch (event.type) {
    case "message":
      if (typeof event.data === "string") return `text:${describeText(event.data)}`;
      promise(event.data instanceof Uint8Array, "a binary message is not a Uint8Array");
      return `binary:${describeBytes(event.data)}`;
    case "ping":
    case "pong":
      return `${event.type}:${describeBytes(event.data)}`;
    case "error":
      return `error:${event.error.closeCode}:${event.error.code}`;
    case "close":
      return `close:${event.code}:${
        describeText(event.reason)
      }:${event.wasClean}:${event.closedByPeer}`;
    default:
      throw new Broken(`an event of unknown type ${JSON.stringify(event)}`);
  }
}

/** Decodes what the protocol sends, as its peer would. */
function decodeSent(chunks: Uint8Array[], role: Role, into: string[]): void {
  const peer = new FrameDecoder({ role: role === "server" ? "client" : "server", allowRsv1: true });
  for (const chunk of chunks) {
    // A copy: the chunks stay the encoder's, and decoding unmasks in place.
    peer.push(chunk.slice());
    try {
      for (let frame = peer.next(); frame !== undefined; frame = peer.next()) {
        into.push(describeFrame(frame));
      }
    } catch (error) {
      throw new Broken(`the protocol sent bytes its peer cannot decode: ${describeError(error)}`);
    }
  }
  promise(peer.partial === undefined, "the protocol sent a frame cut short");
}

function runProtocol(config: ProtocolConfig, pieces: Uint8Array[], useTarget: boolean): Outcome {
  const options: ProtocolOptions = {
    role: config.role,
    autoPong: config.autoPong,
    holdCloseReply: config.holdCloseReply,
  };
  if (config.maxMessageSize !== undefined) options.maxMessageSize = config.maxMessageSize;
  if (config.maxFragments !== undefined) options.maxFragments = config.maxFragments;
  if (config.compression) {
    options.compression = { compressor: sessionCompressor(config.takeover) };
  }
  const protocol = new Protocol(options);
  const expectedSent: string[] = [];
  switch (config.before) {
    case "close":
      protocol.close(1000, "bye");
      expectedSent.push(describeFrame(frameOf(8, encodeClosePayload(1000, "bye"))));
      break;
    case "ping":
      protocol.ping("hb");
      expectedSent.push(describeFrame(frameOf(9, utf8("hb"))));
      break;
    case "fragment":
      protocol.sendText("par", { fin: false });
      expectedSent.push(describeFrame(frameOf(1, utf8("par"), false)));
      break;
  }
  const events: ProtocolEvent[] = [];
  const take = (found: ProtocolEvent[]) => {
    promise(Array.isArray(found), "receive() did not return an array");
    for (const event of found) events.push(event);
  };
  for (const piece of pieces) {
    let offset = 0;
    while (useTarget && offset < piece.length) {
      const target = safely("Protocol.receiveTarget()", () => protocol.receiveTarget(1));
      if (target === undefined) break;
      promise(target.length > 0, "receiveTarget(1) offered no room");
      const n = Math.min(target.length, piece.length - offset);
      target.set(piece.subarray(offset, offset + n));
      take(safely("Protocol.receiveWritten()", () => protocol.receiveWritten(n)));
      offset += n;
    }
    if (offset < piece.length) {
      const rest = offset === 0 ? piece : piece.subarray(offset);
      take(safely("Protocol.receive()", () => protocol.receive(rest)));
    }
    // "the caller may reuse the buffer as soon as this returns"
    piece.fill(0xee);
  }
  const received = events.length;
  const sent: string[] = [];
  decodeSent(safely("Protocol.dataToSend()", () => protocol.dataToSend()), config.role, sent);
  const held = protocol.closeHeld;
  if (config.eof) take(safely("Protocol.receiveEof()", () => protocol.receiveEof()));
  protocol.releaseClose();
  const released: string[] = [];
  decodeSent(safely("Protocol.dataToSend()", () => protocol.dataToSend()), config.role, released);
  const takeEof = protocol.takeEof();

  // The events' order: at most one error, then a close; the close is last.
  const observed = events.map(describeEvent);
  const closeAt = events.findIndex((e) => e.type === "close");
  const errorAt = events.findIndex((e) => e.type === "error");
  promise(
    closeAt === -1 || closeAt === events.length - 1,
    `events after the close event: ${observed.slice(closeAt).join(", ")}`,
  );
  const close = closeAt === -1 ? undefined : events[closeAt] as ProtocolEvent & { type: "close" };
  const error = errorAt === -1
    ? undefined
    : (events[errorAt] as ProtocolEvent & { type: "error" }).error;
  if (error !== undefined) {
    protocolErrorOf(error, "an error event");
    promise(errorAt === closeAt - 1, "an error event not followed by the close event");
    promise(
      close!.code === error.closeCode && !close!.wasClean && !close!.closedByPeer,
      `the close event after ${error.code} is ${observed[closeAt]}`,
    );
    promise(protocol.error === error, "Protocol.error is not the error reported");
  }
  promise(
    (close !== undefined) === (protocol.state === 3),
    `state ${protocol.state} after ${observed.at(-1)}`,
  );
  promise(
    protocol.closeExpected() === (protocol.state !== 1),
    "closeExpected() disagrees with state",
  );
  if (close !== undefined) {
    const info = protocol.closeInfo;
    promise(
      info !== undefined && info.code === close.code && info.reason === close.reason &&
        info.wasClean === close.wasClean && info.closedByPeer === close.closedByPeer,
      "closeInfo differs from the close event",
    );
  }

  // What goes out: what this end sent before, one pong per ping (RFC 6455
  // §5.5.3: past 16, the latest replaces the last), then the close frame it
  // owes, last, and nothing after it.
  const pings = events.slice(0, received).filter((e) => e.type === "ping");
  if (config.autoPong && config.before !== "close") {
    const owed = pings.length > 16 ? [...pings.slice(0, 15), pings.at(-1)!] : pings;
    for (const ping of owed) expectedSent.push(describeFrame(frameOf(10, ping.data)));
  }
  // The close frame owed: a failure's code and reason; or the echo of the
  // peer's close (RFC 6455 §5.5.1 "typically echos the status code"), its
  // reason too since c2ef81e, as Deno and ws do (either form passes).
  const closeFrameReceived = close !== undefined && close.wasClean;
  let owedClose: string[] = [];
  if (config.before !== "close") {
    if (error !== undefined) {
      owedClose = [describeFrame(frameOf(8, encodeClosePayload(error.closeCode, close!.reason)))];
    } else if (closeFrameReceived) {
      owedClose = close!.code === 1005 ? [describeFrame(frameOf(8, encodeClosePayload()))] : [
        describeFrame(frameOf(8, encodeClosePayload(close!.code, close!.reason))),
        describeFrame(frameOf(8, encodeClosePayload(close!.code))),
      ];
    }
  }
  promise(
    held === (owedClose.length > 0 && config.holdCloseReply),
    `closeHeld is ${held} with ${owedClose[0] ?? "no close"} owed`,
  );
  const expected = (owedClose.length === 0 ? [undefined] : owedClose).map((owed) => {
    const first = [...expectedSent];
    const second: string[] = [];
    if (owed !== undefined) (config.holdCloseReply ? second : first).push(owed);
    return JSON.stringify([first, second]);
  });
  promise(
    expected.includes(JSON.stringify([sent, released])),
    `after ${observed.join(", ") || "no events"}, dataToSend() gave ${JSON.stringify(sent)} then ${
      JSON.stringify(released)
    }; expected ${expected.join(" or ")}`,
  );
  // RFC 6455 §7.1.1: the server closes TCP first; §7.1.7: either side after a failure.
  const expectedEof = error !== undefined || (config.role === "server" && closeFrameReceived);
  promise(takeEof === expectedEof, `takeEof() is ${takeEof}, expected ${expectedEof}`);
  promise(!protocol.takeEof(), "takeEof() returned true twice");

  return {
    key: JSON.stringify({
      observed,
      errorText: error?.message ?? "",
      reason: close?.reason ?? "",
      sent,
      released,
      takeEof,
      state: protocol.state,
    }),
    observed,
  };
}

function frameOf(opcode: number, payload: Uint8Array, fin = true): FrameLike {
  return { opcode, payload, fin, rsv1: false, rsv2: false, rsv3: false };
}

// HTTP/1.1 ------------------------------------------------------------------

interface HttpConfig {
  message: "request" | "response" | "any";
  limits: HttpHeadLimits;
  /** The method of the request a response answers (HEAD responses have no body). */
  requestMethod: "GET" | "HEAD";
  maxBodySize?: number;
  overflow: "error" | "truncate";
  /** Whether the connection ends after the bytes (BodyDecoder.end()). */
  end: boolean;
  /** The server's upgrade policy. */
  protocols: boolean;
  origins: boolean;
  deflate: boolean;
}

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const FRAMING_NAMES = new Set(["host", "content-length", "transfer-encoding"]);
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = acceptKeySync(KEY);

function randomToken(next: () => number, max = 12): string {
  let token = "";
  const length = randomInt(next, 1, max);
  for (let i = 0; i < length; i++) token += pick(next, [...TOKEN_CHARS]);
  return token;
}

/** A field value: visible ASCII, obs-text and inner blanks; the trimmed value is what parses. */
function randomValue(next: () => number): string {
  let value = "";
  const length = randomInt(next, 0, 30);
  for (let i = 0; i < length; i++) {
    const r = next();
    value += String.fromCharCode(
      r < 0.75
        ? randomInt(next, 0x21, 0x7e)
        : r < 0.85
        ? randomInt(next, 0x80, 0xff)
        : pick(next, [0x20, 0x09]),
    );
  }
  return value.replace(/^[ \t]+|[ \t]+$/g, "");
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

interface HttpMessage {
  startLine: string;
  fields: [string, string][];
  /** The field lines as written (with whitespace around values). */
  lines: string[];
  body: Uint8Array;
  /** The body's bytes on the wire. */
  wireBody: Uint8Array;
  framing: "none" | "length" | "chunked" | "close";
}

function addField(
  next: () => number,
  m: HttpMessage,
  name: string,
  value: string,
  at?: number,
): void {
  const ows = () => pick(next, ["", "", " ", "  ", "\t", " \t"]);
  const line = `${name}:${ows()}${value}${ows()}`;
  const i = at ?? m.fields.length;
  m.fields.splice(i, 0, [name, value]);
  m.lines.splice(i, 0, line);
}

function chunked(next: () => number, body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const piece of cutInto(next, body, randomInt(next, 1, 5))) {
    if (piece.length === 0) continue;
    let size = piece.length.toString(16);
    if (chance(next, 0.3)) size = size.toUpperCase();
    if (chance(next, 0.1)) size = `00${size}`;
    const ext = chance(next, 0.2) ? pick(next, [";a=b", " ;x", '\t;q="1"']) : "";
    parts.push(latin1(`${size}${ext}\r\n`), piece, latin1("\r\n"));
  }
  const trailers = chance(next, 0.2) ? "x-trailer: 1\r\n" : "";
  parts.push(latin1(`0\r\n${trailers}\r\n`));
  return concat(...parts);
}

function withBody(next: () => number, m: HttpMessage, kinds: HttpMessage["framing"][]): void {
  const framing = pick(next, kinds);
  m.framing = framing;
  if (framing === "none") return;
  m.body = randomBytes(next, randomSize(next, 600));
  if (framing === "length") {
    addField(next, m, pick(next, ["Content-Length", "content-length"]), String(m.body.length));
    m.wireBody = m.body;
  } else if (framing === "chunked") {
    addField(next, m, "Transfer-Encoding", pick(next, ["chunked", "Chunked", "gzip, chunked"]));
    m.wireBody = chunked(next, m.body);
  } else {
    m.wireBody = m.body;
  }
}

function requestMessage(next: () => number): HttpMessage {
  const version = chance(next, 0.9) ? "HTTP/1.1" : "HTTP/1.0";
  const method = chance(next, 0.8) ? "GET" : randomToken(next, 8);
  const target = pick(next, [
    "/",
    "/chat",
    "/a/b?c=d&e=%20",
    "*",
    "http://a.example/x",
    "/" + randomToken(next, 30),
  ]);
  const m: HttpMessage = {
    startLine: `${method} ${target} ${version}`,
    fields: [],
    lines: [],
    body: new Uint8Array(0),
    wireBody: new Uint8Array(0),
    framing: "none",
  };
  if (version === "HTTP/1.1" || chance(next, 0.5)) {
    addField(next, m, pick(next, ["Host", "host"]), "a.example");
  }
  if (chance(next, 0.6)) {
    addField(next, m, "Upgrade", pick(next, ["websocket", "WebSocket"]));
    addField(next, m, "Connection", pick(next, ["Upgrade", "keep-alive, Upgrade"]));
    addField(next, m, "Sec-WebSocket-Key", chance(next, 0.5) ? KEY : base64(randomBytes(next, 16)));
    addField(next, m, "Sec-WebSocket-Version", "13");
    if (chance(next, 0.4)) {
      addField(next, m, "Sec-WebSocket-Protocol", pick(next, ["chat", "chat, superchat", "x"]));
    }
    if (chance(next, 0.4)) {
      addField(
        next,
        m,
        "Sec-WebSocket-Extensions",
        pick(next, [
          "permessage-deflate",
          "permessage-deflate; client_max_window_bits",
          "permessage-deflate; server_max_window_bits=10, permessage-deflate",
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
          "x-webkit-deflate-frame",
        ]),
      );
    }
    if (chance(next, 0.3)) {
      addField(next, m, "Origin", pick(next, ["https://a.example", "https://b.example", "null"]));
    }
  }
  extraFields(next, m);
  withBody(next, m, ["none", "none", "length", "chunked"]);
  return m;
}

function extraFields(next: () => number, m: HttpMessage): void {
  const count = pick(next, [0, 0, 1, 2, 3, 6]);
  for (let i = 0; i < count; i++) {
    let name = randomToken(next);
    if (FRAMING_NAMES.has(name.toLowerCase())) name = `x-${name}`;
    addField(next, m, name, randomValue(next), randomInt(next, 0, m.fields.length));
  }
}

function responseMessage(next: () => number, config: HttpConfig): HttpMessage {
  const status = pick(next, [101, 101, 200, 204, 304, 401, 403, 404, 500]);
  const reason = chance(next, 0.8) ? randomValue(next) : undefined;
  const m: HttpMessage = {
    startLine: `HTTP/1.1 ${status}${reason === undefined ? "" : ` ${reason}`}`,
    fields: [],
    lines: [],
    body: new Uint8Array(0),
    wireBody: new Uint8Array(0),
    framing: "none",
  };
  if (status === 101) {
    addField(next, m, "Upgrade", "websocket");
    addField(next, m, "Connection", "Upgrade");
    addField(next, m, "Sec-WebSocket-Accept", ACCEPT);
    if (chance(next, 0.3)) {
      addField(next, m, "Sec-WebSocket-Protocol", pick(next, ["chat", "other"]));
    }
    if (chance(next, 0.3)) {
      addField(
        next,
        m,
        "Sec-WebSocket-Extensions",
        pick(next, [
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
          "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
          "permessage-deflate",
        ]),
      );
    }
  }
  extraFields(next, m);
  const bodiless = status < 200 || status === 204 || status === 304 ||
    config.requestMethod === "HEAD";
  withBody(next, m, bodiless ? ["none"] : ["none", "length", "chunked", "close"]);
  if (bodiless) m.framing = "none";
  else if (m.framing === "none") m.framing = "close";
  return m;
}

function headBytes(m: HttpMessage): Uint8Array {
  return latin1([m.startLine, ...m.lines].join("\r\n") + "\r\n\r\n");
}

/** What a valid message must give (the entries runHttp observes). */
function expectedHttp(m: HttpMessage, config: HttpConfig, rest: Uint8Array): string[] {
  const out: string[] = [];
  if (config.message === "response") {
    const match = /^(\S+) (\d{3})(?: (.*))?$/.exec(m.startLine)!;
    out.push(`response:${match[1]} ${match[2]} ${JSON.stringify(match[3] ?? "")}`);
    for (const [name, value] of new Headers(m.fields)) {
      out.push(`header:${name}:${JSON.stringify(value)}`);
    }
  } else {
    out.push(`request:${m.startLine}`);
    for (const [name, value] of m.fields) out.push(`field:${name}:${JSON.stringify(value)}`);
  }
  const length = m.framing === "length" ? `:${m.body.length}` : "";
  out.push(`framing:${m.framing}${length}`);
  if (m.framing === "close") {
    // Everything up to the end is the body.
    const body = concat(m.body, rest);
    out.push(
      `body:${describeBytes(body)}:${config.end}`,
      `rest:${describeBytes(new Uint8Array(0))}`,
    );
  } else {
    out.push(`body:${describeBytes(m.body)}:true`, `rest:${describeBytes(rest)}`);
  }
  return out;
}

/** Breaks one HTTP rule; the error codes that must follow. */
function breakHttp(
  next: () => number,
  m: HttpMessage,
  config: HttpConfig,
): { rule: string; failWith: string[] } | undefined {
  const response = config.message === "response";
  const rules = [
    "bare-lf",
    "obs-fold",
    "space-before-colon",
    "no-colon",
    "control-char",
    "too-many-headers",
    "long-head",
  ];
  if (response) rules.push("bad-status");
  else {rules.push(
      "duplicate-host",
      "both-lengths",
      "bad-version",
      "bad-method",
      "long-start-line",
      "bad-transfer-encoding",
    );}
  if (m.framing === "length") rules.push("bad-content-length");
  if (m.framing === "chunked") rules.push("bad-chunk", "truncated-body");
  if (m.framing === "length") rules.push("truncated-body", "body-too-large");
  const rule = pick(next, rules);
  const at = randomInt(next, 0, m.lines.length);
  switch (rule) {
    case "bare-lf":
      // Turn one line's CRLF into LF: rebuilt in headBytes by a marker.
      if (m.lines.length === 0 || chance(next, 0.3)) m.startLine += "\n";
      else m.lines[Math.min(at, m.lines.length - 1)] += "\n";
      return { rule, failWith: ["BARE_LF"] };
    case "obs-fold":
      if (m.lines.length === 0) return undefined;
      m.lines.splice(Math.max(1, at), 0, pick(next, [" folded", "\tfolded"]));
      return { rule, failWith: ["OBSOLETE_LINE_FOLDING"] };
    case "space-before-colon":
      m.lines.splice(at, 0, `${randomToken(next)} : x`);
      return { rule, failWith: ["INVALID_HEADER"] };
    case "no-colon":
      m.lines.splice(at, 0, pick(next, ["nocolon", ":empty-name", "bad name: x", "b\u00e4d: x"]));
      return { rule, failWith: ["INVALID_HEADER"] };
    case "control-char":
      m.lines.splice(
        at,
        0,
        `x-bad: a${String.fromCharCode(pick(next, [0x00, 0x01, 0x0d, 0x1b, 0x7f]))}b`,
      );
      return {
        rule,
        failWith: ["INVALID_HEADER_VALUE", "INVALID_REQUEST_LINE", "INVALID_STATUS_LINE"],
      };
    case "too-many-headers": {
      const max = config.limits.maxHeaderCount ?? 100;
      while (m.lines.length <= max) m.lines.push(`x-${m.lines.length}: ${m.lines.length}`);
      return { rule, failWith: ["TOO_MANY_HEADERS", "HEAD_TOO_LARGE"] };
    }
    case "long-head": {
      const max = config.limits.maxHeadSize ?? 8192;
      m.lines.splice(at, 0, `x-long: ${"v".repeat(max)}`);
      return { rule, failWith: ["HEAD_TOO_LARGE"] };
    }
    case "bad-status":
      m.startLine = pick(next, [
        "HTTP/1.1 20 OK",
        "HTTP/1.1 1011 x",
        "HTTP/1.1 200x",
        "HTTP/1.1  200 OK",
        "HTTP/1.1 abc d",
        "HTTP/1.1",
      ]);
      return { rule, failWith: ["INVALID_STATUS_LINE"] };
    case "duplicate-host":
      m.lines.splice(at, 0, "Host: b.example", "host: c.example");
      return { rule, failWith: ["INVALID_HOST"] };
    case "both-lengths":
      m.lines.splice(at, 0, "Content-Length: 0", "Transfer-Encoding: chunked");
      return { rule, failWith: ["AMBIGUOUS_LENGTH", "INVALID_CONTENT_LENGTH"] };
    case "bad-version": {
      const [method, target] = m.startLine.split(" ");
      const version = pick(next, ["HTTP/2.0", "HTTP/1.2", "HTTP/1", "http/1.1", "HTTPS/1.1"]);
      m.startLine = `${method} ${target} ${version}`;
      return {
        rule,
        failWith: /^HTTP\/\d\.\d$/.test(version)
          ? ["UNSUPPORTED_HTTP_VERSION"]
          : ["INVALID_REQUEST_LINE"],
      };
    }
    case "bad-method":
      m.startLine = pick(next, [
        "G(T / HTTP/1.1",
        " GET / HTTP/1.1",
        "GET  / HTTP/1.1",
        "GET /a b HTTP/1.1",
        "GET\t/ HTTP/1.1",
        "GET /\u00e9 HTTP/1.1",
      ]);
      return { rule, failWith: ["INVALID_REQUEST_LINE"] };
    case "long-start-line": {
      const max = config.limits.maxStartLineLength ?? 8192;
      m.startLine = `GET /${"a".repeat(max)} HTTP/1.1`;
      return { rule, failWith: ["START_LINE_TOO_LONG", "HEAD_TOO_LARGE"] };
    }
    case "bad-transfer-encoding": {
      const i = m.fields.findIndex(([name]) => /^(transfer-encoding|content-length)$/i.test(name));
      if (i >= 0) return undefined;
      m.lines.splice(
        at,
        0,
        `Transfer-Encoding: ${
          pick(next, ["gzip", "chunked, gzip", "chunked, chunked", "identity"])
        }`,
      );
      return { rule, failWith: ["INVALID_TRANSFER_ENCODING"] };
    }
    case "bad-content-length": {
      const i = m.fields.findIndex(([name]) => name.toLowerCase() === "content-length");
      m.lines[i] = `Content-Length: ${
        pick(next, ["1,2", "-1", "abc", "1234567890123456", "", "0x10", "+5"])
      }`;
      return { rule, failWith: ["INVALID_CONTENT_LENGTH"] };
    }
    case "bad-chunk": {
      const how = pick(next, ["size", "long-size", "bare-lf", "overrun"]);
      const body = m.body.length === 0 ? new Uint8Array([0x61]) : m.body;
      m.wireBody = latin1(
        how === "size"
          ? `${pick(next, ["zz", "-1", " 5", "0x5", ""])}\r\n`
          : how === "long-size"
          ? `${"f".repeat(13)}\r\n`
          : how === "bare-lf"
          ? `${body.length.toString(16)}\n`
          : `1\r\n${String.fromCharCode(...body.subarray(0, 1))}xx\r\n0\r\n\r\n`,
      );
      return { rule, failWith: how === "bare-lf" ? ["BARE_LF"] : ["INVALID_CHUNK"] };
    }
    case "truncated-body":
      if (m.wireBody.length === 0) return undefined;
      m.wireBody = m.wireBody.subarray(0, randomInt(next, 0, m.wireBody.length - 1));
      config.end = true;
      return { rule, failWith: ["TRUNCATED_BODY"] };
    case "body-too-large":
      if (m.body.length === 0) return undefined;
      config.maxBodySize = randomInt(next, 0, m.body.length - 1);
      config.overflow = "error";
      return { rule, failWith: ["BODY_TOO_LARGE"] };
  }
  return undefined;
}

/** Joins a head whose lines may end with a marker LF (a bare LF on the wire). */
function headWithBareLf(m: HttpMessage): Uint8Array {
  const text = [m.startLine, ...m.lines].map((line) => line.endsWith("\n") ? line : `${line}\r\n`)
    .join("");
  return latin1(`${text}\r\n`);
}

function httpCase(next: () => number): Case {
  const config: HttpConfig = {
    message: pick(next, ["request", "request", "response", "any"]),
    limits: {},
    requestMethod: chance(next, 0.85) ? "GET" : "HEAD",
    overflow: chance(next, 0.8) ? "error" : "truncate",
    end: chance(next, 0.5),
    protocols: chance(next, 0.5),
    origins: chance(next, 0.3),
    deflate: chance(next, 0.5),
  };
  const m = config.message === "response" ? responseMessage(next, config) : requestMessage(next);
  const limits = config.limits;
  let tail = chance(next, 0.5) ? new Uint8Array(0) : randomBytes(next, randomInt(next, 1, 40));
  const r = next();
  if (r < 0.3) {
    // Limits at or just above what the message needs: each boundary is inclusive.
    const head = headBytes(m);
    if (chance(next, 0.4)) limits.maxHeadSize = head.length + randomInt(next, 0, 2);
    if (chance(next, 0.4)) limits.maxStartLineLength = m.startLine.length + randomInt(next, 0, 2);
    if (chance(next, 0.4)) limits.maxHeaderCount = m.fields.length + randomInt(next, 0, 1);
    if (chance(next, 0.3)) config.maxBodySize = m.body.length + randomInt(next, 0, 3);
    if (m.framing === "close" && config.maxBodySize !== undefined) {
      config.maxBodySize += tail.length;
    }
    const expect = { exact: expectedHttp(m, config, tail) };
    return httpRunCase("valid", config, concat(head, m.wireBody, tail), expect);
  }
  if (r < 0.6) {
    // Small limits, for the rules about limits; raised below for the others.
    if (chance(next, 0.3)) limits.maxHeaderCount = randomInt(next, 1, 8);
    if (chance(next, 0.3)) limits.maxHeadSize = randomInt(next, 64, 600);
    if (chance(next, 0.3)) limits.maxStartLineLength = randomInt(next, 16, 200);
    const broken = breakHttp(next, m, config);
    const head = headWithBareLf(m);
    const rule = broken?.rule ?? "none";
    // Every limit fits the broken message, but the one its rule is about.
    if (limits.maxHeadSize !== undefined && !/^(long-head|long-start-line)$/.test(rule)) {
      limits.maxHeadSize = Math.max(limits.maxHeadSize, head.length);
    }
    if (limits.maxStartLineLength !== undefined && rule !== "long-start-line") {
      limits.maxStartLineLength = Math.max(limits.maxStartLineLength, m.startLine.length);
    }
    if (limits.maxHeaderCount !== undefined && rule !== "too-many-headers") {
      limits.maxHeaderCount = Math.max(limits.maxHeaderCount, m.lines.length);
    }
    if (rule === "truncated-body") tail = new Uint8Array(0);
    const expect: Expectation | undefined = broken === undefined
      ? undefined
      : { prefix: [], failWith: broken.failWith, between: () => true };
    return httpRunCase(`broken:${rule}`, config, concat(head, m.wireBody, tail), expect);
  }
  if (r < 0.72) {
    // Limits around the message's sizes, both at once: each outcome is
    // decided at one byte, the line's limit first where both pass there.
    const head = headBytes(m);
    const near = (n: number, spread: number) => Math.max(1, n + randomInt(next, -spread, spread));
    limits.maxStartLineLength = near(m.startLine.length, 3);
    limits.maxHeadSize = chance(next, 0.4) ? near(m.startLine.length, 3) : near(head.length, 3);
    if (chance(next, 0.5)) {
      limits.maxHeaderCount = Math.max(0, m.fields.length + randomInt(next, -1, 1));
    }
    const tooLong = m.startLine.length > limits.maxStartLineLength
      ? limits.maxStartLineLength
      : Infinity;
    const tooLarge = head.length > limits.maxHeadSize ? limits.maxHeadSize : Infinity;
    let expect: Expectation;
    if (tooLong !== Infinity || tooLarge !== Infinity) {
      const code = tooLong <= tooLarge ? "START_LINE_TOO_LONG" : "HEAD_TOO_LARGE";
      expect = { prefix: [], failWith: [code], between: () => false };
    } else if (m.fields.length > (limits.maxHeaderCount ?? 100)) {
      expect = { prefix: [], failWith: ["TOO_MANY_HEADERS"], between: () => false };
    } else {
      expect = { exact: expectedHttp(m, config, tail) };
    }
    return httpRunCase("limits", config, concat(head, m.wireBody, tail), expect);
  }
  if (r < 0.92) {
    const head = headBytes(m);
    if (chance(next, 0.4)) limits.maxHeadSize = randomInt(next, 1, head.length + 20);
    if (chance(next, 0.3)) limits.maxStartLineLength = randomInt(next, 1, m.startLine.length + 5);
    if (chance(next, 0.3)) limits.maxHeaderCount = randomInt(next, 1, 8);
    if (chance(next, 0.2)) config.maxBodySize = randomInt(next, 0, 100);
    const mutated = mutateBytes(
      next,
      concat(head, m.wireBody, tail),
      () => headBytes(requestMessage(next)),
    );
    return httpRunCase(`mutated:${mutated.how.join("+")}`, config, mutated.bytes, undefined);
  }
  const r2 = next();
  const input = r2 < 0.3
    // A TLS ClientHello sent to a plain HTTP port.
    ? concat(
      new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
      randomBytes(next, 40),
    )
    : r2 < 0.65
    ? randomBytes(next, randomInt(next, 0, 300))
    : latin1(
      Array.from({ length: randomInt(next, 1, 8) }, () => randomValue(next)).join(
        pick(next, ["\r\n", "\n", "\r"]),
      ) + "\r\n\r\n",
    );
  if (chance(next, 0.5)) limits.maxHeadSize = randomInt(next, 1, 400);
  return httpRunCase("random", config, input, undefined);
}

function httpRunCase(
  kind: string,
  config: HttpConfig,
  input: Uint8Array,
  expect: Expectation | undefined,
): Case {
  return {
    kind,
    config,
    input,
    expect,
    hasTarget: false,
    run: (pieces) => runHttp(config, pieces),
  };
}

let deflateExtension: PerMessageDeflate | undefined;

const statusIn = (allowed: number[]) => (status: number) => allowed.includes(status);

/** A server must be able to answer any failure of a request with rejectUpgrade(). */
function answer(error: HandshakeError, into: string[]): void {
  const rejection = safely("rejectUpgrade()", () => rejectUpgrade(error));
  safely(
    "serializeResponseHead()",
    () => serializeResponseHead(rejection.status, "Refused", rejection.fields),
  );
  into.push(`answer:${rejection.status}:${JSON.stringify(rejection.fields)}:${rejection.body}`);
}

function runHttp(config: HttpConfig, pieces: Uint8Array[]): Outcome {
  const response = config.message === "response";
  const observed: string[] = [];
  const extra: string[] = [];
  const outcome = (): Outcome => ({ key: JSON.stringify({ observed, extra }), observed });
  /** Records the failure that ends the message. */
  const failed = (stage: string, error: HandshakeError): Outcome => {
    observed.push(`error:${stage}:${error.code}:${error.status}`);
    extra.push(error.message);
    if (!response) answer(error, extra);
    return outcome();
  };
  const reader = new HttpHeadReader({
    ...config.limits,
    ...(config.message === "any" ? {} : { message: config.message }),
  });
  let head: Uint8Array | undefined;
  let restPieces: Uint8Array[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    let found: Uint8Array | undefined;
    try {
      found = reader.push(piece);
    } catch (error) {
      // A response's status is unknown (0) until its head is read.
      const statuses = response ? statusIn([0]) : statusIn([400, 414, 431]);
      return failed("head", handshakeErrorOf(error, "HttpHeadReader.push()", statuses));
    }
    if (found !== undefined) {
      head = found.slice();
      const rest = reader.rest;
      promise(
        rest.length === 0 || rest.buffer !== piece.buffer,
        "HttpHeadReader.rest is not a copy",
      );
      restPieces = [rest.slice(), ...pieces.slice(i + 1)];
    }
    // "kept as a copy while the head is incomplete"
    piece.fill(0xee);
    if (head !== undefined) break;
  }
  if (head === undefined) {
    observed.push(`incomplete:${reader.size}`);
    return outcome();
  }
  extra.push(`head:${describeBytes(head)}`);

  let headers: Headers;
  let status = 0;
  if (response) {
    let parsed;
    try {
      parsed = parseResponseHead(head, config.limits);
    } catch (error) {
      // Status 0 for a malformed status line; the response's own (000-999) for a bad field.
      return failed(
        "parse",
        handshakeErrorOf(
          error,
          "parseResponseHead()",
          (s) => Number.isInteger(s) && s >= 0 && s <= 999,
        ),
      );
    }
    ({ headers, status } = parsed);
    observed.push(`response:${parsed.version} ${status} ${JSON.stringify(parsed.statusText)}`);
    for (const [name, value] of headers) observed.push(`header:${name}:${JSON.stringify(value)}`);
    if (status === 101) upgradeResponse(headers, extra);
  } else {
    let parsed;
    try {
      parsed = parseRequestHead(head, config.limits);
    } catch (error) {
      return failed(
        "parse",
        handshakeErrorOf(error, "parseRequestHead()", statusIn([400, 431, 505])),
      );
    }
    observed.push(`request:${parsed.method} ${parsed.target} ${parsed.version}`);
    for (const [name, value] of parsed.fields) {
      observed.push(`field:${name}:${JSON.stringify(value)}`);
    }
    const fields = parsed.fields;
    headers = safely("RequestHead.headers", () => parsed.headers);
    extra.push(JSON.stringify([...headers]));
    promise(fields.every(([name]) => headers.has(name)), "RequestHead.headers lacks a field");
    upgradeRequest(config, { method: parsed.method, headers, httpVersion: parsed.version }, extra);
  }

  let framing: BodyFraming;
  try {
    framing = bodyFraming(headers, response ? { status, method: config.requestMethod } : undefined);
  } catch (error) {
    return failed("framing", handshakeErrorOf(error, "bodyFraming()", statusIn([400])));
  }
  observed.push(`framing:${framing.kind}${framing.kind === "length" ? `:${framing.length}` : ""}`);
  try {
    const decoder = new BodyDecoder(framing, {
      overflow: config.overflow,
      ...(config.maxBodySize === undefined ? {} : { maxSize: config.maxBodySize }),
    });
    for (const piece of restPieces) {
      decoder.push(piece);
      piece.fill(0xee); // "copied as needed"
    }
    if (config.end) decoder.end();
    observed.push(
      `body:${describeBytes(decoder.body)}:${decoder.done}`,
      `rest:${describeBytes(decoder.rest)}`,
    );
  } catch (error) {
    return failed("body", handshakeErrorOf(error, "BodyDecoder", statusIn([400, 413])));
  }
  return outcome();
}

/** The server's side of an upgrade request: accepted, or refused with an answer. */
function upgradeRequest(
  config: HttpConfig,
  request: { method: string; headers: Headers; httpVersion: string },
  extra: string[],
): void {
  const options: ServerHandshakeOptions = {};
  if (config.protocols) options.protocol = ["chat", "superchat"];
  if (config.origins) options.allowedOrigins = ["https://a.example"];
  if (config.deflate) options.deflate = deflateExtension ??= new PerMessageDeflate(zlibEngine);
  let accepted;
  try {
    accepted = acceptUpgrade(request, options);
  } catch (error) {
    const e = handshakeErrorOf(error, "acceptUpgrade()", statusIn([400, 403, 405, 426]));
    extra.push(`refused:${e.code}:${e.status}`);
    answer(e, extra);
    return;
  }
  safely(
    "serializeResponseHead()",
    () => serializeResponseHead(101, "Switching Protocols", accepted.fields),
  );
  extra.push(
    `upgrade:${accepted.protocol}:${accepted.extensions}:${JSON.stringify(accepted.fields)}`,
  );
  // No connection follows: the session's takeover context goes.
  accepted.deflate?.compressor.close?.();
}

/** The client's check of a 101. */
function upgradeResponse(headers: Headers, extra: string[]): void {
  const request = buildUpgradeRequest("ws://a.example/", {
    key: KEY,
    protocols: ["chat", "superchat"],
    extensions: [deflateOffer()],
  });
  try {
    const accepted = validateUpgradeResponse({ status: 101, headers }, request, ACCEPT);
    extra.push(`accepted:${accepted.protocol}:${JSON.stringify(accepted.extensions)}`);
    for (const extension of accepted.extensions) {
      try {
        extra.push(`deflate:${JSON.stringify(acceptDeflateResponse(extension))}`);
      } catch (error) {
        // Documented: "@throws {SyntaxError} If the answer is not a valid one to the offer".
        if (!(error instanceof SyntaxError)) {
          throw new Crash(`acceptDeflateResponse() threw ${describeError(error)}`, {
            cause: error,
          });
        }
        extra.push(`deflate refused: ${error.message}`);
      }
    }
  } catch (error) {
    if (error instanceof Crash) throw error;
    const e = handshakeErrorOf(error, "validateUpgradeResponse()", (s) => s === 101);
    extra.push(`refused:${e.code}`);
  }
}
