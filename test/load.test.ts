// Bounded queues under load: a slow subscriber under a fast publisher (each in its own process),
// a publisher that blocks, and a client's bound on calls in flight (see docs/limits.md).
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { DividereError, RpcServer, connection, directTransport, type Transport } from "@dividere/runtime";
import type { Channel } from "../runtime/src/rpc/channel.js";
import { EchoClient, EchoDefinition, type EchoService } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { connectTo, eventually, transports } from "./helpers.js";
import { type Child, node } from "./processes.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const MiB = 1024 * 1024;

interface Counters {
  attempts: number;
  timeouts: number;
  sequence: number;
  sent: number;
  unsent: number;
}
interface Seen {
  received: number;
  missing: number;
  gaps: number;
  last: number;
  ordered: boolean;
}

/**
 * Runs load-publisher.mjs (publishing flat out for `seconds` with `whenFull: mode`) against
 * slow-subscriber.mjs (one message per 2 ms), then lets the subscriber catch up and take the
 * end mark. Returns the publisher's counters and RSS samples, and what the subscriber saw.
 */
async function slowSubscriber(mode: "drop" | "block", seconds: number) {
  const publisher = node(fixture("load-publisher.mjs"), mode, String(seconds));
  let subscriber: Child | undefined;
  try {
    const { ready } = await publisher.next();
    subscriber = node(fixture("slow-subscriber.mjs"), String(ready), "2");
    const flooded = (await publisher.next(seconds * 1000 + 10_000)) as { flooded: Counters; samples: number[] };
    subscriber.kill("SIGUSR1"); // catch up, so the end mark arrives soon
    const { done } = (await publisher.next(20_000)) as { done: Counters };
    const seen = (await subscriber.next(20_000)) as unknown as Seen;
    await subscriber.finished();
    return { flooded: flooded.flooded, samples: flooded.samples, done, seen };
  } finally {
    subscriber?.kill();
    publisher.kill();
  }
}

/** Checks RSS samples taken every 100 ms through a run of `seconds`: level through the second half, and sane at the peak. */
function expectBoundedMemory(samples: number[], seconds: number): { peak: number; secondHalf: number } {
  // Samples come from a timer: as many as expected means the send loop never starved the event loop.
  expect(samples.length).toBeGreaterThanOrEqual(seconds * 5);
  const middle = samples[Math.floor(samples.length / 2)]!;
  const last = samples[samples.length - 1]!;
  const peak = Math.max(...samples);
  expect(last - middle).toBeLessThan(30 * MiB);
  expect(peak).toBeLessThan(250 * MiB);
  return { peak: peak / MiB, secondHalf: (last - middle) / MiB };
}

describe("a slow subscriber under a fast publisher", () => {
  test('whenFull "drop": the publisher\'s memory stays bounded, and every lost message is counted', { timeout: 40_000 }, async () => {
    const { flooded, samples, done, seen } = await slowSubscriber("drop", 3);
    const memory = expectBoundedMemory(samples, 3);
    console.log(`drop: publisher RSS peak ${memory.peak.toFixed(1)} MiB, ${memory.secondHalf.toFixed(1)} MiB over the second half; ${JSON.stringify(done)}; subscriber ${JSON.stringify(seen)}`);
    // The subscriber fell behind: most messages could not be sent, and none failed its caller.
    expect(flooded.unsent).toBeGreaterThan(flooded.sent);
    expect(done.timeouts).toBe(0);
    // Every send is accounted for: sent or counted unsent.
    expect(done.sent + done.unsent).toBe(done.attempts);
    expect(done.sequence).toBe(done.attempts);
    // What was sent arrived, all of it, in order (NODROP: a message goes out whole or not at all);
    // the numbers missing between them are exactly the ones counted unsent.
    expect(seen).toMatchObject({ received: done.sent, missing: done.unsent, last: done.sequence, ordered: true });
    expect(seen.gaps).toBeGreaterThan(0);
  });

  test('whenFull "block": sends wait for the subscriber and time out with TIMEOUT; memory bounded, nothing lost', { timeout: 40_000 }, async () => {
    const { flooded, samples, done, seen } = await slowSubscriber("block", 2);
    const memory = expectBoundedMemory(samples, 2);
    console.log(`block: publisher RSS peak ${memory.peak.toFixed(1)} MiB, ${memory.secondHalf.toFixed(1)} MiB over the second half; ${JSON.stringify(done)}; subscriber ${JSON.stringify(seen)}`);
    expect(flooded.timeouts).toBeGreaterThan(0);
    expect(done.unsent).toBe(0);
    expect(done.sent + done.timeouts).toBe(done.attempts);
    expect(seen).toMatchObject({ received: done.sent, missing: 0, gaps: 0, last: done.sent, ordered: true });
  });

  test('whenFull "block" without sendTimeout: a send waits until the subscriber reads, then goes out', async () => {
    await using pub = new connection.Publisher(transports.inproc(), { whenFull: "block", sendHighWaterMark: 2 });
    await using sub = new connection.Subscriber(connectTo(pub), { receiveHighWaterMark: 2 });
    await pub.waitForSubscribers({ timeoutMs: 2000 });
    let settled = 0;
    const sends = Array.from({ length: 10 }, (_, i) => pub.send(String(i)).then(() => void settled++));
    // The queues hold a few (inproc: both high-water marks); the rest must wait, not fail or vanish.
    await eventually(() => settled > 0, 2000, "the first sends went out");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBeLessThan(10);
    const received: string[] = [];
    for (let i = 0; i < 10; i++) received.push((await sub.recv({ timeoutMs: 2000 }))[0]!.toString());
    await Promise.all(sends);
    expect(received).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(pub.stats).toMatchObject({ sent: 10, unsent: 0 });
  });

  test("close() ends a send that waits for room with CLOSED, without waiting for it", async () => {
    const pub = new connection.Publisher(transports.inproc(), { whenFull: "block", sendHighWaterMark: 1 });
    await using sub = new connection.Subscriber(connectTo(pub), { receiveHighWaterMark: 1 });
    await pub.waitForSubscribers({ timeoutMs: 2000 });
    const sends = Array.from({ length: 5 }, (_, i) => pub.send(String(i)));
    await eventually(() => pub.stats.sent >= 2, 2000, "the queues filled");
    const closing = Date.now();
    await pub.close();
    expect(Date.now() - closing).toBeLessThan(400); // well inside the 500 ms linger
    const results = await Promise.allSettled(sends);
    const failed = results.filter((result) => result.status === "rejected");
    expect(failed.length).toBe(5 - pub.stats.sent);
    for (const result of failed) expect((result as PromiseRejectedResult).reason).toMatchObject({ code: "CLOSED" });
    expect(sub.closed).toBe(false);
  });
});

describe("calls in flight per client (maxInFlight)", () => {
  let server: RpcServer | undefined;
  let transport: Transport | undefined;

  afterEach(async () => {
    await transport?.close();
    await server?.close({ graceMs: 0 });
  });

  /** A server whose Say handlers hold until `open()`, counting what reaches it. */
  function gatedServer() {
    const reached: string[] = [];
    let running = 0;
    let most = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const say: EchoService["say"] = async (request) => {
      reached.push(request.text);
      most = Math.max(most, ++running);
      await gate;
      running--;
      return { text: request.text };
    };
    // Only Say is called; the other methods would answer UNIMPLEMENTED.
    server = new RpcServer(transports.tcp()).add(EchoDefinition, { say } as EchoService);
    return { reached, running: () => running, most: () => most, open };
  }

  test("at most maxInFlight calls reach the server at once; the others wait unsent, then all complete", async () => {
    const gated = gatedServer();
    transport = directTransport(server!.endpoint, { maxInFlight: 4 });
    const client = new EchoClient(transport);
    const texts = Array.from({ length: 20 }, (_, i) => `call ${i}`);
    const calls = Promise.all(texts.map((text) => client.say({ text }, { timeoutMs: 10_000 })));
    await eventually(() => gated.running() === 4, 5000, "four calls reached the server");
    const channel = transport.channel("test.services.v1.Echo", { avoid: [], deadline: undefined, signal: undefined }) as Channel;
    expect({ inFlight: channel.load, waiting: channel.waiting }).toEqual({ inFlight: 4, waiting: 16 });
    expect(gated.reached).toEqual(texts.slice(0, 4));
    gated.open();
    expect((await calls).map((reply) => reply.text)).toEqual(texts);
    expect(gated.reached).toEqual(texts); // in the order they were made
    expect(gated.most()).toBe(4);
  });

  test("a waiting call whose deadline passes gets DEADLINE_EXCEEDED, and one whose signal aborts CANCELLED, never sent", async () => {
    const gated = gatedServer();
    transport = directTransport(server!.endpoint, { maxInFlight: 1 });
    const client = new EchoClient(transport);
    const first = client.say({ text: "first" }, { timeoutMs: 10_000 });
    await eventually(() => gated.running() === 1, 5000, "the first call reached the server");
    const late = client.say({ text: "late" }, { timeoutMs: 100 }).catch((error: unknown) => error);
    const controller = new AbortController();
    const aborted = client.say({ text: "aborted" }, { signal: controller.signal }).catch((error: unknown) => error);
    controller.abort();
    expect(await aborted).toMatchObject({ code: "CANCELLED" });
    const error = (await late) as DividereError;
    expect(error).toMatchObject({ code: "DEADLINE_EXCEEDED", message: expect.stringMatching(/never sent/) });
    gated.open();
    await first;
    // A later call on the same connection arrives after anything sent before it.
    await client.say({ text: "third" }, { timeoutMs: 5000 });
    expect(gated.reached).toEqual(["first", "third"]);
  });

  test("maxInFlight must be a whole number of at least 1", () => {
    expect(() => directTransport("tcp://127.0.0.1:1", { maxInFlight: 0 })).toThrow(/maxInFlight/);
  });
});
