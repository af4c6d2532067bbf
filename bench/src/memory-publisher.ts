/**
 * The fast producer of the memory benchmark: `node memory-publisher.js`. Binds a
 * `messaging.Publisher` on an ephemeral port of 127.0.0.1 and prints the endpoint as its first
 * line; waits for a subscriber, then publishes 1 KiB bench.v1.Payload messages as fast as it
 * can (each send awaited, so no promises pile up; what the subscriber's queues cannot take is
 * not sent, and counted in `stats.unsent`: the Publisher's default `whenFull: "drop"`) until SIGTERM. Samples its own RSS every 250 ms from the start; on SIGTERM prints
 * one JSON line (samples in bytes, messages sent, stats) and exits.
 */
import { create } from "@bufbuild/protobuf";
import { messaging } from "@dividere/runtime";
import { PayloadSchema } from "./gen/bench_pb.js";
import { flood } from "./measure.js";

const PAYLOAD = 1024;
const HIGH_WATER_MARK = 1000;

const samples: number[] = [process.memoryUsage().rss];
const sampler = setInterval(() => samples.push(process.memoryUsage().rss), 250);
let running = true;
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => (running = false));

const publisher = new messaging.Publisher({ bind: "tcp://127.0.0.1:0" }, { types: [PayloadSchema], sendHighWaterMark: HIGH_WATER_MARK, linger: 0 });
console.log(publisher.endpoint);
try {
  await publisher.waitForSubscribers({ timeoutMs: 10_000 });
  const message = create(PayloadSchema, { data: new Uint8Array(PAYLOAD) });
  let sequence = 0n;
  await flood(() => {
    message.sequence = ++sequence;
    return publisher.send(message);
  }, () => running);
} finally {
  clearInterval(sampler);
  samples.push(process.memoryUsage().rss);
  await publisher.close();
}
console.log(JSON.stringify({ samples, sent: publisher.stats.sent, stats: publisher.stats }));
