import { afterEach, describe, expect, test } from "vitest";
import { Broker, RegistryClient, RegistryServer, brokerServices, brokerTransport } from "@dividere/runtime";
import { fileURLToPath } from "node:url";
import { EchoClient } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { type Child, brokerProcess, node, registryProcess } from "./processes.js";

// Brokers found through the registry: two `dividere broker` processes register with a
// `dividere registry`, a worker process serves Echo behind each, and a client names the
// brokers by their registration.

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const INTERVAL = 500;
const TTL_MS = 1500;
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A registry, and two brokers registered with it, each with an Echo worker of its own (named after it). */
async function twoBrokers() {
  const { endpoints } = await registryProcess((child) => later(child, (c) => c.kill()));
  const registry = endpoints.endpoint;
  const brokers: Record<string, Child> = {};
  const workers: Record<string, Child> = {};
  for (const name of ["a", "b"]) {
    const { broker, backend } = await brokerProcess((child) => later(child, (c) => (c.kill("SIGCONT"), c.kill())), {
      registry,
      heartbeatIntervalMs: INTERVAL,
      ttlMs: TTL_MS,
    });
    brokers[name] = broker;
    workers[name] = later(node(fixture("echo-worker.mjs"), name, backend, String(INTERVAL), "16"), (c) => c.kill());
    await workers[name].next();
  }
  const transport = later(brokerTransport({ registry }), (t) => t.close());
  // Both brokers registered, and each has its worker.
  const lookups = later(new RegistryClient({ endpoint: registry }), (c) => c.close());
  expect((await lookups.lookup("dividere.v1.Broker")).length).toBe(2);
  return { registry, brokers, workers, transport, lookups, echoes: new EchoClient(transport) };
}

/** Waits until calls through the transport reach both workers (each broker heard from its worker); returns the calls it took. */
async function bothServing(echoes: EchoClient): Promise<number> {
  const seen = new Set<string>();
  const deadline = Date.now() + 10_000;
  let calls = 0;
  while (!(seen.has("a") && seen.has("b"))) {
    if (Date.now() > deadline) throw new Error(`only ${[...seen].join(", ")} answered`);
    calls++;
    seen.add((await echoes.say({ text: "warm-up" }, { timeoutMs: 5000 })).servedBy);
  }
  return calls;
}

/** Waits (polling) until `condition` holds, for up to `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Runs `total` calls, `parallel` at a time, each with its own text; `during(done)` is told as
 * they end. Returns who served each, in call order; every call must resolve with its own text.
 */
async function run(echoes: EchoClient, total: number, parallel: number, during: (done: number) => void = () => undefined): Promise<string[]> {
  const servedBy: string[] = new Array(total);
  const outcomes: string[] = [];
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) {
        const i = next++;
        try {
          const reply = await echoes.say({ text: `call ${i}`, delayMs: 10 }, { timeoutMs: 20_000 });
          if (reply.text !== `call ${i}`) outcomes.push(`call ${i} got the answer of ${reply.text}`);
          if (servedBy[i] !== undefined) outcomes.push(`call ${i} resolved twice`);
          servedBy[i] = reply.servedBy;
        } catch (error) {
          outcomes.push(`call ${i} failed: ${String(error)}`);
        }
        during(++done);
      }
    }),
  );
  expect(outcomes).toEqual([]);
  return servedBy;
}

const tally = (names: string[]) => Object.fromEntries(["a", "b"].map((name) => [name, names.filter((n) => n === name).length]));

/** How many times the worker's handlers ran Say: it prints its stats once it closed on SIGTERM. */
async function handlerRuns(worker: Child): Promise<number> {
  worker.kill("SIGTERM");
  for (;;) {
    const line = (await worker.next()) as { stats?: { methods: Record<string, { calls: number }> } };
    if (line.stats) return line.stats.methods["/test.services.v1.Echo/Say"]?.calls ?? 0;
  }
}

describe("brokers found through the registry", () => {
  test("calls are spread over both brokers; one SIGKILLed under load: every call answered once, and later calls go to the survivor", async () => {
    const { brokers, workers, echoes, transport, lookups } = await twoBrokers();
    const warmUp = await bothServing(echoes);
    const spread = tally(await run(echoes, 200, 16));
    console.log(`200 calls over two brokers found through the registry: ${JSON.stringify(spread)}`);
    expect(spread.a).toBeGreaterThan(40);
    expect(spread.b).toBeGreaterThan(40);

    const total = 1000;
    let killedAt = 0;
    const servedBy = await run(echoes, total, 32, (done) => {
      if (done === 200) {
        brokers.a!.kill("SIGKILL");
        killedAt = done;
      }
    });
    expect(killedAt).toBe(200);
    const after = tally(servedBy.slice(killedAt + 64));
    expect(after.a).toBe(0);
    expect(after.b).toBe(total - killedAt - 64);
    // The registry forgets the dead broker when its lease runs out; the transport already has.
    await until(async () => (await lookups.lookup("dividere.v1.Broker")).length === 1, TTL_MS + 3000, "the dead broker's lease ran out");
    expect((await brokerServices(transport)).map((s) => [s.name, s.workers])).toEqual([
      ["test.services.v1.Echo", 1],
      ["test.services.v1.Greeter", 1],
    ]);

    const runs = { a: await handlerRuns(workers.a!), b: await handlerRuns(workers.b!) };
    const calls = warmUp + 200 + total;
    console.log(`SIGKILL under load: ${calls} calls, each answered once; Say handlers ran ${runs.a + runs.b} times (a ${runs.a}, b ${runs.b})`);
    expect(runs.a + runs.b).toBeGreaterThanOrEqual(calls);
  }, 60_000);

  test("one broker SIGSTOPped under load: every call answered once, at the other broker once the stopped one is passed over", async () => {
    const { brokers, workers, echoes, lookups } = await twoBrokers();
    const warmUp = await bothServing(echoes);
    const total = 600;
    let stoppedAt = 0;
    let stoppedTime = 0;
    const servedBy = await run(echoes, total, 32, (done) => {
      if (done === 100) {
        process.kill(brokers.a!.pid, "SIGSTOP");
        stoppedAt = done;
        stoppedTime = Date.now();
      }
    });
    expect(stoppedAt).toBe(100);
    const tookMs = Date.now() - stoppedTime;
    // Calls in flight at the stopped broker waited for their attempt's timeout (2500 ms) and
    // went on at the other; once ZeroMQ's heartbeats gave up on it (3 s), nothing goes there.
    console.log(`SIGSTOP under load: the ${total - stoppedAt} calls after the stop took ${tookMs} ms, served ${JSON.stringify(tally(servedBy.slice(stoppedAt)))}`);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedTime + 3500 - Date.now())));
    const afterwards = tally(await run(echoes, 300, 32));
    expect(afterwards).toEqual({ a: 0, b: 300 });
    // A stopped broker cannot renew its lease: the registry forgets it too.
    await until(async () => (await lookups.lookup("dividere.v1.Broker")).length === 1, TTL_MS + 3000, "the stopped broker's lease ran out");
    process.kill(brokers.a!.pid, "SIGCONT");
    const runs = { a: await handlerRuns(workers.a!), b: await handlerRuns(workers.b!) };
    console.log(`SIGSTOP under load: ${warmUp + total + 300} calls, each answered once; Say handlers ran ${runs.a + runs.b} times (a ${runs.a}, b ${runs.b})`);
    expect(runs.a + runs.b).toBeGreaterThanOrEqual(warmUp + total + 300);
  }, 60_000);

  test("a broker's entry: its frontend under registerAs, its backend in the metadata, renewed while it runs and gone at close()", async () => {
    const free = { bind: "tcp://127.0.0.1:0" };
    const registry = later(new RegistryServer({ endpoint: free, publishEndpoint: free, watchEndpoint: free }), (r) => r.close());
    const names = later(new RegistryClient({ ...registry.clientEndpoints }), (c) => c.close());
    const broker = later(new Broker({ frontend: free, backend: free, registry: names, registerAs: "pool.east", ttlMs: 600 }), (b) => b.close({ graceMs: 0 }));
    await broker.waitForRegistration({ timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // past its first lease: renewed
    const [entry, ...others] = await names.lookup("pool.east");
    expect(others).toEqual([]);
    expect(entry).toMatchObject({ endpoint: broker.frontendEndpoint, instanceId: broker.instance!.instanceId, metadata: { backend: broker.backendEndpoint } });
    await broker.close({ graceMs: 1000 }); // the grace bounds the unregistering too
    expect(await names.lookup("pool.east")).toEqual([]);
  });
});
