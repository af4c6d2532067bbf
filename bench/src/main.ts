/**
 * `npm run bench`: every benchmark, one table, and a JSON file in bench/results/. Figures are
 * medians over several runs, each beside its baseline measured in the same run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { brokerBenchmark } from "./broker.js";

const started = Date.now();
const [direct, brokered] = await brokerBenchmark();
const rows = [
  { ...direct!, roundTripRatio: 1, throughputRatio: 1 },
  { ...brokered!, roundTripRatio: brokered!.roundTripUs / direct!.roundTripUs, throughputRatio: brokered!.perSecond / direct!.perSecond },
];

const pad = (text: string, width: number) => text.padEnd(width);
const num = (value: number, digits = 0) => value.toFixed(digits).padStart(10);
console.log(`\nbroker vs direct: 64-byte payloads, separate processes over loopback TCP, ${cpus().length} cores; medians of 3 runs\n`);
console.log(`${pad("", 46)}${"round trip".padStart(10)} ${"ratio".padStart(6)}  ${"calls/s".padStart(10)} ${"ratio".padStart(6)}`);
for (const row of rows) {
  console.log(
    `${pad(row.name, 46)}${num(row.roundTripUs)}µs ${row.roundTripRatio.toFixed(2).padStart(5)}x ${num(row.perSecond)} ${row.throughputRatio.toFixed(2).padStart(5)}x`,
  );
}
const results = fileURLToPath(new URL("../results/", import.meta.url));
mkdirSync(results, { recursive: true });
writeFileSync(`${results}/broker.json`, `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, rows }, null, 2)}\n`);
console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s; written to bench/results/broker.json)`);
