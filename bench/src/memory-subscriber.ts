/**
 * The slow consumer of the memory benchmark: `node memory-subscriber.js ENDPOINT SECONDS`.
 * A `messaging.Subscriber` connected to ENDPOINT that handles one message per ~1 ms (it awaits
 * a 1 ms timer after each), far slower than the publisher sends. Samples its RSS every 250 ms
 * from the start; after SECONDS closes the socket and prints one JSON line: the samples (bytes),
 * the messages received, the first and last sequence numbers seen, and the socket's stats.
 */
import { messaging } from "@dividere/runtime";
import { PayloadSchema } from "./gen/bench_pb.js";

const HIGH_WATER_MARK = 1000;
const [endpoint, seconds] = process.argv.slice(2);
if (!endpoint || !(Number(seconds) > 0)) throw new Error("usage: memory-subscriber ENDPOINT SECONDS");

const samples: number[] = [process.memoryUsage().rss];
const sampler = setInterval(() => samples.push(process.memoryUsage().rss), 250);
const subscriber = new messaging.Subscriber(endpoint, { types: [PayloadSchema], receiveHighWaterMark: HIGH_WATER_MARK, linger: 0 });
const end = setTimeout(() => void subscriber.close(), Number(seconds) * 1000);

let received = 0;
let firstSequence: bigint | undefined;
let lastSequence = 0n;
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
// Ends when the socket closes.
for await (const message of subscriber) {
  received++;
  firstSequence ??= message.sequence;
  lastSequence = message.sequence;
  await tick();
}
clearTimeout(end);
clearInterval(sampler);
samples.push(process.memoryUsage().rss);
console.log(
  JSON.stringify({
    samples,
    received,
    firstSequence: Number(firstSequence ?? 0n),
    lastSequence: Number(lastSequence),
    stats: subscriber.stats,
  }),
);
