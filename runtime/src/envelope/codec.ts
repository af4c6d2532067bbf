import {
  type DescMessage,
  type Message,
  type MessageInitShape,
  type MessageShape,
  create,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { DividereError } from "../errors.js";
import { type MessageOf, type SchemaOf, TypeRegistry, type Types } from "./types.js";
import {
  TAG_FIELD_1,
  TAG_FIELD_2,
  TYPE_URL_PREFIX,
  encodeUtf8,
  envelopeTopic,
  lengthDelimited,
  readVarint,
  varintSize,
  writeVarint,
} from "./wire.js";

/** The constant bytes of one type's envelopes, computed once per schema. */
interface TypeHeader {
  /** `0A len msgName`: also the type's subscription topic. */
  readonly topic: Uint8Array;
  /** `0A len type_url`: the start of the Any. */
  readonly typeUrl: Uint8Array;
}

const headers = new WeakMap<DescMessage, TypeHeader>();

function headerOf(schema: DescMessage): TypeHeader {
  let header = headers.get(schema);
  if (!header) {
    header = {
      topic: envelopeTopic(schema.typeName),
      typeUrl: lengthDelimited(0x0a, encodeUtf8(TYPE_URL_PREFIX + schema.typeName)),
    };
    headers.set(schema, header);
  }
  return header;
}

/**
 * Wraps the bytes of a message of type `schema` in its envelope, byte for byte what Python
 * dividere's `ProtoBuffEncoder` writes (the Any's value is left out when it is empty).
 */
export function encodeEnvelope(schema: DescMessage, payload: Uint8Array): Uint8Array {
  return writeEnvelope(schema, payload.length, (out, offset) => {
    out.set(payload, offset);
    return offset + payload.length;
  });
}

/**
 * Writes the envelope of a `schema` message whose encoding takes `messageLength` bytes, which
 * `writeMessage` writes at `offset` (returning the offset after them): for a caller that
 * writes a message's fields straight into its envelope instead of encoding, then copying.
 */
export function writeEnvelope(schema: DescMessage, messageLength: number, writeMessage: (out: Uint8Array, offset: number) => number): Uint8Array {
  const { topic, typeUrl } = headerOf(schema);
  const anyLength = typeUrl.length + (messageLength > 0 ? 1 + varintSize(messageLength) + messageLength : 0);
  // From Node's shared pool, not a fresh ArrayBuffer: zeromq.js sends frames over 128 bytes
  // without copying, holding a reference until ZeroMQ is done, and a fresh backing store per
  // message held that way costs the garbage collector more than the send itself. Every byte
  // of it is written below.
  const out: Uint8Array = Buffer.allocUnsafe(topic.length + 1 + varintSize(anyLength) + anyLength);
  out.set(topic, 0);
  let offset = topic.length;
  out[offset++] = TAG_FIELD_2;
  offset = writeVarint(out, offset, anyLength);
  out.set(typeUrl, offset);
  offset += typeUrl.length;
  if (messageLength > 0) {
    out[offset++] = TAG_FIELD_2;
    offset = writeVarint(out, offset, messageLength);
    if (writeMessage(out, offset) !== out.length) {
      throw new Error(`writeEnvelope: ${schema.typeName} message written with another length than ${messageLength}`);
    }
  }
  return out;
}

/** The parts of an envelope, before the payload is parsed. */
export interface EnvelopeParts {
  /** The full name of the message type (`msgName`, which must agree with the Any's `type_url`). */
  readonly typeName: string;
  /** The message bytes (empty for an all-default message). */
  readonly payload: Uint8Array;
}

function notAnEnvelope(why: string, cause?: unknown): DividereError {
  return new DividereError("NOT_AN_ENVELOPE", `received bytes are not a dividere envelope: ${why}`, { cause });
}

/** Reads `{ string 1; bytes 2; }`, the shape of both the envelope and its Any; other fields are skipped. */
function readNameAndBytes(bytes: Uint8Array): { name: string; data: Uint8Array | undefined } {
  let name = "";
  let data: Uint8Array | undefined;
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) name = reader.string(true);
    else if (field === 2 && wireType === WireType.LengthDelimited) data = reader.bytes();
    else reader.skip(wireType, field);
  }
  return { name, data };
}

/**
 * Splits envelope bytes into type name and payload; throws `NOT_AN_ENVELOPE` when they are
 * not one: not protobuf, truncated, without the Any, or with `msgName` and `type_url` naming
 * different types. (Python dividere trusts `msgName` alone; an Any of another type then
 * unpacks there as an empty message. Here it is an error.)
 */
export function parseEnvelope(bytes: Uint8Array): EnvelopeParts {
  if (bytes.length === 0) throw notAnEnvelope("the frame is empty");
  let envelope: ReturnType<typeof readNameAndBytes>;
  try {
    envelope = readNameAndBytes(bytes);
  } catch (error) {
    throw notAnEnvelope(`${(error as Error).message} in ${bytes.length} bytes`, error);
  }
  const msgName = envelope.name;
  if (!envelope.data) {
    throw notAnEnvelope(msgName ? `the ${msgName} envelope holds no message (truncated?)` : `no msgName and no message in ${bytes.length} bytes`);
  }
  let any: ReturnType<typeof readNameAndBytes>;
  try {
    any = readNameAndBytes(envelope.data);
  } catch (error) {
    throw notAnEnvelope(`its Any field is malformed (${(error as Error).message})`, error);
  }
  const typeName = any.name.slice(any.name.lastIndexOf("/") + 1);
  if (!typeName) throw notAnEnvelope("its Any has no type_url");
  if (msgName && msgName !== typeName) {
    throw notAnEnvelope(`msgName "${msgName}" and type_url "${any.name}" name different types`);
  }
  return { typeName, payload: any.data ?? new Uint8Array(0) };
}

/**
 * Encodes messages into envelopes and decodes envelopes into messages of a known set
 * of types: the codec behind every messaging socket.
 *
 * ```ts
 * const codec = new EnvelopeCodec([SaidSchema, JoinedSchema]);
 * const bytes = codec.encode(create(SaidSchema, { text: "hi" }));
 * const msg = codec.decode(bytes); // Said | Joined
 * ```
 */
export class EnvelopeCodec<T extends Types = Types> {
  /** The types this codec encodes and decodes. */
  readonly types: TypeRegistry;

  constructor(types: T) {
    this.types = new TypeRegistry(types);
  }

  /** The envelope of a message; its schema is found by `$typeName`. */
  encode(message: MessageOf<T>): Uint8Array;
  /** The envelope of a message built from `init`. */
  encode<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>): Uint8Array;
  encode(first: Message | DescMessage, init?: unknown): Uint8Array {
    const [schema, message] = this.resolve(first, init);
    return encodeEnvelope(schema, toBinary(schema, message));
  }

  /**
   * The message in an envelope. Throws `NOT_AN_ENVELOPE`, `UNKNOWN_TYPE` (a type outside
   * this codec's types) or `CORRUPT_PAYLOAD`.
   */
  decode(bytes: Uint8Array): MessageOf<T> {
    return this.decodeWithPayload(bytes).message;
  }

  /** As {@link decode}, and the message's own bytes (a view of `bytes`), for a caller that passes them on. */
  decodeWithPayload(bytes: Uint8Array): { message: MessageOf<T>; payload: Uint8Array } {
    const known = this.#knownLayout(bytes);
    const { typeName, payload } = known ?? parseEnvelope(bytes);
    const schema = known?.schema ?? this.types.get(typeName);
    if (!schema) {
      throw new DividereError(
        "UNKNOWN_TYPE",
        `received a ${typeName} message, which is not among this socket's types (${this.types.describe()}); ` +
          `add its schema to the types option, or subscribe only to the types you know`,
      );
    }
    try {
      return { message: fromBinary(schema, payload) as MessageOf<T>, payload };
    } catch (error) {
      throw new DividereError(
        "CORRUPT_PAYLOAD",
        `received a ${typeName} envelope whose ${payload.length}-byte message does not parse: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * The fast path of `decode`: an envelope of a known type laid out as dividere and Python
   * write it (msgName, then the Any with type_url and value) is split by comparing bytes with
   * the type's precomputed header. Anything else (another field order, extra fields, an
   * unknown type, a mismatch) returns undefined and takes the general path, which says what
   * is wrong.
   */
  #knownLayout(bytes: Uint8Array): (EnvelopeParts & { schema: DescMessage }) | undefined {
    if (bytes[0] !== TAG_FIELD_1 || !Buffer.isBuffer(bytes)) return undefined;
    const [nameLength, nameStart] = readVarint(bytes, 1);
    const nameEnd = nameStart + nameLength;
    if (nameLength <= 0 || nameEnd >= bytes.length || bytes[nameEnd] !== TAG_FIELD_2) return undefined;
    // Type names are ASCII; a name that is not decodes differently here and misses the lookup.
    const schema = this.types.get(bytes.toString("latin1", nameStart, nameEnd));
    if (!schema) return undefined;
    const [anyLength, anyStart] = readVarint(bytes, nameEnd + 1);
    if (anyStart + anyLength !== bytes.length) return undefined;
    const { typeUrl } = headerOf(schema);
    if (anyStart + typeUrl.length > bytes.length) return undefined;
    for (let i = 0; i < typeUrl.length; i++) if (bytes[anyStart + i] !== typeUrl[i]) return undefined;
    const valueTag = anyStart + typeUrl.length;
    if (valueTag === bytes.length) return { schema, typeName: schema.typeName, payload: bytes.subarray(valueTag) };
    if (bytes[valueTag] !== TAG_FIELD_2) return undefined;
    const [valueLength, valueStart] = readVarint(bytes, valueTag + 1);
    if (valueStart + valueLength !== bytes.length) return undefined;
    return { schema, typeName: schema.typeName, payload: bytes.subarray(valueStart) };
  }

  /** The subscription topic of a type (schema or full name) this codec knows. */
  topic(type: DescMessage | string): Uint8Array {
    return headerOf(this.types.require(typeof type === "string" ? type : type.typeName)).topic;
  }

  /**
   * The schema and message to encode for `send(message)` or `send(schema, init)`; throws
   * `INVALID_ARGUMENT`/`UNKNOWN_TYPE` with what to do when neither fits.
   */
  resolve(first: Message | DescMessage, init?: unknown): [DescMessage, Message] {
    if (isSchema(first)) {
      const schema = this.types.require(first.typeName);
      return [schema, create(schema, init as MessageInitShape<DescMessage>) as MessageShape<DescMessage>];
    }
    const typeName = (first as Message | undefined)?.$typeName;
    if (typeof typeName !== "string") {
      throw new DividereError(
        "INVALID_ARGUMENT",
        "send() takes a message with $typeName (made by create(FooSchema, ...)), or a schema and an init object: send(FooSchema, { ... })",
      );
    }
    return [this.types.require(typeName), first as Message];
  }
}

function isSchema(value: unknown): value is DescMessage {
  return typeof value === "object" && value !== null && (value as DescMessage).kind === "message";
}
