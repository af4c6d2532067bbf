/**
 * `npm run bench`: every benchmark, one table, and a JSON file in bench/results/. Figures are
 * medians over several runs; every row is also given as a ratio to the raw zeromq.js row of its
 * group (for streams, raw PUB/SUB; and typed pub/sub after the row), measured in the same run.
 * Servers and publishers run in their own processes.
 *
 * `node bench/dist/main.js [SUITE...]` runs only the suites named (pubsub, rpc, grpc, nats, codegen, memory).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { codegenSuite } from "./codegen.js";
import { pubsubSuite, rpcSuite } from "./core.js";
import { grpcSuite } from "./grpc.js";
import { memorySuite } from "./memory.js";
import { natsSuite } from "./nats.js";
import { type Row, type Suite, table } from "./rows.js";
import { checkTargets } from "./targets.js";

const options = { runs: 3, durationMs: 1500 };
const allSuites: Record<string, Suite> = {
  pubsub: pubsubSuite,
  rpc: rpcSuite,
  grpc: grpcSuite,
  nats: natsSuite,
  codegen: codegenSuite,
  memory: memorySuite,
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
for (const [name, suite] of suites) {
  const suiteStarted = Date.now();
  process.stderr.write(`bench: ${name}...`);
  rows.push(...(await suite(options)));
  process.stderr.write(` ${((Date.now() - suiteStarted) / 1000).toFixed(0)} s\n`);
}

console.log(`\ndividere benchmarks: separate processes over loopback TCP, ${cpus().length} cores, Node ${process.version}; medians of ${options.runs} runs`);
console.log(table(rows));
const targets = checkTargets(rows);
console.log("\ntargets");
for (const target of targets) {
  const verdict = target.met === undefined ? "not measured" : target.met ? "met" : "NOT met";
  console.log(`  ${target.what.padEnd(46)}${(target.ratio === undefined ? "-" : `${target.ratio.toFixed(2)}x`).padStart(8)}  goal ${target.goal.padEnd(8)} ${verdict}`);
}

const results = fileURLToPath(new URL("../results/", import.meta.url));
mkdirSync(results, { recursive: true });
const file = `${results}bench.json`;
writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, node: process.version, options, rows, targets }, null, 2)}\n`);
console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s; written to ${file})`);
