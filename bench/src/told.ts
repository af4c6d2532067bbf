/**
 * A publisher process of the benchmarks sends only while its parent says so: "go" and "stop",
 * one per line on stdin. Every publisher of a suite is started at once and stays idle, taking
 * no CPU, while the other rows are measured: their runs can then take turns, close together in
 * time, without a process start per run.
 */
import { createInterface } from "node:readline";
import { flood } from "./measure.js";

let going = false;
let ended = false;
let wake: () => void = () => {};
const woken = () => new Promise<void>((resolve) => (wake = resolve));

const lines = createInterface({ input: process.stdin })
  .on("line", (line) => {
    going = line.trim() === "go";
    wake();
  })
  .on("close", () => end());
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => end());

function end(): void {
  ended = true;
  wake();
  // An open stdin would keep the process from exiting once it is done.
  lines.close();
  process.stdin.destroy();
}

/** True once the parent has stopped this process (SIGTERM, or stdin closed). */
export const stopped = (): boolean => ended;

/** Sends with `send` as fast as it goes whenever told "go", until told "stop", again and again until the process is stopped. */
export async function floodWhenTold(send: () => Promise<unknown>): Promise<void> {
  while (!ended) {
    if (!going) {
      await woken();
      continue;
    }
    await flood(send, () => going && !ended);
  }
}
