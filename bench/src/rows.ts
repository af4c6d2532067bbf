/**
 * A benchmark's result rows, and the table they make: every row beside the raw zeromq.js row it
 * is compared with, measured in the same run.
 */
import type { Rounds } from "./measure.js";

/** What a row measures; each group has its own unit and its own raw zeromq.js baseline. */
export type Group =
  | "pub/sub"
  | "round trip"
  | "64 in flight"
  | "stream"
  | "code generation"
  | "memory"
  | "registry lookup"
  | "registry registration"
  | "registry renewal"
  | "registry registrations, 32 clients";

export interface Row {
  group: Group;
  /** What was measured, e.g. "raw zeromq.js PUB/SUB" or "dividere generated client → server". */
  name: string;
  /** Payload bytes per message, where it matters. */
  payload?: number;
  /** The median over the runs. */
  value: number;
  /** Every run's value, in the order taken; the n-th run of each row of a suite was taken in the same round. */
  runs?: number[];
  /** The suite that measured it (main.ts sets it). */
  suite?: string;
  /** msgs/s, µs, req/s, items/s, ms or MiB. */
  unit: string;
  /** A note printed after the row, e.g. "peak 52 MiB, +1 MiB over the last half". */
  note?: string;
}

/** A benchmark: starts its processes, measures, stops them; resolves with its rows. */
export type Suite = (options: SuiteOptions) => Promise<Row[]>;

export interface SuiteOptions {
  /** How many runs each row takes; the row holds their median. */
  rounds: Rounds;
  /** How long one throughput run lasts, ms. */
  durationMs: number;
}

/**
 * The limit rows: raw zeromq.js sending the very frames dividere sends (frames.ts), the floor for
 * this wire format; what a dividere row takes beyond its limit row is dividere's own work.
 */
export const LIMIT = {
  "pub/sub": "limit: raw zeromq.js PUB/SUB of dividere's frames",
  "round trip": "limit: raw zeromq.js DEALER/ROUTER of dividere's frames",
  "64 in flight": "limit: raw zeromq.js DEALER/ROUTER of dividere's frames",
} as const;

/** A row compared with: its group and name; its payload is the compared row's. */
export interface Reference {
  group: Group;
  name: string;
}

/**
 * The raw zeromq.js row each row of a group is compared with. A stream's items are one-way
 * messages as pub/sub's are, with credit granted back and a call around them: streams are
 * compared with raw PUB/SUB of the same payload.
 */
export const BASELINE: Record<Group, Reference | undefined> = {
  "pub/sub": { group: "pub/sub", name: "raw zeromq.js PUB/SUB" },
  "round trip": { group: "round trip", name: "raw zeromq.js REQ/REP" },
  "64 in flight": { group: "64 in flight", name: "raw zeromq.js DEALER/ROUTER" },
  stream: { group: "pub/sub", name: "raw zeromq.js PUB/SUB" },
  "code generation": { group: "code generation", name: "protoc-gen-es" },
  memory: undefined,
  // The registry's rows are compared with the same request to a registry keeping its records in memory.
  "registry lookup": { group: "registry lookup", name: "in-memory store" },
  "registry registration": { group: "registry registration", name: "in-memory store" },
  "registry renewal": { group: "registry renewal", name: "in-memory store" },
  "registry registrations, 32 clients": { group: "registry registrations, 32 clients", name: "in-memory store" },
};

/**
 * The other rows a group's rows are compared with, each ratio given after the row: the limit
 * row of the group (for streams, pub/sub's), and for streams typed pub/sub, the fastest way
 * dividere moves items one way.
 */
export const ALSO: Partial<Record<Group, (Reference & { label: string })[]>> = {
  "pub/sub": [{ group: "pub/sub", name: LIMIT["pub/sub"], label: "limit" }],
  "round trip": [{ group: "round trip", name: LIMIT["round trip"], label: "limit" }],
  "64 in flight": [{ group: "64 in flight", name: LIMIT["64 in flight"], label: "limit" }],
  stream: [
    { group: "pub/sub", name: LIMIT["pub/sub"], label: "limit" },
    { group: "pub/sub", name: "dividere generated Publisher → Subscriber", label: "typed pub/sub" },
  ],
};

/** The row's value divided by that of `reference` of the same payload, or undefined without one. */
export function ratio(row: Row, rows: readonly Row[], reference = BASELINE[row.group]): number | undefined {
  const base = reference && rows.find((other) => other.group === reference.group && other.name === reference.name && other.payload === row.payload);
  return base ? row.value / base.value : undefined;
}

function format(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1);
}

/** The table, one line per row, grouped. */
export function table(rows: readonly Row[]): string {
  const lines: string[] = [];
  const groups = [...new Set(rows.map((row) => row.group))];
  for (const group of groups) {
    const [baseline, also] = [BASELINE[group], ALSO[group] ?? []];
    const after = also.map((reference) => (reference.label === "limit" ? `the limit (${reference.name.replace("limit: ", "")})` : reference.label));
    lines.push("", baseline ? `${group} (ratio to ${baseline.name}${after.length > 0 ? `; after the row, to ${after.join(" and ")}` : ""})` : group);
    for (const row of rows.filter((candidate) => candidate.group === group)) {
      const name = row.payload === undefined ? row.name : `${row.name}, ${row.payload >= 1024 ? `${row.payload / 1024} KiB` : `${row.payload} B`}`;
      const r = ratio(row, rows);
      const ratios = also.map((reference) => {
        const value = reference.name === row.name ? undefined : ratio(row, rows, reference);
        return value === undefined ? undefined : `${value.toFixed(2)}x ${reference.label}`;
      });
      const note = [...ratios, row.note].filter(Boolean).join("; ");
      const value = `${format(row.value)} ${row.unit}`;
      lines.push(`  ${name.padEnd(66)}${value.padStart(16)}${r === undefined ? "" : `${r.toFixed(2).padStart(8)}x`}${note ? `   ${note}` : ""}`);
    }
  }
  return lines.join("\n");
}
