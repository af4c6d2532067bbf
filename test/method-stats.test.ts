// Per-method stats of a server and of a worker behind the broker, after a known number of calls,
// errors and cancels, over real sockets with the generated Echo stubs.
import { afterEach, expect, test } from "vitest";
import { Broker, RpcServer, Worker, brokerTransport, directTransport, type MethodStatsSnapshot, type Transport } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { eventually, rejection } from "./helpers.js";

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** 5 calls answered, 2 failing, 1 cancelled by its deadline, 1 slow; 3 streams of Count. */
async function knownCalls(transport: Transport): Promise<void> {
  const client = new EchoClient(transport);
  for (let i = 0; i < 5; i++) await client.say({ text: `ok ${i}` }, { timeoutMs: 5000 });
  for (let i = 0; i < 2; i++) await rejection(client.say({ text: `bad ${i}`, failCode: "NOT_FOUND" }, { timeoutMs: 5000 }));
  await rejection(client.say({ text: "too slow", delayMs: 2000 }, { timeoutMs: 100 }));
  await client.say({ text: "slow", delayMs: 60 }, { timeoutMs: 5000 });
  for (let i = 0; i < 3; i++) for await (const _ of client.count({ text: "n", count: 2 }, { timeoutMs: 5000 }));
}

function expectKnown(methods: Record<string, MethodStatsSnapshot>): void {
  const say = methods["/test.services.v1.Echo/Say"]!;
  expect(say).toMatchObject({ calls: 9, errors: 3 });
  // The last error is the deadline's: the server gave the call up when it passed.
  expect(say.lastError).toMatch(/^(DEADLINE_EXCEEDED|CANCELLED): /);
  expect(say.processingTimeMs).toBeGreaterThanOrEqual(60 + 100);
  expect(say.averageProcessingTimeMs).toBeCloseTo(say.processingTimeMs / 9);
  // Most calls are quick; the slowest ~1 % holds the 100 ms one.
  expect(say.p50Ms).toBeLessThan(50);
  expect(say.p99Ms).toBeGreaterThanOrEqual(60);
  expect(say.p50Ms).toBeLessThanOrEqual(say.p99Ms);
  expect(methods["/test.services.v1.Echo/Count"]).toMatchObject({ calls: 3, errors: 0, lastError: "" });
  expect(methods["/test.services.v1.Echo/Collect"]).toMatchObject({ calls: 0, errors: 0, p50Ms: 0, p99Ms: 0, averageProcessingTimeMs: 0 });
}

test("a server counts per method: calls, errors, the last error, processing time, p50 and p99", async () => {
  const server = later(new RpcServer(loopback()).add(EchoDefinition, echo("direct")), (s) => s.close({ graceMs: 0 }));
  await knownCalls(later(directTransport(server.endpoint), (t) => t.close()));
  await eventually(() => server.stats.methods["/test.services.v1.Echo/Say"]?.calls === 9, 5000, "the cancelled call ended");
  expectKnown(server.stats.methods);
  console.log(`a server's stats of Say: ${JSON.stringify(server.stats.methods["/test.services.v1.Echo/Say"])}`);
});

test("a worker behind the broker counts the same", async () => {
  const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200 }), (b) => b.close({ graceMs: 0 }));
  const worker = later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200, capacity: 4 }).add(EchoDefinition, echo("worker")).start(), (w) => w.close({ graceMs: 0 }));
  await knownCalls(later(brokerTransport(broker.frontendEndpoint), (t) => t.close()));
  await eventually(() => worker.stats.methods["/test.services.v1.Echo/Say"]?.calls === 9, 5000, "the cancelled call ended");
  expectKnown(worker.stats.methods);
});
