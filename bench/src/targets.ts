/** The speed targets of the benchmarks, each a ratio between two rows of the same run. */
import type { Row } from "./rows.js";

interface Target {
  what: string;
  /** [group, name, payload] of the row measured, and of the row it is compared with. */
  row: [Row["group"], string];
  against: [Row["group"], string];
  /** The ratio must be at least `min` or at most `max`. */
  min?: number;
  max?: number;
}

const DIRECT = "dividere generated client → server";
const BROKER = "dividere generated client → broker → worker";

export const TARGETS: Target[] = [
  { what: "typed pub/sub vs by hand", row: ["pub/sub", "dividere generated Publisher → Subscriber"], against: ["pub/sub", "by hand: zeromq.js + protobuf-es"], min: 1.0 },
  { what: "RPC round trip vs by-hand REQ/REP", row: ["round trip", DIRECT], against: ["round trip", "by hand: zeromq.js + protobuf-es REQ/REP"], max: 1.15 },
  { what: "RPC round trip vs nats", row: ["round trip", DIRECT], against: ["round trip", "nats request/reply"], max: 0.5 },
  { what: "RPC round trip vs grpc-js", row: ["round trip", DIRECT], against: ["round trip", "@grpc/grpc-js unary"], max: 0.4 },
  { what: "RPC 64 in flight vs by-hand DEALER/ROUTER", row: ["64 in flight", `${DIRECT}, 64 in flight`], against: ["64 in flight", "by hand: zeromq.js + protobuf-es DEALER/ROUTER"], min: 0.9 },
  { what: "RPC 64 in flight vs nats", row: ["64 in flight", `${DIRECT}, 64 in flight`], against: ["64 in flight", "nats request/reply, 64 in flight"], min: 1.5 },
  { what: "RPC 64 in flight vs grpc-js", row: ["64 in flight", `${DIRECT}, 64 in flight`], against: ["64 in flight", "@grpc/grpc-js unary, 64 concurrent"], min: 6 },
  { what: "broker round trip vs direct", row: ["round trip", BROKER], against: ["round trip", DIRECT], max: 2 },
  { what: "broker throughput vs direct", row: ["64 in flight", `${BROKER}, 64 in flight`], against: ["64 in flight", `${DIRECT}, 64 in flight`], min: 0.5 },
  { what: "code generation vs protoc-gen-es", row: ["code generation", "protoc-gen-dividere"], against: ["code generation", "protoc-gen-es"], max: 1.5 },
];

export interface TargetResult {
  what: string;
  ratio: number | undefined;
  goal: string;
  met: boolean | undefined;
}

/** Each target with its ratio in `rows` (64-byte payloads where the payload varies). */
export function checkTargets(rows: readonly Row[]): TargetResult[] {
  const find = ([group, name]: [Row["group"], string]) => rows.find((row) => row.group === group && row.name === name && (row.payload === undefined || row.payload === 64));
  return TARGETS.map((target) => {
    const [row, against] = [find(target.row), find(target.against)];
    const ratio = row && against && Number.isFinite(row.value) && Number.isFinite(against.value) ? row.value / against.value : undefined;
    const goal = target.min !== undefined ? `≥ ${target.min}x` : `≤ ${target.max}x`;
    const met = ratio === undefined ? undefined : target.min !== undefined ? ratio >= target.min : ratio <= target.max!;
    return { what: target.what, ratio, goal, met };
  });
}
