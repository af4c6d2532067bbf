/**
 * `npm run bench`: every benchmark, one table, and a JSON file in bench/results/. Figures are
 * medians over several runs; every row is also given as a ratio to the raw zeromq.js row of its
 * group and to its limit row (raw zeromq.js sending dividere's frames; for streams, pub/sub's,
 * and typed pub/sub), measured in the same run. Each suite's rows take turns run by run, at
 * least 3 runs, more (up to 7) until no target's ratio moves by more than 3 % with the last
 * run; the table says when they did not settle. Servers and publishers run in their own processes.
 *
 * `node bench/dist/main.js [SUITE...]` runs only the suites named (pubsub, rpc, codegen, memory, registry).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { codegenSuite } from "./codegen.js";
import { pubsubSuite, rpcSuite } from "./core.js";
import { memorySuite } from "./memory.js";
import { registrySuite } from "./registry.js";
import { type Row, type Suite, table } from "./rows.js";
import { SETTLED_WITHIN, checkTargets, settled } from "./targets.js";

const MIN_RUNS = 3;
const MAX_RUNS = 7;
const options = { durationMs: 1000, rounds: { minRuns: MIN_RUNS, maxRuns: MAX_RUNS, settled } };
const allSuites: Record<string, Suite> = {
  pubsub: pubsubSuite,
  rpc: rpcSuite,
  codegen: codegenSuite,
  memory: memorySuite,
  registry: registrySuite,
};
const chosen = process.argv.slice(2);
const unknown = chosen.filter((name) => !(name in allSuites));
if (unknown.length > 0) {
  console.error(`bench: no suite ${unknown.join(", ")}; the suites are ${Object.keys(allSuites).join(", ")}`);
  process.exit(2);
}
const suites = Object.entries(allSuites).filter(([name]) => chosen.length === 0 || chosen.includes(name));

const started = Date.now();
const rows: Row[] = [];
const stability: string[] = [];
for (const [name, suite] of suites) {
  const suiteStarted = Date.now();
  process.stderr.write(`bench: ${name}...`);
  const measured = (await suite(options)).map((row) => ({ ...row, suite: name }));
  rows.push(...measured);
  const runs = Math.max(...measured.map((row) => row.runs?.length ?? 1));
  const unsettled = runs >= MAX_RUNS && !settled(measured);
  stability.push(`${name}: ${runs} runs${unsettled ? `, NOT settled: some ratio still moved more than ${SETTLED_WITHIN * 100} % with the last run` : ""}`);
  process.stderr.write(` ${((Date.now() - suiteStarted) / 1000).toFixed(0)} s, ${runs} runs\n`);
}

console.log(`\ndividere benchmarks: separate processes over loopback TCP, ${cpus().length} cores, Node ${process.version}; medians of each suite's runs (${stability.join("; ")})`);
console.log(table(rows));
const targets = checkTargets(rows);
console.log("\ntargets (median of the runs' ratios, and the least and greatest of one run)");
for (const target of targets) {
  const verdict = target.met === undefined ? "not measured" : target.met ? "met" : "NOT met";
  const value = target.ratio === undefined ? "-" : target.ratio.toFixed(2);
  const spread = target.spread && target.rounds > 1 ? `${target.spread[0].toFixed(2)}-${target.spread[1].toFixed(2)}` : "";
  console.log(`  ${target.what.padEnd(48)}${value.padStart(7)}  ${spread.padEnd(10)}  goal ${target.goal.padEnd(8)} ${verdict}`);
}

const results = fileURLToPath(new URL("../results/", import.meta.url));
mkdirSync(results, { recursive: true });
const file = `${results}bench.json`;
writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, node: process.version, options: { durationMs: options.durationMs, minRuns: MIN_RUNS, maxRuns: MAX_RUNS }, rows, targets }, null, 2)}\n`);
console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s; written to ${file})`);
