import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import {
  Broker,
  DividereError,
  Worker,
  brokerServices,
  brokerTransport,
  connection,
  directTransport,
  type Transport,
} from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition, GreeterClient, GreeterDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { HistoryClient } from "./gen/test/chat/v1/chat_dividere.js";
import { eventually } from "./helpers.js";
import { type Child, node } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const INTERVAL = 200;
const LIVENESS = 3;
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** Two free loopback ports, for a broker that must come back on the same ones. */
async function ports(): Promise<{ frontend: string; backend: string }> {
  const [a, b] = [await connection.PortManager.acquire({ host: "127.0.0.1" }), await connection.PortManager.acquire({ host: "127.0.0.1" })];
  return { frontend: `tcp://127.0.0.1:${a}`, backend: `tcp://127.0.0.1:${b}` };
}

/** `dividere broker` as its own process, as a user would run it. */
async function brokerProcess(at: { frontend: string; backend: string }): Promise<Child> {
  const child = later(
    node(`${root}/runtime/bin/dividere.js`, "broker", "--frontend", at.frontend, "--backend", at.backend, "--heartbeat-interval", String(INTERVAL), "--liveness", String(LIVENESS)),
    (c) => c.kill(),
  );
  expect((await child.next()).text).toMatch(/^dividere broker: callers at tcp:\/\/127\.0\.0\.1:\d+, workers at/);
  return child;
}

async function workerProcess(name: string, backend: string): Promise<Child> {
  const child = later(node(fixture("echo-worker.mjs"), name, backend, String(INTERVAL)), (c) => c.kill());
  await child.next();
  return child;
}

function client(frontend: string): { echo: EchoClient; transport: Transport } {
  const transport = later(brokerTransport(frontend), (t) => t.close());
  return { echo: new EchoClient(transport), transport };
}

/** Waits until the broker reports `count` workers for Echo. */
async function workersFor(transport: Transport, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const echoService = (await brokerServices(transport, { timeoutMs: 1000 }).catch(() => [])).find((s) => s.name === "test.services.v1.Echo");
    if ((echoService?.workers ?? 0) === count) return;
    if (Date.now() > deadline) throw new Error(`the broker did not get to ${count} Echo workers (has ${echoService?.workers ?? 0})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `total` calls, `parallel` at a time; returns the server of each reply, in call order. */
async function run(echoes: EchoClient, total: number, parallel: number, options: { delayMs?: number; during?: (done: number) => void } = {}) {
  const servedBy: string[] = new Array(total);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) {
        const i = next++;
        const reply = await echoes.say({ text: String(i), delayMs: options.delayMs ?? 0 }, { timeoutMs: 20_000 });
        expect(reply.text).toBe(String(i));
        servedBy[i] = reply.servedBy;
        options.during?.(++done);
      }
    }),
  );
  return servedBy;
}

const tally = (names: string[]) => names.reduce((counts, name) => counts.set(name, (counts.get(name) ?? 0) + 1), new Map<string, number>());

describe("broker with workers in processes of their own", () => {
  test("3 workers share 3,000 requests", async () => {
    const at = await ports();
    await brokerProcess(at);
    for (const name of ["w1", "w2", "w3"]) await workerProcess(name, at.backend);
    const { echo: echoes, transport } = client(at.frontend);
    await workersFor(transport, 3);
    const servedBy = await run(echoes, 3000, 64);
    const counts = tally(servedBy);
    expect([...counts.keys()].sort()).toEqual(["w1", "w2", "w3"]);
    for (const count of counts.values()) expect(count).toBeGreaterThan(500);
    console.log(`3,000 requests through the broker: ${[...counts].map(([name, count]) => `${name} ${count}`).join(", ")}`);
  });

  test("a worker killed with SIGKILL mid-flight: every request is still answered, once, by the survivors", async () => {
    const at = await ports();
    await brokerProcess(at);
    const doomed = await workerProcess("doomed", at.backend);
    for (const name of ["s1", "s2"]) await workerProcess(name, at.backend);
    const { echo: echoes, transport } = client(at.frontend);
    await workersFor(transport, 3);
    let killedAfter = 0;
    const servedBy = await run(echoes, 300, 12, {
      delayMs: 20,
      during: (done) => {
        if (done === 60) {
          doomed.kill("SIGKILL");
          killedAfter = done;
        }
      },
    });
    expect(killedAfter).toBe(60);
    expect(servedBy.filter(Boolean)).toHaveLength(300);
    expect(tally(servedBy.slice(150)).has("doomed")).toBe(false);
    await workersFor(transport, 2);
  });

  test("the broker killed and restarted: clients and workers recover without restarting", async () => {
    const at = await ports();
    const first = await brokerProcess(at);
    for (const name of ["r1", "r2"]) await workerProcess(name, at.backend);
    const { echo: echoes, transport } = client(at.frontend);
    await workersFor(transport, 2);
    let restarted: Promise<unknown> | undefined;
    const servedBy = await run(echoes, 400, 8, {
      delayMs: 5,
      during: (done) => {
        if (done === 100) {
          first.kill("SIGKILL");
          restarted = first.exited.then(() => brokerProcess(at));
        }
      },
    });
    await restarted;
    expect(servedBy.filter(Boolean)).toHaveLength(400);
    expect(tally(servedBy.slice(300)).size).toBe(2); // both workers serve again, without a restart of their own
    await workersFor(transport, 2);
  });

  test("a worker that stops heartbeating is dropped within liveness × interval, and comes back when it wakes", async () => {
    const at = await ports();
    await brokerProcess(at);
    const sleepy = await workerProcess("sleepy", at.backend);
    await workerProcess("awake", at.backend);
    const { transport } = client(at.frontend);
    await workersFor(transport, 2);
    process.kill(sleepy.pid, "SIGSTOP");
    const stopped = Date.now();
    await workersFor(transport, 1, 5000);
    const dropped = Date.now() - stopped;
    console.log(`a silent worker was dropped after ${dropped} ms (liveness ${LIVENESS} × interval ${INTERVAL} ms)`);
    expect(dropped).toBeLessThanOrEqual(LIVENESS * INTERVAL + 2 * INTERVAL + 200);
    process.kill(sleepy.pid, "SIGCONT");
    await workersFor(transport, 2, 5000);
  });
});

describe("broker", () => {
  function startBroker(options: ConstructorParameters<typeof Broker>[0] = {}): Broker {
    return later(
      new Broker({ frontend: { bind: "tcp://127.0.0.1:0" }, backend: { bind: "tcp://127.0.0.1:0" }, heartbeatIntervalMs: INTERVAL, ...options }),
      (b) => b.close(),
    );
  }

  function startWorker(broker: Broker, name: string, add: (worker: Worker) => Worker, capacity = 1): Worker {
    return later(add(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: INTERVAL, capacity, workerId: name })).start(), (w) => w.close({ graceMs: 0 }));
  }

  test("two services behind one broker, routed by service name; an unknown service is answered with an error", async () => {
    const broker = startBroker({ unknownServiceGraceMs: 0 });
    startWorker(broker, "echoer", (w) => w.add(EchoDefinition, echo("echoer")));
    startWorker(broker, "greeter", (w) => w.add(GreeterDefinition, { greet: (r: { name: string }) => ({ greeting: `hi ${r.name}` }) }));
    const transport = later(brokerTransport(broker.frontendEndpoint), (t) => t.close());
    await eventually(() => broker.services().length === 2, 5000, "both workers announced");
    expect(await new EchoClient(transport).say({ text: "echo" }, { timeoutMs: 2000 })).toMatchObject({ text: "echo", servedBy: "echoer" });
    expect(await new GreeterClient(transport).greet({ name: "ada" }, { timeoutMs: 2000 })).toMatchObject({ greeting: "hi ada" });
    const error = await new HistoryClient(transport).recent({ room: "x" }, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/no worker serves chat\.v1\.History/) });
    expect((await brokerServices(transport)).map((s) => [s.name, s.workers])).toEqual([
      ["test.services.v1.Echo", 1],
      ["test.services.v1.Greeter", 1],
    ]);
  });

  test("the queue bound reached: callers beyond it get a clear error, and the broker stays up", async () => {
    const broker = startBroker({ maxQueued: 5 });
    startWorker(broker, "slow", (w) => w.add(EchoDefinition, echo("slow")));
    const transport = later(brokerTransport(broker.frontendEndpoint, { defaults: { retries: 0 } }), (t) => t.close());
    await eventually(() => broker.services().length === 1, 5000, "the worker announced");
    const echoes = new EchoClient(transport);
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => echoes.say({ text: String(i), delayMs: 100 }, { timeoutMs: 5000 })));
    const refused = results.filter((result) => result.status === "rejected").map((result) => (result as PromiseRejectedResult).reason as DividereError);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(6); // one running, five waiting
    expect(refused).toHaveLength(14);
    expect(refused[0]).toMatchObject({ code: "RESOURCE_EXHAUSTED", message: expect.stringMatching(/queue for test\.services\.v1\.Echo is full \(5 calls/) });
    expect(await echoes.say({ text: "after" }, { timeoutMs: 2000 })).toMatchObject({ text: "after" });
    expect(broker.stats.refused).toBe(14);
  });

  test("a worker's graceful stop: its call in flight finishes, and new calls go elsewhere", async () => {
    const broker = startBroker();
    const leaving = startWorker(broker, "leaving", (w) => w.add(EchoDefinition, echo("leaving")));
    const transport = later(brokerTransport(broker.frontendEndpoint), (t) => t.close());
    const echoes = new EchoClient(transport);
    await eventually(() => broker.services()[0]?.workers === 1, 5000, "the first worker announced");
    const inFlight = echoes.say({ text: "finish me", delayMs: 300 }, { timeoutMs: 5000 });
    await eventually(() => broker.services()[0]?.free === 0, 5000, "the call reached the worker");
    startWorker(broker, "staying", (w) => w.add(EchoDefinition, echo("staying")));
    const closing = leaving.close();
    expect(await inFlight).toMatchObject({ text: "finish me", servedBy: "leaving" });
    await closing;
    for (let i = 0; i < 5; i++) expect(await echoes.say({ text: String(i) }, { timeoutMs: 2000 })).toMatchObject({ servedBy: "staying" });
    expect(broker.services()[0]?.workers).toBe(1);
  });

  test("bad input to the broker is dropped and counted; callers go on being served", async () => {
    const broker = startBroker();
    startWorker(broker, "w", (w) => w.add(EchoDefinition, echo("w")));
    await using raw = new connection.Dealer(broker.frontendEndpoint);
    await raw.send("garbage");
    await raw.send(["two", "frames"]);
    const transport = later(brokerTransport(broker.frontendEndpoint), (t) => t.close());
    await eventually(() => broker.stats.dropped.NOT_AN_ENVELOPE === 2, 5000, "both counted");
    expect(await new EchoClient(transport).say({ text: "ok" }, { timeoutMs: 2000 })).toMatchObject({ text: "ok" });
  });

  test("a late answer to an abandoned attempt is never taken for the answer of the new one", async () => {
    const broker = startBroker();
    startWorker(broker, "w", (w) => w.add(EchoDefinition, echo("w")), 4);
    const transport = later(brokerTransport(broker.frontendEndpoint, { defaults: { attemptTimeoutMs: 100, retries: 5, retryDelayMs: 10 } }), (t) => t.close());
    await eventually(() => broker.services().length === 1, 5000, "the worker announced");
    // The first attempts take too long; only the reply to the attempt that is waited for counts.
    const reply = await new EchoClient(transport).say({ text: "patient", delayMs: 150 }, { timeoutMs: 5000, attemptTimeoutMs: 400 });
    expect(reply.text).toBe("patient");
    const error = await new EchoClient(transport).say({ text: "hopeless", delayMs: 1000 }, { timeoutMs: 5000, retries: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/gave up after 2 attempts/) });
  });

  test("a direct transport to a worker-less service still gets an answer from the broker's own service", async () => {
    const broker = startBroker();
    const transport = later(directTransport(broker.frontendEndpoint), (t) => t.close());
    expect(await brokerServices(transport, { timeoutMs: 2000 })).toEqual([]);
  });
});

describe("broker: a worker's full queue", () => {
  test("frames wait for room in order: concurrent client streams and many calls to one stopped worker lose nothing", async () => {
    // A low high-water mark, and a worker stopped while the calls come: what the worker's
    // connection cannot take must wait at the broker, since ZeroMQ would drop it for good.
    const broker = later(
      new Broker({ frontend: { bind: "tcp://127.0.0.1:0" }, backend: { bind: "tcp://127.0.0.1:0" }, sendHighWaterMark: 8 }),
      (b) => b.close({ graceMs: 0 }),
    );
    const streams = 8;
    const items = 400;
    const calls = 56;
    const worker = later(node(fixture("echo-worker.mjs"), "stopped", broker.backendEndpoint, "1000", String(streams + calls)), (c) => c.kill());
    await worker.next();
    const transport = later(brokerTransport(broker.frontendEndpoint, { defaults: { retries: 0, attemptTimeoutMs: 10_000, timeoutMs: 10_000 } }), (t) => t.close());
    await workersFor(transport, 1);
    const echoes = new EchoClient(transport);
    process.kill(worker.pid, "SIGSTOP");
    const resumed = { done: false };
    const resume = () => {
      if (!resumed.done) process.kill(worker.pid, "SIGCONT");
      resumed.done = true;
    };
    cleanup.push(resume);
    const big = "x".repeat(256 * 1024);
    async function* stream(n: number) {
      for (let i = 0; i < items; i++) yield { text: `${n}.${i}` };
    }
    const collected = Array.from({ length: streams }, (_, n) => echoes.collect(stream(n)));
    const said = Array.from({ length: calls }, (_, i) => echoes.say({ text: `${i}${big}` }));
    await eventually(() => broker.stats.dispatched >= streams + calls, 10_000, "every call handed to the stopped worker");
    await eventually(() => broker.stats.backlog.messages > 0, 10_000, "messages waiting at the broker for the stopped worker");
    resume();
    const outcomes = await Promise.allSettled([...collected, ...said]);
    const failed = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [String(outcome.reason)] : []));
    expect(failed, `${failed.length} of ${outcomes.length} calls failed`).toEqual([]);
    const replies = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<{ text: string; index: number }>).value);
    for (const [n, reply] of replies.slice(0, streams).entries()) {
      expect(reply.index).toBe(items);
      expect(reply.text).toBe(Array.from({ length: items }, (_, i) => `${n}.${i}`).join(" "));
    }
    for (const [i, reply] of replies.slice(streams).entries()) expect(reply.text).toBe(`${i}${big}`);
  }, 30_000);

  test("what waits for a worker that never drains is bounded: the calls beyond it fail RESOURCE_EXHAUSTED, and other workers go on", async () => {
    const maxBacklogBytes = 1024 * 1024;
    const broker = later(
      new Broker({ frontend: { bind: "tcp://127.0.0.1:0" }, backend: { bind: "tcp://127.0.0.1:0" }, sendHighWaterMark: 8, maxBacklogBytes }),
      (b) => b.close({ graceMs: 0 }),
    );
    const streams = 8;
    const stuck = later(node(fixture("echo-worker.mjs"), "stuck", broker.backendEndpoint, "1000", String(streams)), (c) => c.kill());
    await stuck.next();
    const transport = later(brokerTransport(broker.frontendEndpoint, { defaults: { retries: 0, attemptTimeoutMs: 10_000, timeoutMs: 10_000 } }), (t) => t.close());
    await workersFor(transport, 1);
    later(new Worker(broker.backendEndpoint, { workerId: "greeter" }).add(GreeterDefinition, { greet: (r: { name: string }) => ({ greeting: `hi ${r.name}` }) }).start(), (w) =>
      w.close({ graceMs: 0 }),
    );
    await eventually(() => broker.services().some((s) => s.name === "test.services.v1.Greeter" && s.workers === 1), 5000, "the greeter announced");
    process.kill(stuck.pid, "SIGSTOP");
    cleanup.push(() => process.kill(stuck.pid, "SIGCONT"));
    // Each stream sends its initial credit of 16 items of 200 KiB: 25 MiB for a worker that reads none.
    const item = { text: "y".repeat(200 * 1024) };
    const collected = Array.from({ length: streams }, () =>
      new EchoClient(transport).collect((async function* () {
        for (let i = 0; i < 16; i++) yield item;
        await new Promise(() => undefined); // and never ends
      })()),
    );
    const outcomes = collected.map((call) => call.then(() => "answered", (error: unknown) => error));
    expect(await Promise.race(outcomes)).toMatchObject({ code: "RESOURCE_EXHAUSTED", message: expect.stringMatching(/worker stuck reads .* too slowly.*maxBacklogBytes/) });
    await eventually(() => broker.stats.overflowed >= 1, 5000, "a call cut");
    expect(broker.stats.backlog.bytes).toBeLessThanOrEqual(maxBacklogBytes + 64 * 1024);
    // The stuck worker holds up nobody else.
    expect(await new GreeterClient(transport).greet({ name: "ada" }, { timeoutMs: 2000 })).toMatchObject({ greeting: "hi ada" });
  });
});
