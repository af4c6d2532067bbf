/**
 * The gRPC side of the alternatives benchmark, run as its own process: serves Bench.Echo with
 * @grpc/grpc-js on an ephemeral port of 127.0.0.1 (insecure), prints the port as its first line,
 * stops on SIGTERM.
 */
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import type { Payload } from "./gen/bench_pb.js";
import { BenchService } from "./grpc-service.js";

const server = new Server();
server.addService(BenchService, {
  // Decoded by the method's requestDeserialize, encoded again by its responseSerialize.
  echo: (call: ServerUnaryCall<Payload, Payload>, callback: sendUnaryData<Payload>) => callback(null, call.request),
});

const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
console.log(port);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => server.forceShutdown());
}
