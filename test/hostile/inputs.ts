// Bad input for the fuzz suite: random, truncated, corrupted, oversized and cleverly wrong
// frames, derived from a seed and from valid envelopes of the protocol under attack.
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { msgEnvelopeSchema } from "../../runtime/src/gen/dividere/MsgLib_pb.js";
import { mulberry32 as seeded } from "../random.js";

/** The kinds of bad input, each a way a real peer or attacker gets it wrong. */
export const KINDS = [
  "random bytes",
  "truncated envelope",
  "flipped bytes",
  "huge length prefix",
  "wrong type_url",
  "unknown type",
  "corrupt payload",
  "oversized",
  "wrong frame count",
] as const;
export type Kind = (typeof KINDS)[number];

export interface BadInput {
  kind: Kind;
  frames: Uint8Array[];
}

/** The settings of a run: `FUZZ_SEED` and `FUZZ_INPUTS` (per server) for a longer run on demand. */
export const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
export const INPUTS_PER_SERVER = Number(process.env.FUZZ_INPUTS ?? 15_000);

/**
 * An endless source of bad input for a server that speaks `valid` envelopes, whose
 * `maxEnvelopeSize` is `maxSize` (without one, nothing oversized: 16 MiB frames cost too much to send).
 */
export function badInputs(seed: number, valid: readonly Uint8Array[], maxSize?: number): () => BadInput {
  const random = seeded(seed);
  const int = (below: number) => Math.floor(random() * below);
  const pick = <T>(values: readonly T[]): T => values[int(values.length)]!;
  const bytes = (length: number) => Uint8Array.from({ length }, () => int(256));
  const envelope = (msgName: string, typeUrl: string, value: Uint8Array) =>
    toBinary(msgEnvelopeSchema, create(msgEnvelopeSchema, { msgName, msg: create(AnySchema, { typeUrl, value }) }));
  const nameOf = (bytes: Uint8Array) => Buffer.from(bytes.subarray(2, 2 + bytes[1]!)).toString("latin1");

  const make: Record<Kind, () => Uint8Array[]> = {
    "random bytes": () => [bytes(int(200))],
    "truncated envelope": () => {
      const whole = pick(valid);
      return [whole.subarray(0, int(whole.length))];
    },
    "flipped bytes": () => {
      const copy = Uint8Array.from(pick(valid));
      for (let i = 1 + int(4); i > 0; i--) copy[int(copy.length)] = int(256);
      return [copy];
    },
    "huge length prefix": () => [Uint8Array.from([pick([0x0a, 0x12]), 0xff, 0xff, 0xff, 0xff, 0x0f, ...bytes(int(20))])],
    "wrong type_url": () => {
      const whole = pick(valid);
      return [envelope(nameOf(whole), pick(["type.googleapis.com/evil.Type", "", "x".repeat(300)]), bytes(int(40)))];
    },
    "unknown type": () => [envelope(pick(["no.such.Type", "", "dividere.v1.Nope"]), "type.googleapis.com/no.such.Type", bytes(int(40)))],
    "corrupt payload": () => {
      const name = nameOf(pick(valid));
      return [envelope(name, `type.googleapis.com/${name}`, Uint8Array.from([0x0a, 0xff, 0x01, ...bytes(int(10))]))];
    },
    oversized: () => {
      const name = nameOf(pick(valid));
      return [envelope(name, `type.googleapis.com/${name}`, new Uint8Array(maxSize! + 1 + int(1000)))];
    },
    "wrong frame count": () => (random() < 0.5 ? [pick(valid), pick(valid)] : [bytes(int(10)), bytes(int(10)), pick(valid)]),
  };
  return () => {
    // Oversized frames are costly to send; one in fifty is plenty.
    const kind = maxSize !== undefined && random() < 0.02 ? "oversized" : pick(KINDS.filter((k) => k !== "oversized"));
    return { kind, frames: make[kind]() };
  };
}

/** Counts per kind, for the report line. */
export function tally(inputs: Iterable<Kind>): string {
  const counts = new Map<Kind, number>();
  for (const kind of inputs) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => `${kind} ${count}`).join(", ");
}
