/**
 * Items per second through one stream of each streaming kind, with the generated Bench client:
 * 64-byte payloads, each run a new stream, the first `warmupMs` not counted. Each checks that
 * every item arrived, in order, so a fast figure cannot come from a stream that lost items.
 */
import type { BenchClient } from "./gen/bench_dividere.js";

const PAYLOAD = 64;
const data = new Uint8Array(PAYLOAD);
// One deadline covers a whole stream: far past a run, so only a stuck stream meets it.
const options = { timeoutMs: 60_000 };
// performance.now() per item costs more than it measures: look at the clock every 64 items.
const CLOCK_EVERY = 64;

function outOfOrder(kind: string, expected: number, got: bigint): Error {
  return new Error(`bench: the ${kind} stream's item ${expected} came as item ${got}: the stream lost or reordered items`);
}

/** Server stream: the replies the client reads per second, the server writing as fast as the client grants credit. */
export async function serverStreamRate(client: BenchClient, durationMs: number, warmupMs = 300): Promise<number> {
  const replies = client.download({ data, sequence: 0n }, options)[Symbol.asyncIterator]();
  let read = 0;
  let counted = 0;
  let started = 0;
  const warmupEnd = performance.now() + warmupMs;
  try {
    for (let now = performance.now(); started === 0 || now < started + durationMs; ) {
      const next = await replies.next();
      if (next.done) throw new Error("bench: a server stream ended while the client was still reading");
      if (next.value.sequence !== BigInt(read)) throw outOfOrder("server", read, next.value.sequence);
      read++;
      if (started !== 0) counted++;
      if (read % CLOCK_EVERY === 0) {
        now = performance.now();
        if (started === 0 && now >= warmupEnd) started = now;
      }
    }
    return (counted / (performance.now() - started)) * 1000;
  } finally {
    // Stops reading: cancels the stream, which ends the server's generator.
    await replies.return?.();
  }
}

/**
 * Client stream: the items the client writes per second after the warm-up, as fast as the
 * server grants credit, over the time from the warm-up's end to the reply; the reply comes once
 * the server has read every item, and says how many it read.
 */
export async function clientStreamRate(client: BenchClient, durationMs: number, warmupMs = 300): Promise<number> {
  let written = 0;
  let before = 0;
  let started = 0;
  const warmupEnd = performance.now() + warmupMs;
  async function* requests() {
    for (;;) {
      if (written % CLOCK_EVERY === 0) {
        const now = performance.now();
        if (started === 0 && now >= warmupEnd) [started, before] = [now, written];
        if (started !== 0 && now >= started + durationMs) return;
      }
      yield { data, sequence: BigInt(written++) };
    }
  }
  const { sequence: taken } = await client.upload(requests(), options);
  const elapsed = performance.now() - started;
  if (taken !== BigInt(written)) throw new Error(`bench: the server took ${taken} items of a client stream of ${written}`);
  return ((written - before) / elapsed) * 1000;
}

/**
 * Bidi stream: the items the client writes and reads back (the server echoes each) per second,
 * counted as they are read back. At the end the writer half-closes and the client reads the
 * rest; every item written must come back, in order.
 */
export async function bidiStreamRate(client: BenchClient, durationMs: number, warmupMs = 300): Promise<number> {
  let written = 0;
  let stop = false;
  async function* requests() {
    while (!stop) yield { data, sequence: BigInt(written++) };
  }
  let read = 0;
  let counted = 0;
  let started = 0;
  let elapsed = 0;
  const warmupEnd = performance.now() + warmupMs;
  for await (const { sequence } of client.chat(requests(), options)) {
    if (sequence !== BigInt(read)) throw outOfOrder("bidi", read, sequence);
    read++;
    if (started !== 0 && !stop) counted++;
    if (read % CLOCK_EVERY === 0 && !stop) {
      const now = performance.now();
      if (started === 0 && now >= warmupEnd) started = now;
      else if (started !== 0 && now >= started + durationMs) [stop, elapsed] = [true, now - started];
    }
  }
  if (read !== written) throw new Error(`bench: a bidi stream read back ${read} items of the ${written} written`);
  return (counted / elapsed) * 1000;
}
