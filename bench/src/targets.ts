/**
 * The speed targets of the benchmarks, each a ratio between two rows measured in the same
 * rounds (or, for memory, a bound on one row), and when the rounds have settled enough to
 * trust them.
 */
import { median } from "./measure.js";
import { LIMIT, type Row } from "./rows.js";

/** [group, name, payload] of a row; payload 64 unless given. */
type RowId = [Row["group"], string, number?];

interface Target {
  what: string;
  row: RowId;
  /** The row it is compared with; none for a bound on the row's own value. */
  against?: RowId;
  /** The ratio (or value) must be at least `min` or at most `max`. */
  min?: number;
  max?: number;
}

const DIRECT = "dividere generated client → server";
const BROKER = "dividere generated client → broker → worker";
const TYPED_PUBSUB = "dividere generated Publisher → Subscriber";
const BY_HAND_PUBSUB = "by hand: zeromq.js + protobuf-es";
const KiB = 1024;

export const TARGETS: Target[] = [
  { what: "typed pub/sub vs the limit, 64 B", row: ["pub/sub", TYPED_PUBSUB], against: ["pub/sub", LIMIT["pub/sub"]], min: 0.95 },
  { what: "typed pub/sub vs the limit, 1 KiB", row: ["pub/sub", TYPED_PUBSUB, KiB], against: ["pub/sub", LIMIT["pub/sub"], KiB], min: 0.95 },
  { what: "typed pub/sub vs by hand, 1 KiB", row: ["pub/sub", TYPED_PUBSUB, KiB], against: ["pub/sub", BY_HAND_PUBSUB, KiB], min: 1.0 },
  { what: "typed pub/sub vs by hand, 64 KiB", row: ["pub/sub", TYPED_PUBSUB, 64 * KiB], against: ["pub/sub", BY_HAND_PUBSUB, 64 * KiB], min: 1.0 },
  { what: "RPC round trip vs by-hand REQ/REP", row: ["round trip", DIRECT], against: ["round trip", "by hand: zeromq.js + protobuf-es REQ/REP"], max: 1.15 },
  { what: "RPC round trip vs nats", row: ["round trip", DIRECT], against: ["round trip", "nats request/reply"], max: 0.5 },
  { what: "RPC round trip vs grpc-js", row: ["round trip", DIRECT], against: ["round trip", "@grpc/grpc-js unary"], max: 0.4 },
  { what: "RPC 64 in flight vs by-hand DEALER/ROUTER", row: ["64 in flight", `${DIRECT}, 64 in flight`], against: ["64 in flight", "by hand: zeromq.js + protobuf-es DEALER/ROUTER"], min: 0.9 },
  { what: "RPC 64 in flight vs nats", row: ["64 in flight", `${DIRECT}, 64 in flight`], against: ["64 in flight", "nats request/reply, 64 in flight"], min: 2 },
  { what: "RPC 64 in flight vs grpc-js", row: ["64 in flight", `${DIRECT}, 64 in flight`], against: ["64 in flight", "@grpc/grpc-js unary, 64 concurrent"], min: 8 },
  { what: "broker round trip vs direct", row: ["round trip", BROKER], against: ["round trip", DIRECT], max: 1.6 },
  { what: "broker throughput vs direct", row: ["64 in flight", `${BROKER}, 64 in flight`], against: ["64 in flight", `${DIRECT}, 64 in flight`], min: 0.6 },
  { what: "server stream vs typed pub/sub", row: ["stream", "dividere server stream → server"], against: ["pub/sub", TYPED_PUBSUB], min: 0.8 },
  { what: "client stream vs typed pub/sub", row: ["stream", "dividere client stream → server"], against: ["pub/sub", TYPED_PUBSUB], min: 0.8 },
  { what: "bidi stream vs typed pub/sub", row: ["stream", "dividere bidi stream → server"], against: ["pub/sub", TYPED_PUBSUB], min: 0.8 },
  { what: "publisher memory growth, MiB (slow consumer)", row: ["memory", "dividere Publisher, RSS growth over the second half"], max: 5 },
  { what: "code generation vs protoc-gen-es", row: ["code generation", "protoc-gen-dividere"], against: ["code generation", "protoc-gen-es"], max: 1.5 },
];

export interface TargetResult {
  what: string;
  /** The median of the rounds' ratios (or the row's value, for a bound). */
  ratio: number | undefined;
  /** The least and greatest ratio of a single round. */
  spread: [number, number] | undefined;
  /** How many rounds gave a ratio. */
  rounds: number;
  goal: string;
  met: boolean | undefined;
}

function find(rows: readonly Row[], [group, name, payload = 64]: RowId): Row | undefined {
  return rows.find((row) => row.group === group && row.name === name && (row.payload === undefined || row.payload === payload));
}

/**
 * A target's ratio in each round: rows of one suite were measured in the same rounds, their
 * n-th runs close together in time, so dividing run by run cancels what the machine did in
 * that round. Rows of different suites (streams against pub/sub) were not: their medians are
 * divided instead, one "round".
 */
function roundRatios(row: Row, against: Row | undefined): number[] {
  if (!against) return (row.runs ?? [row.value]).filter(Number.isFinite);
  const [a, b] = [row.runs, against.runs];
  const sameRounds = row.suite === against.suite && a !== undefined && b !== undefined && a.length === b.length;
  return (sameRounds ? a.map((value, index) => value / b[index]!) : [row.value / against.value]).filter(Number.isFinite);
}

/** Each target measured in `rows`, with its ratio. */
export function checkTargets(rows: readonly Row[]): TargetResult[] {
  return TARGETS.map((target) => {
    const row = find(rows, target.row);
    const against = target.against && find(rows, target.against);
    const ratios = row && (against || !target.against) ? roundRatios(row, against) : [];
    const ratio = ratios.length > 0 ? median(ratios) : undefined;
    const spread: [number, number] | undefined = ratios.length > 0 ? [Math.min(...ratios), Math.max(...ratios)] : undefined;
    const suffix = target.against ? "x" : "";
    const goal = target.min !== undefined ? `≥ ${target.min}${suffix}` : `≤ ${target.max}${suffix}`;
    const met = ratio === undefined ? undefined : target.min !== undefined ? ratio >= target.min : ratio <= target.max!;
    return { what: target.what, ratio, spread, rounds: ratios.length, goal, met };
  });
}

/** How far the median ratio of a target may move with its last round for the rounds to count as settled. */
export const SETTLED_WITHIN = 0.03;

/**
 * Whether more rounds would hardly move any target the rows of one suite measure: for each, the median
 * of its rounds' ratios with the last round and without it differ by less than 3 %.
 */
export function settled(rows: readonly Row[]): boolean {
  return TARGETS.every((target) => {
    const row = find(rows, target.row);
    const against = target.against && find(rows, target.against);
    if (!row || (target.against && !against)) return true;
    const ratios = roundRatios(row, against);
    if (ratios.length < 2) return true;
    const [all, before] = [median(ratios), median(ratios.slice(0, -1))];
    return Math.abs(all - before) <= SETTLED_WITHIN * Math.abs(all);
  });
}
