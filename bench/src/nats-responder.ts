/**
 * The replying side of the NATS request/reply benchmark, run as its own process:
 *   node nats-responder.js HOST:PORT
 * Answers each request on "bench.echo" with its Payload decoded and encoded again with
 * protobuf-es, prints "ready" once the subscription is registered with the server, stops on SIGTERM.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect } from "nats";
import { PayloadSchema } from "./gen/bench_pb.js";

const [server] = process.argv.slice(2);
const nc = await connect({ servers: server!, reconnect: false });
nc.subscribe("bench.echo", {
  callback: (error, msg) => {
    if (error) throw error;
    msg.respond(toBinary(PayloadSchema, fromBinary(PayloadSchema, msg.data)));
  },
});
await nc.flush();
console.log("ready");

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void nc.close());
}
