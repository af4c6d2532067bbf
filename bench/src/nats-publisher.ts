/**
 * The publishing side of the NATS pub/sub benchmark, run as its own process:
 *   node nats-publisher.js HOST:PORT SIZE
 * Publishes Payloads of SIZE bytes, encoded with protobuf-es, on "bench.feed.SIZE" as fast as it can
 * whenever told to (told.ts), until SIGTERM; prints "ready" once connected. Every 256 KiB or so it asks the server to confirm
 * it has taken what was published (a flush: PING, PONG) and, before publishing further, waits for
 * the confirmation of the batch before: at most two batches are on their way, so the client's
 * buffer stays small and a server holding back a slow subscriber holds this publisher back too.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { connect } from "nats";
import { PayloadSchema } from "./gen/bench_pb.js";
import { floodWhenTold, stopped } from "./told.js";

const [server, size] = process.argv.slice(2);
const data = new Uint8Array(Number(size));
const perFlush = Math.max(1, Math.floor((256 * 1024) / Math.max(1, data.byteLength)));
const nc = await connect({ servers: server!, reconnect: false });
console.log("ready");

let sequence = 0n;
let flushed: Promise<void> = Promise.resolve();
try {
  await floodWhenTold(async () => {
    // Each message encoded on its own, as a program publishing its data would.
    for (let i = 0; i < perFlush; i++) nc.publish(`bench.feed.${size}`, toBinary(PayloadSchema, create(PayloadSchema, { data, sequence: sequence++ })));
    await flushed;
    flushed = nc.flush();
  });
  await flushed;
} catch (error) {
  if (!stopped()) throw error;
} finally {
  await nc.close();
}
