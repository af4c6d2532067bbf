/**
 * A benchmark's result rows, and the table they make: every row beside the raw zeromq.js row of
 * its group, measured in the same run.
 */

/** What a row measures; each group has its own unit and its own raw zeromq.js baseline. */
export type Group = "pub/sub" | "round trip" | "64 in flight" | "code generation" | "memory";

export interface Row {
  group: Group;
  /** What was measured, e.g. "raw zeromq.js PUB/SUB" or "dividere generated client → server". */
  name: string;
  /** Payload bytes per message, where it matters. */
  payload?: number;
  /** The median over the runs. */
  value: number;
  /** msgs/s, µs, req/s, ms or MiB. */
  unit: string;
  /** A note printed after the row, e.g. "peak 52 MiB, +1 MiB over the last half". */
  note?: string;
}

/** A benchmark: starts its processes, measures, stops them; resolves with its rows. */
export type Suite = (options: SuiteOptions) => Promise<Row[]>;

export interface SuiteOptions {
  /** Runs per row; the row holds their median. */
  runs: number;
  /** How long one throughput run lasts, ms. */
  durationMs: number;
}

/** The raw zeromq.js row each row of a group is compared with. */
export const RAW: Record<Group, string | undefined> = {
  "pub/sub": "raw zeromq.js PUB/SUB",
  "round trip": "raw zeromq.js REQ/REP",
  "64 in flight": "raw zeromq.js DEALER/ROUTER",
  "code generation": "protoc-gen-es",
  memory: undefined,
};

/** The row's value divided by its baseline's, or undefined without one. */
export function ratio(row: Row, rows: readonly Row[]): number | undefined {
  const base = rows.find((other) => other.group === row.group && other.name === RAW[row.group] && other.payload === row.payload);
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
    lines.push("", RAW[group] ? `${group} (ratio to ${RAW[group]})` : group);
    for (const row of rows.filter((candidate) => candidate.group === group)) {
      const name = row.payload === undefined ? row.name : `${row.name}, ${row.payload >= 1024 ? `${row.payload / 1024} KiB` : `${row.payload} B`}`;
      const r = ratio(row, rows);
      const value = `${format(row.value)} ${row.unit}`;
      lines.push(`  ${name.padEnd(66)}${value.padStart(16)}${r === undefined ? "" : `${r.toFixed(2).padStart(8)}x`}${row.note ? `   ${row.note}` : ""}`);
    }
  }
  return lines.join("\n");
}
