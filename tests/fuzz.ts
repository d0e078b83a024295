// Copyright 2026 the Duplex authors. MIT license.
// Long fuzzing runs of the Sans-I/O codec (see _fuzz.ts for what a case is).
//
//   deno task fuzz [--seconds N] [--seed S] [--target frame|protocol|http|all]
//                  [--iterations N] [--timeout N] [--case 0x…]
//
// The run goes in a worker, so that a case that never returns (a hang) is
// caught by the main thread's watchdog and reported with its seed, as a
// crash or a split-dependent outcome is. `--case` replays one case, as a
// failure report names it. Exit status: 0 when every case passed, 1 on a
// failure, 2 for bad arguments.

import { parseArgs } from "node:util";
import {
  fuzz,
  FUZZ_TARGETS,
  fuzzCase,
  FuzzFailure,
  type FuzzProgress,
  type FuzzReport,
  type FuzzTarget,
} from "./_fuzz.ts";
import { seed as freshSeed } from "./_util.ts";

const USAGE = `Usage: deno task fuzz [options]

  --seconds N      how long to run (default 60; no limit with --iterations alone)
  --iterations N   stop after N cases
  --seed S         the run's seed (default: DUPLEX_SEED, else a fresh one)
  --target T       frame, protocol, http or all (default all)
  --timeout N      seconds one case may take before it counts as a hang (default 30)
  --case C         replay the case C (as a failure names it) of --target T
  -h, --help       show this`;

/** What the worker is asked to run. */
interface Job {
  seed: number;
  targets: FuzzTarget[];
  seconds: number | undefined;
  iterations: number | undefined;
  /** [case index + 1, target index, case seed] of the case under way. */
  current: SharedArrayBuffer;
}

/** What the worker reports. */
type WorkerMessage =
  | { type: "progress"; progress: FuzzProgress }
  | { type: "done"; report: FuzzReport }
  | { type: "failure"; reproduction: string }
  | { type: "error"; message: string };

const workerScope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown })
  .WorkerGlobalScope;

if (workerScope !== undefined && globalThis instanceof workerScope) {
  runWorker();
} else if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

function runWorker(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<Job>) => void) | null;
    postMessage(message: WorkerMessage): void;
  };
  scope.onmessage = (event) => {
    const job = event.data;
    const current = new Int32Array(job.current);
    try {
      const report = fuzz({
        seed: job.seed,
        targets: job.targets,
        ...(job.seconds === undefined ? {} : { seconds: job.seconds }),
        ...(job.iterations === undefined ? {} : { iterations: job.iterations }),
        progressInterval: 2000,
        onProgress: (progress) => scope.postMessage({ type: "progress", progress }),
        onCase: (target, caseSeed, index) => {
          Atomics.store(current, 1, FUZZ_TARGETS.indexOf(target));
          Atomics.store(current, 2, caseSeed | 0);
          Atomics.store(current, 0, index + 1);
        },
      });
      scope.postMessage({ type: "done", report });
    } catch (error) {
      scope.postMessage(
        error instanceof FuzzFailure ? { type: "failure", reproduction: error.reproduction } : {
          type: "error",
          message: error instanceof Error ? error.stack ?? error.message : String(error),
        },
      );
    }
  };
}

function parseNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new TypeError(`--${name} must be a number, 0 or more, got ${JSON.stringify(value)}`);
  }
  return n;
}

function describeProgress(progress: FuzzProgress): string {
  const byTarget = FUZZ_TARGETS.filter((t) => progress.byTarget[t] > 0)
    .map((t) => `${t} ${progress.byTarget[t]}`)
    .join(", ");
  const slowest = progress.slowest === undefined
    ? ""
    : `; slowest ${progress.slowest.target} case 0x${
      (progress.slowest.caseSeed >>> 0).toString(16).padStart(8, "0")
    } (${progress.slowest.kind}) ${progress.slowest.ms.toFixed(0)} ms`;
  return `${
    (progress.elapsed / 1000).toFixed(1).padStart(6)
  } s  ${progress.cases} cases (${byTarget}), ${progress.feedings} feedings${slowest}`;
}

/**
 * Runs the command line.
 *
 * @param args The arguments.
 * @returns The exit status.
 */
export async function main(args: string[]): Promise<number> {
  let options;
  try {
    const { values } = parseArgs({
      args,
      options: {
        seconds: { type: "string" },
        iterations: { type: "string" },
        seed: { type: "string" },
        target: { type: "string", default: "all" },
        timeout: { type: "string", default: "30" },
        case: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const target = values.target;
    if (target !== "all" && !FUZZ_TARGETS.includes(target as FuzzTarget)) {
      throw new TypeError(
        `--target must be ${FUZZ_TARGETS.join(", ")} or all, got ${JSON.stringify(target)}`,
      );
    }
    const iterations = parseNumber("iterations", values.iterations);
    options = {
      targets: target === "all" ? [...FUZZ_TARGETS] : [target as FuzzTarget],
      seconds: parseNumber("seconds", values.seconds) ??
        (iterations === undefined ? 60 : undefined),
      iterations,
      seed: parseNumber("seed", values.seed) ?? freshSeed(),
      timeout: parseNumber("timeout", values.timeout)!,
      replay: parseNumber("case", values.case),
    };
    if (options.replay !== undefined && target === "all") {
      throw new TypeError("--case needs the --target it belongs to");
    }
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    return 2;
  }

  if (options.replay !== undefined) {
    const target = options.targets[0]!;
    const label = `${target} case 0x${(options.replay >>> 0).toString(16).padStart(8, "0")}`;
    try {
      const { feedings, kind } = fuzzCase(target, options.replay >>> 0);
      console.log(`${label} (${kind}) passed: ${feedings} feedings agreed`);
      return 0;
    } catch (error) {
      console.error(error instanceof FuzzFailure ? error.reproduction : error);
      return 1;
    }
  }

  const { seed, targets, seconds, iterations, timeout } = options;
  console.log(
    `Fuzzing ${targets.join(", ")} with DUPLEX_SEED=${seed}${
      seconds === undefined ? "" : ` for ${seconds} s`
    }${iterations === undefined ? "" : `, at most ${iterations} cases`}`,
  );
  const current = new SharedArrayBuffer(12);
  const view = new Int32Array(current);
  const worker = new Worker(import.meta.url, { type: "module" });
  const job: Job = { seed, targets, seconds, iterations, current };
  return await new Promise<number>((resolve) => {
    // The watchdog: the same case under way for `timeout` seconds is a hang.
    let seen = 0;
    let since = performance.now();
    const watchdog = setInterval(() => {
      const index = Atomics.load(view, 0);
      if (index !== seen) {
        seen = index;
        since = performance.now();
        return;
      }
      if (index === 0 || performance.now() - since < timeout * 1000) return;
      const target = FUZZ_TARGETS[Atomics.load(view, 1)]!;
      const caseSeed = `0x${(Atomics.load(view, 2) >>> 0).toString(16).padStart(8, "0")}`;
      console.error(
        `${target} case ${caseSeed} (DUPLEX_SEED=${seed}, case #${
          index - 1
        }) has run for over ${timeout} s: a hang?\n` +
          `  replay: deno task fuzz --target ${target} --case ${caseSeed}`,
      );
      finish(1);
    }, 250);
    const finish = (status: number) => {
      clearInterval(watchdog);
      worker.terminate();
      resolve(status);
    };
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
      const message = event.data;
      switch (message.type) {
        case "progress":
          console.log(describeProgress(message.progress));
          return;
        case "done":
          console.log(describeProgress(message.report));
          console.log(`ok: every case passed (DUPLEX_SEED=${seed})`);
          finish(0);
          return;
        case "failure":
          console.error(`${message.reproduction}\nFAILED with DUPLEX_SEED=${seed}`);
          finish(1);
          return;
        case "error":
          console.error(`The fuzzer failed: ${message.message}\nDUPLEX_SEED=${seed}`);
          finish(1);
          return;
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      console.error(`The fuzzing worker failed: ${event.message}\nDUPLEX_SEED=${seed}`);
      finish(1);
    };
    worker.postMessage(job);
  });
}
