// Frames that look more or less like dividere envelopes and are not valid ones, each with the
// drop reason a receiving socket must count it under. The bytes are written by hand, not
// through protobuf-es, so that any field can be wrong in any way.
import { type DescMessage, type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import type { messaging } from "@dividere/runtime";
import type { Random } from "../random.js";
import type { Counts } from "./tally.js";

export type DropReason = messaging.DropReason;

const TYPE_URL_PREFIX = "type.googleapis.com/";
const utf8 = (text: string) => Buffer.from(text, "utf8");

/** The bytes of a varint; `value` up to 2^64 - 1. */
export function varint(value: number | bigint): number[] {
  const out: number[] = [];
  let rest = BigInt(value);
  for (; rest >= 0x80n; rest >>= 7n) out.push(Number(rest & 0x7fn) | 0x80);
  out.push(Number(rest));
  return out;
}

/** `tag varint(len) bytes`. */
export function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
}

/** `tag varint(value)`. */
export function varintField(field: number, value: number | bigint): Buffer {
  return Buffer.from([...varint(field << 3), ...varint(value)]);
}

/** The envelope `{ msgName; Any { type_url; value } }`, with the Any's fields given as bytes. */
export function envelopeOf(msgName: Uint8Array | string, any: Uint8Array): Buffer {
  return Buffer.concat([lengthDelimited(1, typeof msgName === "string" ? utf8(msgName) : msgName), lengthDelimited(2, any)]);
}

/** The Any `{ type_url; value }`. */
export function anyOf(typeUrl: string, value: Uint8Array): Buffer {
  return Buffer.concat([lengthDelimited(1, utf8(typeUrl)), lengthDelimited(2, value)]);
}

/** A well-formed envelope of `typeName` around `payload`, whatever the type and the payload. */
export function wellFormed(typeName: string, payload: Uint8Array): Buffer {
  return envelopeOf(typeName, anyOf(TYPE_URL_PREFIX + typeName, payload));
}

/** A message of a type a server speaks: its schema and how to make a valid one. */
export interface Sample {
  readonly schema: DescMessage;
  readonly init: (random: Random) => MessageInitShape<DescMessage>;
}

/** The valid payload of a sample; never empty, so that every truncation of its envelope cuts into a field. */
export function payloadOf(sample: Sample, random: Random): Buffer {
  const bytes = toBinary(sample.schema, create(sample.schema, sample.init(random)));
  return bytes.length > 0 ? Buffer.from(bytes) : Buffer.from(varintField(1000, 1));
}

/**
 * A length prefix that runs past the end of the `rest` bytes after it, up to 2^32 - 1 (a varint
 * of more than 32 bits wraps around in protobuf readers, and may then be a valid short length).
 */
function hugeLength(random: Random, rest: number): number {
  return random.pick([rest + 1, rest + 1 + random.below(1000), 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, random.between(rest + 1, 2 ** 32 - 1)]);
}

/**
 * Bytes that make any message's parse fail wherever they are appended: an illegal wire type, a
 * field number 0, an unknown field longer than what is left, a varint or group cut off.
 */
export function corruption(random: Random): Buffer {
  const which = random.below(5);
  if (which === 0) return Buffer.from([(random.between(1, 15) << 3) | random.pick([6, 7])]);
  if (which === 1) return Buffer.from([random.below(6), ...random.bytes(random.below(4))]);
  if (which === 2) {
    const tail = random.bytes(random.below(8));
    return Buffer.concat([Buffer.from([...varint((1000 << 3) | 2), ...varint(hugeLength(random, tail.length))]), tail]);
  }
  if (which === 3) return Buffer.from([0x80 | random.below(0x80)]);
  return Buffer.from([(random.between(1, 15) << 3) | 3]);
}

/** A type name no server knows, and no URL path either (a `/` would make msgName and type_url disagree). */
function unknownTypeName(random: Random): string {
  const name = random.text(40).replaceAll("/", "_");
  return random.pick([`fuzz.${name}`, `fuzz.v1.${name}Request`, `${name}.Unknown`, "test.prefix.Msg01abc"]);
}

/** One bad frame of a kind, and the reason it must be dropped for. */
export interface BadFrame {
  readonly kind: string;
  readonly bytes: Buffer;
  readonly reason: DropReason;
}

/**
 * Bad envelope frames for a server that speaks `samples`, drops envelopes over
 * `maxEnvelopeSize`, and is sent oversized ones with weight `oversizedWeight` (large frames cost
 * time to send: keep it small where the limit is the default 16 MiB).
 */
export class BadEnvelopes {
  readonly #random: Random;
  readonly #samples: readonly Sample[];
  readonly #maxEnvelopeSize: number;
  readonly #kinds: readonly (readonly [number, () => BadFrame])[];

  constructor(random: Random, samples: readonly Sample[], options: { maxEnvelopeSize: number; oversizedWeight: number }) {
    this.#random = random;
    this.#samples = samples;
    this.#maxEnvelopeSize = options.maxEnvelopeSize;
    this.#kinds = [
      [3, () => this.#randomBytes()],
      [1, () => ({ kind: "empty frame", bytes: Buffer.alloc(0), reason: "NOT_AN_ENVELOPE" })],
      [3, () => this.#truncated()],
      [3, () => this.#hugeLengthPrefix()],
      [2, () => this.#mismatchedNames()],
      [1, () => this.#withoutType()],
      [1, () => this.#invalidUtf8Name()],
      [3, () => this.#unknownType()],
      [3, () => this.#corruptPayload()],
      [options.oversizedWeight, () => this.#oversized()],
    ];
  }

  /** The next bad frame. */
  next(): BadFrame {
    return this.#random.weighted(this.#kinds)();
  }

  /** A valid envelope of one of the server's types, to put where it does not belong. */
  valid(): Buffer {
    return this.validOf().bytes;
  }

  /** A valid envelope of one of the samples, and the sample's type. */
  validOf(): { typeName: string; bytes: Buffer } {
    const sample = this.#random.pick(this.#samples);
    return { typeName: sample.schema.typeName, bytes: wellFormed(sample.schema.typeName, payloadOf(sample, this.#random)) };
  }

  /** Counter increments of dropping a frame for `reason`. */
  static dropped(reason: DropReason): Counts {
    return { [`dropped.${reason}`]: 1 };
  }

  // Random bytes parse as an envelope of a known type with odds far below 2^-64: not an envelope.
  #randomBytes(): BadFrame {
    return { kind: "random bytes", bytes: this.#random.bytes(this.#random.between(1, 300)), reason: "NOT_AN_ENVELOPE" };
  }

  // The envelope's Any field covers everything after the name, so any cut leaves it short.
  #truncated(): BadFrame {
    const whole = this.valid();
    return { kind: "truncated envelope", bytes: whole.subarray(0, this.#random.between(1, whole.length - 1)), reason: "NOT_AN_ENVELOPE" };
  }

  #hugeLengthPrefix(): BadFrame {
    const random = this.#random;
    const sample = random.pick(this.#samples);
    const name = utf8(sample.schema.typeName);
    const value = payloadOf(sample, random);
    const url = utf8(TYPE_URL_PREFIX + sample.schema.typeName);
    const tooLong = (field: number, bytes: Buffer) => Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(hugeLength(random, bytes.length))]), bytes]);
    // Which length lies: msgName's, the Any's, type_url's inside the Any, or the value's. The
    // lying field goes last in its message, so that its length runs past the end (field order
    // is free in protobuf).
    const where = random.below(4);
    const frame =
      where === 0
        ? Buffer.concat([lengthDelimited(2, anyOf(url.toString(), value)), tooLong(1, name)])
        : where === 1
          ? Buffer.concat([lengthDelimited(1, name), tooLong(2, anyOf(url.toString(), value))])
          : envelopeOf(name, where === 2 ? Buffer.concat([lengthDelimited(2, value), tooLong(1, url)]) : Buffer.concat([lengthDelimited(1, url), tooLong(2, value)]));
    return this.#notAnEnvelope("huge length prefix", frame);
  }

  // msgName says one type, type_url another (Python would unpack the wrong type; here it is an error).
  #mismatchedNames(): BadFrame {
    const [first, second] = [this.#random.pick(this.#samples), this.#random.pick(this.#samples)];
    const other = first === second ? unknownTypeName(this.#random) : second.schema.typeName;
    return this.#notAnEnvelope("msgName and type_url disagree", envelopeOf(first.schema.typeName, anyOf(TYPE_URL_PREFIX + other, payloadOf(first, this.#random))));
  }

  #withoutType(): BadFrame {
    const sample = this.#random.pick(this.#samples);
    const value = payloadOf(sample, this.#random);
    const any = this.#random.pick([lengthDelimited(2, value), anyOf(TYPE_URL_PREFIX, value), anyOf(`${TYPE_URL_PREFIX}${sample.schema.typeName}/`, value)]);
    const bytes = this.#random.chance(0.2) ? lengthDelimited(1, utf8(sample.schema.typeName)) : envelopeOf(this.#random.chance(0.5) ? sample.schema.typeName : "", any);
    return this.#notAnEnvelope("no type_url or no Any", bytes);
  }

  #invalidUtf8Name(): BadFrame {
    const sample = this.#random.pick(this.#samples);
    const name = Buffer.concat([utf8(sample.schema.typeName), Buffer.from([this.#random.pick([0xff, 0xc0, 0xed, 0x80])])]);
    return this.#notAnEnvelope("msgName not UTF-8", envelopeOf(name, anyOf(TYPE_URL_PREFIX + sample.schema.typeName, payloadOf(sample, this.#random))));
  }

  #unknownType(): BadFrame {
    const random = this.#random;
    const name = unknownTypeName(random);
    const url = random.pick([TYPE_URL_PREFIX, "", "example.com/types/"]) + name;
    const value = random.chance(0.5) ? payloadOf(random.pick(this.#samples), random) : random.bytes(random.below(64));
    return { kind: "unknown type", bytes: envelopeOf(random.chance(0.8) ? name : "", anyOf(url, value)), reason: "UNKNOWN_TYPE" };
  }

  #corruptPayload(): BadFrame {
    const sample = this.#random.pick(this.#samples);
    const payload = Buffer.concat([this.#random.chance(0.7) ? payloadOf(sample, this.#random) : Buffer.alloc(0), corruption(this.#random)]);
    return { kind: "Any value does not parse", bytes: wellFormed(sample.schema.typeName, payload), reason: "CORRUPT_PAYLOAD" };
  }

  // Over the limit, and otherwise valid: the size alone must get it dropped.
  #oversized(): BadFrame {
    const sample = this.#random.pick(this.#samples);
    const padding = Buffer.alloc(this.#maxEnvelopeSize + this.#random.below(1000));
    const payload = Buffer.concat([payloadOf(sample, this.#random), lengthDelimited(1000, padding)]);
    return { kind: "oversized", bytes: wellFormed(sample.schema.typeName, payload), reason: "OVERSIZED" };
  }

  #notAnEnvelope(kind: string, bytes: Buffer): BadFrame {
    return { kind, bytes, reason: "NOT_AN_ENVELOPE" };
  }
}
