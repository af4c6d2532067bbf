/**
 * The serving side of the benchmarks, run as its own process:
 *   node server.js direct ENDPOINT        an RpcServer bound at ENDPOINT
 *   node server.js worker BACKEND N       a broker Worker taking N calls at once
 * Prints one line when ready; stops on SIGTERM.
 */
import { RpcServer, Worker } from "@dividere/runtime";
import { BenchDefinition, type BenchService } from "./gen/bench_dividere.js";

const echo: BenchService = { echo: (payload) => payload };

const [role, endpoint, capacity] = process.argv.slice(2);
let stop: () => Promise<void>;
if (role === "direct") {
  const server = new RpcServer({ bind: endpoint! }).add(BenchDefinition, echo);
  stop = () => server.close(0);
} else if (role === "worker") {
  const worker = new Worker(endpoint!, { capacity: Number(capacity), workerId: "bench" }).add(BenchDefinition, echo).start();
  stop = () => worker.stop(0);
} else {
  throw new Error(`unknown role ${role}`);
}
console.log("ready");
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void stop());
