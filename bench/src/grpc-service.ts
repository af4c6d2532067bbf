/**
 * The Bench service for @grpc/grpc-js, written by hand: the method's path and its protobuf-es
 * serializers, no @grpc/proto-loader. Shared by the gRPC benchmark and its server.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { type Payload, PayloadSchema } from "./gen/bench_pb.js";

export const ECHO_PATH = "/bench.v1.Bench/Echo";

export const serialize = (payload: Payload): Buffer => {
  const bytes = toBinary(PayloadSchema, payload);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
export const deserialize = (bytes: Buffer): Payload => fromBinary(PayloadSchema, bytes);

const echo: MethodDefinition<Payload, Payload> = {
  path: ECHO_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: serialize,
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: deserialize,
};

export const BenchService: ServiceDefinition = { echo };
