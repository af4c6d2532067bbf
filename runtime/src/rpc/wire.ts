/**
 * The envelopes of RpcRequest and RpcResponse, written in one pass: the fields go straight
 * into the envelope buffer, with the method path and the caller pre-encoded, instead of
 * building a message, encoding it and copying it into its envelope. The bytes are exactly
 * what protobuf-es writes for the same message (fields in number order, defaults left out);
 * test/rpc-wire.test.ts holds both side by side.
 */
import { type DescMethod, create, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { writeEnvelope } from "../envelope/codec.js";
import { encodeUtf8, lengthDelimited, varintSize, writeVarint } from "../envelope/wire.js";
import { type Header, RpcCreditSchema, RpcRequestItemSchema, RpcRequestSchema, RpcResponseSchema } from "../gen/dividere/v1/rpc_pb.js";
import { methodPath } from "./types.js";

const NO_BYTES = new Uint8Array(0);
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const tag = (field: number, wireType: number) => (field << 3) | wireType;

/** Field 2 of RpcRequest, the method path, ready to copy: `12 len "/pkg.Service/Method"`. */
const methodFields = new WeakMap<DescMethod, Uint8Array>();

function methodField(method: DescMethod): Uint8Array {
  let field = methodFields.get(method);
  if (!field) {
    field = lengthDelimitedField(2, encodeUtf8(methodPath(method)));
    methodFields.set(method, field);
  }
  return field;
}

/** `tag len bytes`, or nothing for empty bytes (proto3 leaves defaults out). */
function lengthDelimitedField(field: number, bytes: Uint8Array): Uint8Array {
  return bytes.length === 0 ? bytes : lengthDelimited(tag(field, LENGTH_DELIMITED), bytes);
}

const varintFieldSize = (value: number) => (value === 0 ? 0 : 1 + varintSize(value));
const bytesFieldSize = (length: number) => (length === 0 ? 0 : 1 + varintSize(length) + length);

/** A call id: a number, or a bigint above 2^53 (from another client), written as protobuf writes a uint64. */
function idFieldSize(id: number | bigint): number {
  if (typeof id === "number") return varintFieldSize(id);
  let size = 1;
  for (let rest = id; rest >= 0x80n; rest >>= 7n) size++;
  return id === 0n ? 0 : 1 + size;
}

function putIdField(out: Uint8Array, offset: number, id: number | bigint): number {
  if (typeof id === "number") return putVarintField(out, offset, 1, id);
  if (id === 0n) return offset;
  out[offset++] = tag(1, VARINT);
  for (; id >= 0x80n; id >>= 7n) out[offset++] = Number(id & 0x7fn) | 0x80;
  out[offset++] = Number(id);
  return offset;
}

function putVarintField(out: Uint8Array, offset: number, field: number, value: number): number {
  if (value === 0) return offset;
  out[offset] = tag(field, VARINT);
  return writeVarint(out, offset + 1, value);
}

function putBytesField(out: Uint8Array, offset: number, field: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return offset;
  out[offset] = tag(field, LENGTH_DELIMITED);
  offset = writeVarint(out, offset + 1, bytes.length);
  out.set(bytes, offset);
  return offset + bytes.length;
}

/** What a request carries; `id` below 2^53. */
export interface RequestFields {
  readonly id: number;
  readonly method: DescMethod;
  readonly timeoutMs: number;
  readonly payload: Uint8Array;
  /** Field 5 pre-encoded, from {@link callerField}. */
  readonly caller: Uint8Array;
  /** The request headers (field 8) pre-encoded, from {@link requestHeaderFields}; none by default. */
  readonly headers?: Uint8Array;
  /** A CURVE client's key and proof (fields 9, 10) pre-encoded, from `callerKeyFields`; none by default. */
  readonly identity?: Uint8Array;
  /** Replies the caller takes before it grants more (field 11), for a method that answers with a stream; 0 by default. */
  readonly responseWindow?: number;
}

/** Field 5 of RpcRequest, the caller's name, pre-encoded once per process. */
export function callerField(caller: string): Uint8Array {
  return lengthDelimitedField(5, encodeUtf8(caller));
}

/** The envelope of an RpcRequest. */
export function requestEnvelope({ id, method, timeoutMs, payload, caller, headers = NO_BYTES, identity = NO_BYTES, responseWindow = 0 }: RequestFields): Uint8Array {
  const path = methodField(method);
  const length =
    varintFieldSize(id) + path.length + varintFieldSize(timeoutMs) + bytesFieldSize(payload.length) + caller.length + headers.length + identity.length + varintFieldSize(responseWindow);
  return writeEnvelope(RpcRequestSchema, length, (out, offset) => {
    offset = putVarintField(out, offset, 1, id);
    out.set(path, offset);
    offset = putVarintField(out, offset + path.length, 3, timeoutMs);
    offset = putBytesField(out, offset, 4, payload);
    out.set(caller, offset);
    offset += caller.length;
    out.set(headers, offset);
    out.set(identity, offset + headers.length);
    return putVarintField(out, offset + headers.length + identity.length, 11, responseWindow);
  });
}

/** The envelope of an RpcRequestItem: a message of a request stream, or (`end`) its half-close. */
export function requestItemEnvelope(id: number, payload: Uint8Array, end = false): Uint8Array {
  const length = varintFieldSize(id) + bytesFieldSize(payload.length) + (end ? 2 : 0);
  return writeEnvelope(RpcRequestItemSchema, length, (out, offset) => {
    offset = putVarintField(out, offset, 1, id);
    offset = putBytesField(out, offset, 2, payload);
    return putVarintField(out, offset, 3, end ? 1 : 0);
  });
}

/** The envelope of an RpcCredit: the reader of stream `id` lets its writer send `items` more. */
export function creditEnvelope(id: number | bigint, items: number): Uint8Array {
  return writeEnvelope(RpcCreditSchema, idFieldSize(id) + varintFieldSize(items), (out, offset) => putVarintField(out, putIdField(out, offset, id), 2, items));
}

/**
 * Field 8 of RpcRequest, the request headers, encoded. Metadata is rare and small beside the
 * payload: protobuf-es writes it (the fields of a message that has only them are exactly
 * their encoding), the hand-written fields stay for what every call has.
 */
export function requestHeaderFields(headers: readonly Header[]): Uint8Array {
  return headers.length === 0 ? NO_BYTES : toBinary(RpcRequestSchema, create(RpcRequestSchema, { headers: headers as Header[] }));
}

/** Fields 6 to 8 of RpcResponse (headers, trailers, error details), encoded; see {@link requestHeaderFields}. */
export function responseMetadataFields(headers: readonly Header[], trailers: readonly Header[], details: readonly Any[]): Uint8Array {
  if (headers.length === 0 && trailers.length === 0 && details.length === 0) return NO_BYTES;
  return toBinary(RpcResponseSchema, create(RpcResponseSchema, { headers: headers as Header[], trailers: trailers as Header[], details: details as Any[] }));
}

/** What a broker adds to a call it hands a worker (see RpcRequest in rpc.proto); times in the broker's clock, ms. */
export interface DispatchFields {
  /** The time left until the caller's deadline; 0: none. */
  readonly timeoutMs: number;
  readonly brokerTimeMs: number;
  readonly startByMs: number;
  /** The caller's key as the broker verified it (32 bytes); empty: the caller proved none. */
  readonly verifiedCallerKey: Uint8Array;
}

/**
 * The envelope of a request (its RpcRequest bytes, as the caller sent them) with a broker's
 * dispatch fields after them. Protobuf takes the last value of a field that comes twice, so
 * `timeout_ms` is replaced; every other field, known or not, goes on unchanged.
 */
export function dispatchedRequestEnvelope(request: Uint8Array, { timeoutMs, brokerTimeMs, startByMs, verifiedCallerKey }: DispatchFields): Uint8Array {
  const timeoutField = 1 + varintSize(timeoutMs);
  const keyField = 2 + verifiedCallerKey.length;
  const length = request.length + timeoutField + varintFieldSize(brokerTimeMs) + varintFieldSize(startByMs) + keyField;
  return writeEnvelope(RpcRequestSchema, length, (out, offset) => {
    out.set(request, offset);
    offset += request.length;
    // Written even when 0: "no deadline" must replace the caller's value too.
    out[offset++] = tag(3, VARINT);
    offset = writeVarint(out, offset, timeoutMs);
    offset = putVarintField(out, offset, 6, brokerTimeMs);
    offset = putVarintField(out, offset, 7, startByMs);
    // Written even when empty: it replaces whatever the caller put in field 12.
    out[offset++] = tag(12, LENGTH_DELIMITED);
    out[offset++] = verifiedCallerKey.length;
    out.set(verifiedCallerKey, offset);
    return offset + verifiedCallerKey.length;
  });
}

/** What a response carries: `id` as the request had it, `code` a StatusCode number. */
export interface ResponseFields {
  readonly id: number | bigint;
  readonly payload?: Uint8Array;
  readonly more?: boolean;
  readonly code?: number;
  readonly message?: string;
  /** Fields 6 to 8 pre-encoded, from {@link responseMetadataFields}; none by default. */
  readonly metadata?: Uint8Array;
}

/** The envelope of an RpcResponse. */
export function responseEnvelope({ id, payload = NO_BYTES, more = false, code = 0, message = "", metadata = NO_BYTES }: ResponseFields): Uint8Array {
  const text = message ? encodeUtf8(message) : NO_BYTES;
  const length = idFieldSize(id) + bytesFieldSize(payload.length) + (more ? 2 : 0) + varintFieldSize(code) + bytesFieldSize(text.length) + metadata.length;
  return writeEnvelope(RpcResponseSchema, length, (out, offset) => {
    offset = putIdField(out, offset, id);
    offset = putBytesField(out, offset, 2, payload);
    offset = putVarintField(out, offset, 3, more ? 1 : 0);
    offset = putVarintField(out, offset, 4, code);
    offset = putBytesField(out, offset, 5, text);
    out.set(metadata, offset);
    return offset + metadata.length;
  });
}
