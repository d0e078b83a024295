// Copyright 2026 the Duplex authors. MIT license.
// Runs the codec benchmarks and prints throughput: `deno task bench:codec`.
// Usage: deno run -A bench/codec_report.ts

const command = new Deno.Command(Deno.execPath(), {
  args: ["bench", "--allow-all", "--json", new URL("./codec_bench.ts", import.meta.url).pathname],
  stdout: "piped",
  stderr: "inherit",
});
const output = await command.output();
if (!output.success) Deno.exit(1);

interface BenchResult {
  name: string;
  group?: string;
  results: { ok?: { avg: number; n: number } }[];
}
const report = JSON.parse(new TextDecoder().decode(output.stdout)) as { benches: BenchResult[] };

/** Bytes processed per iteration, from the benchmark's name. */
function bytesOf(name: string): number | undefined {
  const match = /(\d+) (B|KiB|MiB)(?: x(\d+))?/.exec(name);
  if (match === null) return undefined;
  const unit = { B: 1, KiB: 1024, MiB: 1 << 20 }[match[2] as "B" | "KiB" | "MiB"];
  return Number(match[1]) * unit * Number(match[3] ?? 1);
}

console.log(
  `Codec throughput, ${new Date().toISOString().slice(0, 10)}, Deno ${Deno.version.deno}`,
);
console.log("| benchmark | time/iter | MB/s | ops/s |");
console.log("|---|---:|---:|---:|");
for (const bench of report.benches) {
  const ok = bench.results[0]?.ok;
  if (ok === undefined) continue;
  const seconds = ok.avg / 1e9;
  const bytes = bytesOf(bench.name);
  const count = Number(
    /x(\d+)/.exec(bench.name)?.[1] ?? (bench.name.startsWith("protocol") ? 100 : 1),
  );
  const mbps = bytes === undefined ? "" : (bytes / seconds / 1e6).toFixed(0);
  const time = ok.avg < 1e3
    ? `${ok.avg.toFixed(1)} ns`
    : ok.avg < 1e6
    ? `${(ok.avg / 1e3).toFixed(1)} µs`
    : `${(ok.avg / 1e6).toFixed(2)} ms`;
  console.log(`| ${bench.name} | ${time} | ${mbps} | ${(count / seconds).toFixed(0)} |`);
}
