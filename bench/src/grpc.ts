/**
 * What users would pick instead, part one: unary calls with @grpc/grpc-js (HTTP/2) to a server in
 * its own process over loopback TCP, the messages encoded with protobuf-es as everywhere else;
 * measured in turn with the rows of core.ts.
 */
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { type Payload, PayloadSchema } from "./gen/bench_pb.js";
import { deserialize, ECHO_PATH, serialize } from "./grpc-service.js";
import { type Measurer, latency, throughput } from "./measure.js";
import { type Cleanups, started } from "./processes.js";

const serverProgram = fileURLToPath(new URL("./grpc-server.js", import.meta.url));
const PAYLOAD = 64;
const NAME = "@grpc/grpc-js unary";

/** Round trip and calls per second with 64 concurrent, unary calls to a grpc-js server process. */
export async function grpcMeasurers(cleanups: Cleanups, durationMs: number): Promise<Measurer[]> {
  const port = Number((await started(cleanups, [serverProgram])).ready);
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  cleanups.push(() => client.close());
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
  const request = create(PayloadSchema, { data: new Uint8Array(PAYLOAD) });
  // No deadline: a dead server fails the calls (UNAVAILABLE) anyway, and a timer per call costs.
  const options = {};
  const call = () =>
    new Promise<Payload>((resolve, reject) =>
      client.makeUnaryRequest(ECHO_PATH, serialize, deserialize, request, new Metadata(), options, (error: ServiceError | null, reply?: Payload) =>
        error ? reject(error) : resolve(reply!),
      ),
    );
  return [
    { row: { group: "round trip", name: NAME, payload: PAYLOAD, unit: "µs" }, measure: async () => (await latency(call)).medianUs },
    { row: { group: "64 in flight", name: `${NAME}, 64 concurrent`, payload: PAYLOAD, unit: "req/s" }, measure: () => throughput(call, 64, durationMs) },
  ];
}
