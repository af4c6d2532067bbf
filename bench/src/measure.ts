/** Measuring: round-trip latency of sequential calls, and throughput with calls in flight. */
import type { Row } from "./rows.js";

export const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Per second, how much `count()` grew over `durationMs` after a warm-up: for receivers that count in a callback. */
export async function countedRate(count: () => number, durationMs: number, warmupMs = 300): Promise<number> {
  await wait(warmupMs);
  const [before, started] = [count(), performance.now()];
  await wait(durationMs);
  return ((count() - before) / (performance.now() - started)) * 1000;
}

/** Median of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The median round trip of `count` sequential calls, in µs, after `warmup` calls. */
export async function latency(call: () => Promise<unknown>, count = 3000, warmup = 300): Promise<{ medianUs: number; p99Us: number }> {
  for (let i = 0; i < warmup; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  return { medianUs: median(samples), p99Us: percentile(samples, 99) };
}

/** Calls per second with `inFlight` calls kept going for `durationMs`, after a warm-up. */
export async function throughput(call: () => Promise<unknown>, inFlight = 64, durationMs = 2000, warmupMs = 300): Promise<number> {
  let counting = false;
  let done = 0;
  let stop = false;
  const loops = Array.from({ length: inFlight }, async () => {
    while (!stop) {
      await call();
      if (counting) done++;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  counting = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const elapsed = performance.now() - started;
  counting = false;
  stop = true;
  await Promise.all(loops);
  return (done / elapsed) * 1000;
}

/**
 * Replies per second with `inFlight` requests outstanding on a socket that does not pair replies
 * with requests itself (a raw Dealer): sends `inFlight`, then one more per reply, for `durationMs`
 * after a warm-up; then takes the replies still due, so the socket is left quiet.
 */
export async function windowed(
  send: () => Promise<void>,
  receive: () => Promise<unknown>,
  inFlight = 64,
  durationMs = 2000,
  warmupMs = 300,
): Promise<number> {
  let outstanding = 0;
  for (; outstanding < inFlight; outstanding++) await send();
  let done = 0;
  let counting = false;
  let stop = false;
  let started = 0;
  const warm = setTimeout(() => ((counting = true), (started = performance.now())), warmupMs);
  const end = setTimeout(() => (stop = true), warmupMs + durationMs);
  let elapsed = 0;
  while (outstanding > 0) {
    await receive();
    outstanding--;
    if (counting && !stop) {
      done++;
      elapsed = performance.now() - started;
    }
    if (!stop) {
      await send();
      outstanding++;
    }
  }
  clearTimeout(warm);
  clearTimeout(end);
  return (done / elapsed) * 1000;
}

/** Messages per second a receive loop takes in `durationMs` after a warm-up. */
export async function receiveRate(receive: () => Promise<unknown>, durationMs = 2000, warmupMs = 300): Promise<number> {
  const warmupEnd = performance.now() + warmupMs;
  while (performance.now() < warmupEnd) await receive();
  let done = 0;
  const started = performance.now();
  const end = started + durationMs;
  let now = started;
  while (now < end) {
    await receive();
    done++;
    // performance.now() per message costs more than the message: look at the clock every 64.
    if (done % 64 === 0) now = performance.now();
  }
  return (done / (performance.now() - started)) * 1000;
}

/** One row's measurement, taken run after run in turn with the other rows of its suite. */
export interface Measurer {
  row: Omit<Row, "value" | "runs">;
  /** One run; the row's value is the median of the runs. */
  measure(): Promise<number>;
}

/** How many runs {@link interleaved} takes: at least `minRuns`, then more, up to `maxRuns`, until `settled` says the rows are stable. */
export interface Rounds {
  minRuns: number;
  maxRuns: number;
  /** Whether the rows measured so far (each with every run's value) are stable enough to stop. */
  settled(rows: readonly Row[]): boolean;
}

/**
 * Runs every measurer once per run, in turn, so that rows compared with each other are measured
 * close together in time; `minRuns` runs, then one more at a time until `settled` (or
 * `maxRuns`). Each row holds the median of its runs, and every run's value.
 */
export async function interleaved(measurers: readonly Measurer[], rounds: Rounds): Promise<Row[]> {
  const values = measurers.map((): number[] => []);
  const rows = () => measurers.map((measurer, index): Row => ({ ...measurer.row, value: median(values[index]!), runs: values[index]! }));
  for (let run = 0; run < rounds.maxRuns; run++) {
    for (const [index, measurer] of measurers.entries()) values[index]!.push(await measurer.measure());
    if (run + 1 >= rounds.minRuns && rounds.settled(rows())) break;
  }
  return rows();
}

/**
 * Sends as fast as `send` allows while `running()` says so. A send that ZeroMQ takes at once
 * resolves without leaving the microtask queue: signals, timers and I/O get in every 256 sends.
 */
export async function flood(send: () => Promise<unknown>, running: () => boolean): Promise<void> {
  for (let sent = 1; running(); sent++) {
    await send();
    if (sent % 256 === 0) await new Promise(setImmediate);
  }
}
