import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import { envelope } from "@dividere/runtime";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { HeaderSchema, RpcRequestSchema, RpcResponseSchema } from "../runtime/src/gen/dividere/v1/rpc_pb.js";
import {
  callerField,
  dispatchedRequestEnvelope,
  requestEnvelope,
  requestHeaderFields,
  responseEnvelope,
  responseMetadataFields,
} from "../runtime/src/rpc/wire.js";
import { methodPath } from "../runtime/src/rpc/types.js";
import { file_test_chat_v1_chat } from "./gen/test/chat/v1/chat_pb.js";
import { mulberry32 as seeded } from "./random.js";

const random = seeded(7);
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
const bytes = () => new Uint8Array(pick([0, 1, 127, 128, 300, 20000])).map(() => Math.floor(random() * 256));
const number = () => pick([0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 - 1, 2 ** 53 - 1]);
const methods = file_test_chat_v1_chat.services.flatMap((service) => service.methods);
/** No metadata (as most calls), or some: text and binary. */
const headers = () => pick([[], [create(HeaderSchema, { name: "tenant", value: bytes() })], [create(HeaderSchema, { name: "a" }), create(HeaderSchema, { name: "t-bin", value: bytes() })]]);
const details = () => pick([[], [anyPack(HeaderSchema, create(HeaderSchema, { name: "detail", value: bytes() }))]]);

describe("RPC envelopes written in one pass are the bytes protobuf-es and encodeEnvelope give", () => {
  test("requests, with and without headers", () => {
    for (let i = 0; i < 500; i++) {
      const fields = { id: number(), method: pick(methods), timeoutMs: pick([0, 1, 1000, 2 ** 32 - 1]), payload: bytes(), caller: pick(["", "host/42", "hôte/1"]), headers: headers() };
      const generic = envelope.encodeEnvelope(RpcRequestSchema, toBinary(RpcRequestSchema, create(RpcRequestSchema, { ...fields, id: BigInt(fields.id), method: methodPath(fields.method) })));
      const written = requestEnvelope({ ...fields, caller: callerField(fields.caller), headers: requestHeaderFields(fields.headers) });
      expect(Buffer.from(written).equals(Buffer.from(generic)), JSON.stringify({ ...fields, payload: fields.payload.length, method: fields.method.name })).toBe(true);
    }
  });

  test("responses, with ids as numbers and as bigints beyond 2^53, with and without headers, trailers and details", () => {
    for (let i = 0; i < 500; i++) {
      const id = pick([number(), 2n ** 53n + 1n, 2n ** 64n - 1n]);
      const fields = { payload: bytes(), more: random() < 0.5, code: pick([0, 1, 14, 16]), message: pick(["", "no", "ça ne va pas"]) };
      const metadata = { headers: headers(), trailers: headers(), details: details() };
      const generic = envelope.encodeEnvelope(RpcResponseSchema, toBinary(RpcResponseSchema, create(RpcResponseSchema, { ...fields, ...metadata, id: BigInt(id) })));
      const written = responseEnvelope({ id, ...fields, metadata: responseMetadataFields(metadata.headers, metadata.trailers, metadata.details) });
      expect(Buffer.from(written).equals(Buffer.from(generic)), JSON.stringify({ ...fields, id: String(id), payload: fields.payload.length })).toBe(true);
    }
  });
});

describe("a call a broker hands on", () => {
  test("keeps every field of the caller's request, known or not, and takes the broker's timeout, time, start-by and verified caller key", () => {
    const codec = new envelope.EnvelopeCodec([RpcRequestSchema]);
    for (let i = 0; i < 500; i++) {
      const fields = {
        id: number(),
        method: pick(methods),
        timeoutMs: pick([0, 1, 1000, 2 ** 32 - 1]),
        payload: bytes(),
        caller: pick(["", "host/42"]),
        // What a caller may claim in the broker's own field: the broker's value replaces it.
        verifiedCallerKey: pick([new Uint8Array(0), new Uint8Array(32).fill(1)]),
      };
      // A field this runtime does not know yet (field 99, a string) must travel on too.
      const unknownField = Buffer.from([0x9a, 0x06, 3, 0x61, 0x62, 0x63]);
      const request = Buffer.concat([toBinary(RpcRequestSchema, create(RpcRequestSchema, { ...fields, id: BigInt(fields.id), method: methodPath(fields.method) })), unknownField]);
      const dispatch = {
        timeoutMs: pick([0, 1, 250, 2 ** 32 - 1]),
        brokerTimeMs: pick([1, 1_796_000_000_000, 2 ** 53 - 1]),
        startByMs: pick([0, 1_796_000_003_000]),
        verifiedCallerKey: pick([new Uint8Array(0), new Uint8Array(32).fill(2)]),
      };
      const handedOn = dispatchedRequestEnvelope(request, dispatch);
      const { message, payload } = codec.decodeWithPayload(Buffer.from(handedOn));
      expect(message).toMatchObject({
        id: BigInt(fields.id),
        method: methodPath(fields.method),
        timeoutMs: dispatch.timeoutMs,
        caller: fields.caller,
        brokerTimeMs: BigInt(dispatch.brokerTimeMs),
        startByMs: BigInt(dispatch.startByMs),
      });
      expect([...message.verifiedCallerKey]).toEqual([...dispatch.verifiedCallerKey]);
      expect(Buffer.from(message.payload).equals(Buffer.from(fields.payload))).toBe(true);
      expect(Buffer.from(payload.subarray(0, request.length)).equals(request)).toBe(true);
      expect(fromBinary(RpcRequestSchema, payload).$unknown?.map((field) => field.no)).toEqual([99]);
    }
  });
});
