// What a fuzz run sent, and what it must find the server counted: both as named counters, so
// that the test compares them key by key and a miscounted input shows as a difference.
import { expect } from "vitest";
import { eventually } from "../helpers.js";

/** Named counters, e.g. `{ "dropped.NOT_AN_ENVELOPE": 3, "reply.UNIMPLEMENTED": 1 }`. */
export type Counts = Record<string, number>;

/** One generated input: the frames to send and the counters it must move, by how much. */
export interface FuzzInput {
  /** What kind of wrong it is, for the report. */
  readonly kind: string;
  readonly frames: readonly Uint8Array[];
  readonly expect: Counts;
  /** An input that must follow this one at once, in the same batch (a second call while the first is in flight). */
  readonly then?: FuzzInput;
}

/** The settings of a run: a fixed seed and size by default; `FUZZ_SEED` and `FUZZ_INPUTS` (per server) for a longer one. */
export const SEED = Number(process.env.FUZZ_SEED ?? 8);
export const INPUTS_PER_SERVER = Number(process.env.FUZZ_INPUTS ?? 15_000);
/** Inputs sent before waiting for the server's counters to catch up: well under ZeroMQ's high-water mark of 1000. */
export const BATCH = 500;

/** Adds `more` to `into`, key by key. */
export function add(into: Counts, more: Counts): Counts {
  for (const [key, count] of Object.entries(more)) into[key] = (into[key] ?? 0) + count;
  return into;
}

/** The counters of `actual` under the keys of `expected` and the nonzero ones of `actual`: what to compare. */
function comparable(actual: Counts, expected: Counts): Counts {
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual).filter((key) => actual[key] !== 0)]);
  return Object.fromEntries([...keys].sort().map((key) => [key, actual[key] ?? 0]));
}

function sorted(counts: Counts): Counts {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

function same(actual: Counts, expected: Counts): boolean {
  const seen = comparable(actual, expected);
  return Object.keys(seen).every((key) => seen[key] === (expected[key] ?? 0));
}

/** Waits (bounded) until the server's counters equal `expected` exactly, then asserts it, showing the difference if not. */
export async function caughtUp(actual: () => Counts, expected: Counts, what: string, timeoutMs = 10_000): Promise<void> {
  await eventually(() => same(actual(), expected), timeoutMs, what).catch(() => undefined);
  expect(comparable(actual(), expected), what).toEqual(sorted(expected));
}

/**
 * Sends `total` inputs from `next` through `send`, in batches; after each batch waits until
 * `actual()` equals what the inputs so far say it must, so a miscounted input is caught in the
 * batch it was in and no queue fills unseen. Returns how many inputs of each kind went out.
 */
export async function attack(
  server: string,
  total: number,
  next: () => FuzzInput,
  send: (input: FuzzInput) => Promise<void>,
  actual: () => Counts,
): Promise<{ kinds: Counts; expected: Counts }> {
  const kinds: Counts = {};
  const expected: Counts = {};
  for (let sent = 0; sent < total; ) {
    const batch = Math.min(BATCH, total - sent);
    let inBatch = 0;
    while (inBatch < batch) {
      for (let input: FuzzInput | undefined = next(); input; input = input.then) {
        add(kinds, { [input.kind]: 1 });
        add(expected, input.expect);
        await send(input);
        inBatch++;
      }
    }
    sent += inBatch;
    await caughtUp(actual, expected, `${server}: the counters after ${sent} inputs (seed ${SEED})`);
  }
  return { kinds, expected };
}

/** One line per server for the log: how many inputs, of which kinds, and where they were counted. */
export function report(server: string, kinds: Counts, expected: Counts): string {
  const total = Object.values(kinds).reduce((sum, count) => sum + count, 0);
  const list = (counts: Counts) =>
    Object.entries(counts)
      .sort(([, a], [, b]) => b - a)
      .map(([key, count]) => `${key} ${count}`)
      .join(", ");
  return `fuzz ${server}: ${total} bad inputs (seed ${SEED}): ${list(kinds)}\n  counted as: ${list(expected)}`;
}
