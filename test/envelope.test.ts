import { readFileSync } from "node:fs";
import { create, createRegistry, equals, fromJson, toBinary, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { describe, expect, test } from "vitest";
import { DividereError, MsgLib, envelope } from "@dividere/runtime";
import * as prefix from "./gen/test/prefix_pb.js";
import * as TestMsg from "./gen/test/TestMsg_pb.js";

/** Bytes captured from the Python original (copied from ../shared/interop/vectors.json; see interop/README.md there). */
interface Vector {
  id: string;
  full_name: string;
  json: JsonValue;
  msgName: string;
  inner_hex: string;
  envelope_hex: string;
  topic_hex: string;
  topic_matches_envelope: boolean;
  envelope_prefix_hex: string;
}
const { vectors } = JSON.parse(readFileSync(new URL("./interop/vectors.json", import.meta.url), "utf8")) as { vectors: Vector[] };

const registry = createRegistry(TestMsg.file_test_TestMsg, MsgLib.file_dividere_MsgLib);
const codec = new envelope.EnvelopeCodec([TestMsg.file_test_TestMsg, MsgLib.file_dividere_MsgLib]);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const unhex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));

function schemaOf(name: string): DescMessage {
  const schema = registry.getMessage(name);
  if (!schema) throw new Error(`no schema for ${name}`);
  return schema;
}

/** Envelope bytes the generic protobuf-es way: msgEnvelope { msgName, msg: anyPack(...) }. */
function genericEnvelope(schema: DescMessage, message: Parameters<typeof anyPack>[1]): Uint8Array {
  return toBinary(MsgLib.msgEnvelopeSchema, create(MsgLib.msgEnvelopeSchema, { msgName: schema.typeName, msg: anyPack(schema, message) }));
}

function decodeError(bytes: Uint8Array): DividereError {
  try {
    codec.decode(bytes);
  } catch (error) {
    if (error instanceof DividereError) return error;
    throw error;
  }
  throw new Error("decode did not fail");
}

describe("vectors captured from Python dividere", () => {
  test("cover messages of both Python proto files", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(16);
    expect(new Set(vectors.map((v) => v.full_name))).toContain("RediscoverReq");
  });

  test.each(vectors.map((v) => [v.id, v] as const))("%s encodes to the Python bytes", (_id, vector) => {
    const schema = schemaOf(vector.full_name);
    const message = fromJson(schema, vector.json);
    expect(hex(toBinary(schema, message))).toBe(vector.inner_hex);
    expect(hex(codec.encode(message))).toBe(vector.envelope_hex);
    expect(hex(codec.encode(schema, message))).toBe(vector.envelope_hex);
  });

  test.each(vectors.map((v) => [v.id, v] as const))("%s decodes from the Python bytes", (_id, vector) => {
    const schema = schemaOf(vector.full_name);
    const decoded = codec.decode(unhex(vector.envelope_hex));
    expect(decoded.$typeName).toBe(vector.msgName);
    expect(equals(schema, decoded, fromJson(schema, vector.json))).toBe(true);
  });

  test.each(vectors.map((v) => [v.id, v] as const))("%s: the topic is the envelope's own prefix", (_id, vector) => {
    const topic = codec.topic(vector.full_name);
    expect(hex(topic)).toBe(vector.envelope_prefix_hex);
    expect(vector.envelope_hex.startsWith(hex(topic))).toBe(true);
    // Python's topicId writes 0A 08 name: it matches the envelope only for 8-byte names.
    const pythonTopic = `0a08${Buffer.from(vector.msgName).toString("hex")}`;
    expect(vector.topic_hex).toBe(pythonTopic);
    expect(vector.envelope_hex.startsWith(pythonTopic)).toBe(vector.topic_matches_envelope);
    expect(vector.topic_matches_envelope).toBe(Buffer.byteLength(vector.msgName) === 8);
  });
});

describe("encoding", () => {
  const long = prefix.AMessageWhoseFullNameIsLongerThanOneHundredAndTwentySevenBytesSoThatTheLengthPrefixInItsEnvelopeAndTopicTakesTwoVarintBytesSchema;
  const cases: [string, DescMessage, Parameters<typeof anyPack>[1]][] = [
    ["packaged type", prefix.Msg01Schema, create(prefix.Msg01Schema, { field1: "x" })],
    ["name over 127 bytes (two-byte length)", long, create(long, { field1: "y".repeat(300) })],
    ["payload over 16 KiB (three-byte length)", TestMsg.testDtMsg15Schema, create(TestMsg.testDtMsg15Schema, { field1: new Uint8Array(20_000).fill(7) })],
    ["all-default message (Any without value)", TestMsg.testNestedMsg02Schema, create(TestMsg.testNestedMsg02Schema)],
  ];
  const wide = new envelope.EnvelopeCodec([prefix.file_test_prefix, TestMsg.file_test_TestMsg]);

  test.each(cases)("%s: same bytes as protobuf-es msgEnvelope + anyPack, and back", (_name, schema, message) => {
    const bytes = wide.encode(message as never);
    expect(hex(bytes)).toBe(hex(genericEnvelope(schema, message)));
    expect(equals(schema, wide.decode(bytes), message)).toBe(true);
    expect(hex(bytes).startsWith(hex(envelope.envelopeTopic(schema.typeName)))).toBe(true);
  });

  test("the long name's topic carries a two-byte varint length", () => {
    const topic = envelope.envelopeTopic(long.typeName);
    expect(long.typeName.length).toBeGreaterThan(127);
    expect([...topic.subarray(0, 3)]).toEqual([0x0a, (long.typeName.length & 0x7f) | 0x80, long.typeName.length >> 7]);
  });

  test("send(schema, init) and send(message) give the same bytes", () => {
    const init = { field1: "abcd", field2: 7 };
    expect(hex(codec.encode(TestMsg.testMsg01Schema, init))).toBe(hex(codec.encode(create(TestMsg.testMsg01Schema, init))));
  });

  test("a type outside the codec's types is refused with UNKNOWN_TYPE, naming it", () => {
    expect(() => codec.encode(create(prefix.Msg01Schema) as never)).toThrow(/test\.prefix\.Msg01.*not among/);
    expect(() => codec.encode(create(prefix.Msg01Schema) as never)).toThrow(expect.objectContaining({ code: "UNKNOWN_TYPE" }));
  });

  test("a plain object without $typeName is refused with INVALID_ARGUMENT", () => {
    expect(() => codec.encode({ field1: "x" } as never)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  test("types from a schema list, a registry and generated files are all accepted", () => {
    const bytes = codec.encode(TestMsg.testMsg01Schema, { field1: "q" });
    for (const types of [[TestMsg.testMsg01Schema], createRegistry(TestMsg.file_test_TestMsg), TestMsg.file_test_TestMsg]) {
      const one = new envelope.EnvelopeCodec(types);
      expect((one.decode(bytes) as TestMsg.testMsg01).field1).toBe("q");
    }
    expect(() => new envelope.EnvelopeCodec([{ nope: true } as never])).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("decoding bad input gives a typed error that says what was wrong", () => {
  const good = codec.encode(TestMsg.testMsg01Schema, { field1: "abcd", field2: 7 });

  test("an empty frame", () => {
    expect(decodeError(new Uint8Array(0))).toMatchObject({ code: "NOT_AN_ENVELOPE", message: expect.stringMatching(/empty/) });
  });

  test("garbage bytes", () => {
    expect(decodeError(unhex("ffffffffffffffffffff"))).toMatchObject({ code: "NOT_AN_ENVELOPE" });
    expect(decodeError(Buffer.from("hello, world"))).toMatchObject({ code: "NOT_AN_ENVELOPE" });
  });

  test("every truncation of a valid envelope", () => {
    for (let length = 1; length < good.length; length++) {
      expect(decodeError(good.subarray(0, length)).code, `truncated to ${length} bytes`).toBe("NOT_AN_ENVELOPE");
    }
  });

  test("an unknown type name", () => {
    const other = new envelope.EnvelopeCodec([prefix.Msg01abcSchema]).encode(prefix.Msg01abcSchema, { field1: "x" });
    expect(decodeError(other)).toMatchObject({ code: "UNKNOWN_TYPE", message: expect.stringContaining("test.prefix.Msg01abc") });
  });

  test("msgName and type_url that disagree", () => {
    const bytes = toBinary(
      MsgLib.msgEnvelopeSchema,
      create(MsgLib.msgEnvelopeSchema, { msgName: "testMsg01", msg: anyPack(TestMsg.testDtMsg03Schema, create(TestMsg.testDtMsg03Schema)) }),
    );
    expect(decodeError(bytes)).toMatchObject({ code: "NOT_AN_ENVELOPE", message: expect.stringMatching(/different types/) });
  });

  test("a corrupt payload inside a valid envelope", () => {
    // testMsg01.field1 claims 16 bytes but holds 2: the Any is intact, the message is not.
    const bytes = envelope.encodeEnvelope(TestMsg.testMsg01Schema, unhex("0a106869"));
    expect(decodeError(bytes)).toMatchObject({ code: "CORRUPT_PAYLOAD", message: expect.stringContaining("testMsg01") });
  });

  test("invalid UTF-8 in the type name", () => {
    expect(decodeError(unhex("0a02ff fe12020a00".replace(" ", "")))).toMatchObject({ code: "NOT_AN_ENVELOPE" });
  });

  test("unknown extra fields are skipped, as protobuf allows", () => {
    const extended = Buffer.concat([good, unhex("1801")]); // field 3 varint
    expect((codec.decode(extended) as TestMsg.testMsg01).field1).toBe("abcd");
  });
});

describe("the fast path of decoding agrees with the general one", () => {
  const message = create(TestMsg.testMsg01Schema, { field1: "abcd", field2: 7 });
  const inner = toBinary(TestMsg.testMsg01Schema, message);
  const name = Buffer.from("testMsg01");
  const url = Buffer.from("type.googleapis.com/testMsg01");
  const field = (tag: number, bytes: Uint8Array) => Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);

  test("on the layout dividere and Python write, as Buffer and as plain Uint8Array", () => {
    const bytes = codec.encode(message);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(equals(TestMsg.testMsg01Schema, codec.decode(bytes) as TestMsg.testMsg01, message)).toBe(true);
    expect(equals(TestMsg.testMsg01Schema, codec.decode(new Uint8Array(bytes)) as TestMsg.testMsg01, message)).toBe(true);
  });

  test("on other field orders and extra fields, which the general path reads", () => {
    const any = (...fields: Buffer[]) => field(0x12, Buffer.concat(fields));
    const layouts = {
      "value before type_url": Buffer.concat([field(0x0a, name), any(field(0x12, inner), field(0x0a, url))]),
      "msgName after the Any": Buffer.concat([any(field(0x0a, url), field(0x12, inner)), field(0x0a, name)]),
      "an extra field inside the Any": Buffer.concat([field(0x0a, name), any(field(0x0a, url), field(0x12, inner), Buffer.from([0x18, 0x01]))]),
    };
    for (const [layout, bytes] of Object.entries(layouts)) {
      expect(equals(TestMsg.testMsg01Schema, codec.decode(bytes) as TestMsg.testMsg01, message), layout).toBe(true);
    }
  });

  test("a type_url of another type behind a known msgName is refused, not decoded as msgName says", () => {
    const other = Buffer.from("type.googleapis.com/testDtMsg03");
    const bytes = Buffer.concat([field(0x0a, name), field(0x12, Buffer.concat([field(0x0a, other), field(0x12, inner)]))]);
    expect(decodeError(bytes)).toMatchObject({ code: "NOT_AN_ENVELOPE", message: expect.stringMatching(/different types/) });
  });
});

describe("topics", () => {
  test("a prefix-sharing name never matches: Msg01 vs Msg01abc", () => {
    const a = envelope.envelopeTopic("test.prefix.Msg01");
    const b = new envelope.EnvelopeCodec([prefix.file_test_prefix]).encode(prefix.Msg01abcSchema, { field1: "x" });
    expect(Buffer.from(b).subarray(0, a.length).equals(Buffer.from(a))).toBe(false);
  });

  test("the topic of a type outside the codec's types is refused", () => {
    expect(() => codec.topic("test.prefix.Msg01")).toThrow(expect.objectContaining({ code: "UNKNOWN_TYPE" }));
  });
});
