// Faults with real processes over loopback TCP: workers, services, the registry and the broker
// killed with SIGKILL under load and restarted; daemons stopped with SIGTERM/SIGINT while calls
// are in flight. What is asserted is what a caller sees: every call settles once, with its own
// answer or a clear error, within a bound.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import {
  Broker,
  type CallContext,
  DividereError,
  RpcServer,
  Worker,
  RegistryClient,
  brokerServices,
  brokerTransport,
  connection,
  directTransport,
  registryTransport,
  type Transport,
} from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { eventually } from "./helpers.js";
import { Child, type RegistryPorts, brokerProcess as startBroker, node, registryProcess as startRegistry } from "./processes.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const ECHO = "test.services.v1.Echo";
const INTERVAL = 100;
const LIVENESS = 3;
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function port(): Promise<number> {
  return connection.PortManager.acquire({ host: "127.0.0.1" });
}

/** `dividere broker` in its own process (on ephemeral ports unless told); resolves with it and its endpoints. */
const brokerProcess = (at: { frontend?: string; backend?: string } = {}) =>
  startBroker((child) => later(child, (c) => c.kill()), { ...at, heartbeatIntervalMs: INTERVAL, liveness: LIVENESS });

/** `dividere registry` on the given ports (any free one where left out), in its own process. */
const registryProcess = (ports?: RegistryPorts) => startRegistry((child) => later(child, (c) => c.kill()), ports);

/** A worker process of faults-worker.mjs; resolves once it runs. */
async function workerProcess(name: string, backend: string, capacity: number): Promise<Child> {
  const child = later(node(fixture("faults-worker.mjs"), name, backend, String(INTERVAL), String(capacity)), (c) => c.kill());
  expect(await child.next()).toEqual({ started: name });
  return child;
}

/** The next line of `child` that has `key`, passing over the others (calls it ran, say). */
async function lineWith(child: Child, key: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await child.next(Math.max(1, deadline - Date.now()));
    if (key in line) return line;
  }
}

/** A hosted Echo service (faults-service.mjs) registered with `registry`; resolves once it is registered. */
async function serviceProcess(name: string, registry: string, ttlMs: number, onPort?: number) {
  const child = later(node(fixture("faults-service.mjs"), name, registry, String(ttlMs), ...(onPort ? [String(onPort)] : [])), (c) => c.kill());
  const { ready, instance } = (await lineWith(child, "ready")) as { ready: string; instance: string };
  return { child, ready, instance };
}

/** Waits until the broker reports `count` Echo workers. */
async function echoWorkers(transport: Transport, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const services = await brokerServices(transport, { timeoutMs: 1000, retries: 0 }).catch(() => []);
    const workers = services.find((s) => s.name === ECHO)?.workers ?? 0;
    if (workers === count) return;
    if (Date.now() > deadline) throw new Error(`the broker did not get to ${count} Echo workers (has ${workers})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every call the workers (stopped or killed by now) started, with the names of those it ran on. */
async function ranOn(workers: Map<Child, string>): Promise<Map<string, string[]>> {
  const ran = new Map<string, string[]>();
  for (const [child, name] of workers) {
    for (const line of await child.rest()) if (typeof line.ran === "string") ran.set(line.ran, [...(ran.get(line.ran) ?? []), name]);
  }
  return ran;
}

/** How each call ended, as its caller saw it. */
interface Outcomes {
  /** The calls answered with their own id. */
  answered: Set<string>;
  /** Failures by error code. */
  failed: Map<string, number>;
  /** An error that is no DividereError, an answer to another call, a call settled twice. */
  wrong: string[];
  /** The longest a call took, in ms. */
  slowest: number;
}

/**
 * Runs calls `ids`, `parallel` at a time, each sending its own id as the text to echo; every
 * call is recorded as answered (with its own id back) or failed (by code). `during` runs after
 * each call settles.
 */
async function load(
  ids: string[],
  parallel: number,
  call: (id: string, index: number) => Promise<{ text: string }>,
  during: (settled: number) => void = () => undefined,
): Promise<Outcomes> {
  const outcomes: Outcomes = { answered: new Set(), failed: new Map(), wrong: [], slowest: 0 };
  const settled = new Set<string>();
  let next = 0;
  const settle = (id: string, started: number) => {
    if (settled.has(id)) outcomes.wrong.push(`${id} settled twice`);
    settled.add(id);
    outcomes.slowest = Math.max(outcomes.slowest, Date.now() - started);
    during(settled.size);
  };
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < ids.length) {
        const index = next++;
        const id = ids[index]!;
        const started = Date.now();
        try {
          const reply = await call(id, index);
          if (reply.text === id) outcomes.answered.add(id);
          else outcomes.wrong.push(`${id} got the answer of ${reply.text}`);
        } catch (error) {
          if (error instanceof DividereError) outcomes.failed.set(error.code, (outcomes.failed.get(error.code) ?? 0) + 1);
          else outcomes.wrong.push(`${id} failed with ${String(error)}`);
        }
        settle(id, started);
      }
    }),
  );
  return outcomes;
}

/** One call of {@link keepCalling}, as its caller saw it. */
interface Settled {
  id: string;
  started: number;
  ended: number;
  servedBy?: string;
  /** Why it failed: an error code, or what was wrong with it. */
  code?: string;
}

/**
 * Calls through `call`, `parallel` at a time, each with a new id, until `stop()`, which resolves
 * once every call made has settled. A reply to another call counts as a failure "WRONG ANSWER".
 */
function keepCalling(call: (id: string) => Promise<{ text: string; servedBy: string }>, parallel: number) {
  const settled: Settled[] = [];
  let stopping = false;
  let made = 0;
  const loops = Array.from({ length: parallel }, async () => {
    while (!stopping) {
      const id = `call-${made++}`;
      const started = Date.now();
      try {
        const reply = await call(id);
        settled.push(reply.text === id ? { id, started, ended: Date.now(), servedBy: reply.servedBy } : { id, started, ended: Date.now(), code: "WRONG ANSWER" });
      } catch (error) {
        settled.push({ id, started, ended: Date.now(), code: error instanceof DividereError ? error.code : `NOT A DIVIDERE ERROR: ${String(error)}` });
      }
    }
  });
  return {
    settled,
    /** Calls answered since `since` (ms since the epoch), by whom. */
    answeredSince: (since: number) => settled.filter((s) => s.servedBy && s.started >= since),
    async stop(): Promise<{ made: number; settled: Settled[] }> {
      stopping = true;
      await Promise.all(loops);
      return { made, settled };
    },
  };
}

const byCode = (settled: Settled[]) =>
  [...settled.filter((s) => s.code).reduce((codes, s) => codes.set(s.code!, (codes.get(s.code!) ?? 0) + 1), new Map<string, number>())]
    .map(([code, n]) => `${code} ${n}`)
    .join(", ") || "none";

const failures = (outcomes: Outcomes) => [...outcomes.failed].map(([code, n]) => `${code} ${n}`).join(", ") || "none";

describe("faults under load", () => {
  test("10,000 calls through the broker while workers are SIGKILLed and replaced: each settles once, none is lost", async () => {
    const TOTAL = 10_000;
    const KILL_EVERY = 500;
    const WORKERS = 4;
    const { broker, frontend, backend } = await brokerProcess();
    let made = 0;
    const workers: Child[] = [];
    const names = new Map<Child, string>();
    const startWorker = async () => {
      const name = `w${++made}`;
      const child = await workerProcess(name, backend, 2);
      names.set(child, name);
      workers.push(child);
      return child;
    };
    await Promise.all(Array.from({ length: WORKERS }, startWorker));
    const transport = later(brokerTransport(frontend), (t) => t.close());
    await echoWorkers(transport, WORKERS);

    const echoes = new EchoClient(transport);
    const ids = Array.from({ length: TOTAL }, (_, i) => `call-${i}`);
    let kills = 0;
    const killed = new Set<string>();
    const replacements: Promise<Child>[] = [];
    const started = Date.now();
    const outcomes = await load(
      ids,
      48,
      // No retries by the caller: a call the broker lost would show as DEADLINE_EXCEEDED.
      (id, index) => echoes.say({ text: id, delayMs: index % 3 }, { timeoutMs: 10_000, retries: 0 }),
      (settled) => {
        // The oldest worker dies with its calls in flight; a new one takes its place.
        if (settled % KILL_EVERY !== 0 || settled === TOTAL) return;
        const doomed = workers.shift();
        if (!doomed) return;
        doomed.kill("SIGKILL");
        killed.add(names.get(doomed)!);
        kills++;
        replacements.push(startWorker());
      },
    );
    const wallMs = Date.now() - started;
    await Promise.all(replacements);

    for (const child of workers) child.kill("SIGTERM");
    const ran = await ranOn(names);
    const reExecuted = [...ran.values()].filter((on) => on.length > 1).length;
    const failed = [...outcomes.failed.values()].reduce((a, b) => a + b, 0);
    console.log(
      `${TOTAL} calls through the broker, ${kills} workers SIGKILLed and replaced: ${outcomes.answered.size} answered, failed: ${failures(outcomes)}; ` +
        `${reExecuted} ran twice (on a killed worker, then on another); slowest ${outcomes.slowest} ms; ${wallMs} ms in all`,
    );
    expect(outcomes.wrong).toEqual([]);
    expect(outcomes.answered.size + failed).toBe(TOTAL);
    expect(kills).toBeGreaterThanOrEqual(5);
    // A failure must say why, with a code a caller can act on.
    for (const code of outcomes.failed.keys()) expect(["UNAVAILABLE", "DEADLINE_EXCEEDED"]).toContain(code);
    // A call the broker lost would end DEADLINE_EXCEEDED (the caller does not retry); none may.
    expect(outcomes.failed.get("DEADLINE_EXCEEDED") ?? 0).toBe(0);
    expect(failed).toBeLessThanOrEqual(10);
    expect(outcomes.slowest).toBeLessThan(5000);
    // A call runs twice only because the worker it first ran on was killed with it.
    const twice = [...ran].filter(([, on]) => on.length > 1);
    expect(twice.filter(([, on]) => !on.some((name) => killed.has(name)))).toEqual([]);
    // Every answered call ran somewhere; nothing ran that no caller made.
    expect([...outcomes.answered].filter((id) => !ran.has(id))).toEqual([]);
    expect([...ran.keys()].every((id) => id.startsWith("call-"))).toBe(true);

    broker.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
  }, 90_000);

  test("the broker SIGKILLed under load and restarted on its ports: every call settles once; the Lazy Pirate caller makes them all", async () => {
    const TOTAL = 3000;
    const at = { frontend: `tcp://127.0.0.1:${await port()}`, backend: `tcp://127.0.0.1:${await port()}` };
    const first = await brokerProcess(at);
    const names = new Map<Child, string>();
    for (const name of ["b1", "b2", "b3"]) names.set(await workerProcess(name, at.backend, 2), name);
    // The transport as a user makes it: Lazy Pirate retries (attempts of 2.5 s, 3 retries).
    const transport = later(brokerTransport(at.frontend), (t) => t.close());
    await echoWorkers(transport, 3);
    const echoes = new EchoClient(transport);
    let restarted: Promise<unknown> | undefined;
    let killedAt = 0;
    const started = Date.now();
    const outcomes = await load(
      Array.from({ length: TOTAL }, (_, i) => `call-${i}`),
      32,
      (id, index) => echoes.say({ text: id, delayMs: index % 3 }, { timeoutMs: 20_000 }),
      (settled) => {
        if (settled !== 1000) return;
        first.broker.kill("SIGKILL");
        killedAt = Date.now();
        restarted = first.broker.exited.then(() => brokerProcess(at));
      },
    );
    const wallMs = Date.now() - started;
    await restarted;
    for (const child of names.keys()) child.kill("SIGTERM");
    const ran = await ranOn(names);
    const twice = [...ran.values()].filter((on) => on.length > 1).length;
    const failed = [...outcomes.failed.values()].reduce((a, b) => a + b, 0);
    console.log(
      `${TOTAL} calls, the broker SIGKILLed after 1000 and restarted: ${outcomes.answered.size} answered, failed: ${failures(outcomes)}; ` +
        `${twice} ran twice (answered to the dead broker, made again by the caller); slowest ${outcomes.slowest} ms; ${wallMs} ms in all (${wallMs - (killedAt - started)} after the kill)`,
    );
    expect(outcomes.wrong).toEqual([]);
    expect(outcomes.answered.size + failed).toBe(TOTAL);
    expect(failed).toBe(0);
    expect([...outcomes.answered].filter((id) => !ran.has(id))).toEqual([]);
    for (const child of names.keys()) expect(await child.exited).toBe(0);
  }, 60_000);

  test("the registry SIGKILLed under load and restarted on the same port: calls go on throughout, every service is found again", async () => {
    const ports = { request: await port(), publish: await port(), watch: await port() };
    const first = await registryProcess(ports);
    const at = first.endpoints;
    const services = await Promise.all(["s1", "s2", "s3"].map((name) => serviceProcess(name, at.endpoint, 1000)));
    const expected = services.map((s) => s.instance).sort();
    // The transport's registry client as a user makes it: default timeouts and retries.
    const transport = later(registryTransport(new RegistryClient(at), { refreshMs: 300 }), (t) => t.close());
    const lookups = later(new RegistryClient({ ...at, timeoutMs: 500, retries: 0 }), (c) => c.close());
    const echoes = new EchoClient(transport);
    const calls = keepCalling((id) => echoes.say({ text: id, delayMs: 1 }, { timeoutMs: 2000 }), 8);
    const start = Date.now();
    await eventually(() => new Set(calls.answeredSince(start).map((s) => s.servedBy)).size === 3, 10_000, "calls reached every service");

    first.registry.kill("SIGKILL");
    await first.registry.exited;
    const killedAt = Date.now();
    // The outage spans several refreshes of the transport and its lookups' timeouts.
    await eventually(() => Date.now() - killedAt >= 2000 && calls.answeredSince(killedAt).length >= 300, 20_000, "calls went on without the registry");
    const duringOutage = calls.settled.filter((s) => s.started >= killedAt);

    await registryProcess(ports);
    const restartedAt = Date.now();
    let found: string[] = [];
    while (Date.now() - restartedAt < 10_000) {
      found = (await lookups.lookup(ECHO).catch(() => [])).map((i) => i.instanceId).sort();
      if (found.length === 3) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const foundAfter = Date.now() - restartedAt;
    expect(found).toEqual(expected);
    await eventually(() => calls.answeredSince(restartedAt).length >= 200, 10_000, "calls went on after the restart");
    const { made, settled } = await calls.stop();
    console.log(
      `registry SIGKILLed under load: ${duringOutage.length} calls during the ${restartedAt - killedAt} ms outage (failed: ${byCode(duringOutage)}); ` +
        `all 3 services found again ${foundAfter} ms after the restart; ${settled.length} calls in all, failed: ${byCode(settled)}, slowest ${Math.max(...settled.map((s) => s.ended - s.started))} ms`,
    );
    expect(settled).toHaveLength(made);
    expect(byCode(settled)).toBe("none");
    expect(new Set(duringOutage.map((s) => s.servedBy)).size).toBe(3);
  }, 60_000);

  test("a hosted service SIGKILLed under load: calls move to the survivor; restarted on the same port, it is found and called again", async () => {
    const { endpoints: at } = await registryProcess();
    const TTL = 1000;
    const samePort = await port();
    const doomed = await serviceProcess("doomed", at.endpoint, TTL, samePort);
    const survivor = await serviceProcess("survivor", at.endpoint, TTL);
    const transport = later(registryTransport(new RegistryClient(at), { refreshMs: 300 }), (t) => t.close());
    const lookups = later(new RegistryClient({ ...at, timeoutMs: 1000, retries: 0 }), (c) => c.close());
    const echoes = new EchoClient(transport);
    // Echo is safe to repeat: a call in flight on the instance that dies moves to another.
    const calls = keepCalling((id) => echoes.say({ text: id, delayMs: 2 }, { timeoutMs: 5000, retries: 2 }), 8);
    const start = Date.now();
    const served = (name: string) => calls.answeredSince(start).filter((s) => s.servedBy === name).length;
    await eventually(() => served("doomed") >= 50 && served("survivor") >= 50, 10_000, "calls reached both instances");

    doomed.child.kill("SIGKILL");
    await doomed.child.exited;
    const killedAt = Date.now();
    await eventually(() => calls.answeredSince(killedAt).length >= 300, 10_000, "calls went on on the survivor");

    const phoenix = await serviceProcess("phoenix", at.endpoint, TTL, samePort);
    const restartedAt = Date.now();
    expect(phoenix.ready).toBe(doomed.ready);
    let found: string[] = [];
    while (Date.now() - restartedAt < 5000) {
      found = (await lookups.lookup(ECHO)).map((i) => i.instanceId).sort();
      if (found.length === 2 && found.includes(phoenix.instance)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(found).toEqual([survivor.instance, phoenix.instance].sort());
    await eventually(() => calls.answeredSince(restartedAt).some((s) => s.servedBy === "phoenix"), 10_000, "the restarted instance was called");
    const calledAfter = Math.min(...calls.answeredSince(restartedAt).filter((s) => s.servedBy === "phoenix").map((s) => s.ended)) - restartedAt;
    const { made, settled } = await calls.stop();
    const servedBy = (since: number, until = Number.POSITIVE_INFINITY) =>
      [...settled.filter((s) => s.started >= since && s.started < until).reduce((m, s) => m.set(s.servedBy ?? s.code!, (m.get(s.servedBy ?? s.code!) ?? 0) + 1), new Map<string, number>())]
        .map(([name, n]) => `${name} ${n}`)
        .join(", ");
    console.log(
      `a service SIGKILLed under load: before ${servedBy(0, killedAt)}; after the kill ${servedBy(killedAt, restartedAt)}; ` +
        `restarted on the same port, called ${calledAfter} ms later: ${servedBy(restartedAt)}; failed: ${byCode(settled)}`,
    );
    expect(settled).toHaveLength(made);
    expect(byCode(settled)).toBe("none");
  }, 60_000);
});

describe("graceful stop on SIGTERM and SIGINT with calls in flight", () => {
  /** How each call ended: its text, or its error code (all settled, so that one failure does not hide the others). */
  async function outcomesOf(calls: Promise<{ text: string }>[]): Promise<string[]> {
    return (await Promise.allSettled(calls)).map((result) =>
      result.status === "fulfilled" ? result.value.text : `${(result.reason as DividereError).code}: ${(result.reason as Error).message}`,
    );
  }

  /** Waits until `child` printed that it started `count` calls. */
  async function started(child: Child, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await lineWith(child, "ran");
  }

  test.each(["SIGTERM", "SIGINT"] as const)("a hosted service on %s: unregisters, answers the calls in flight, exits 0", async (signal) => {
    const { endpoints: at } = await registryProcess();
    // A lease of a minute: if the instance leaves the lookups, it unregistered.
    const service = await serviceProcess("leaving", at.endpoint, 60_000);
    const lookups = later(new RegistryClient({ ...at, timeoutMs: 1000, retries: 0 }), (c) => c.close());
    const transport = later(registryTransport(new RegistryClient(at)), (t) => t.close());
    const echoes = new EchoClient(transport);
    const inFlight = Array.from({ length: 4 }, (_, i) => echoes.say({ text: `slow-${i}`, delayMs: 800 }, { timeoutMs: 5000, retries: 0 }));
    await started(service.child, 4);
    service.child.kill(signal);
    const signalled = Date.now();
    await eventually(() => true);
    let listed = 1;
    while (listed > 0 && Date.now() - signalled < 2000) listed = (await lookups.lookup(ECHO)).length;
    const unregisteredAfter = Date.now() - signalled;
    expect(listed).toBe(0);
    expect(await outcomesOf(inFlight)).toEqual(["slow-0", "slow-1", "slow-2", "slow-3"]);
    expect(await service.child.exited).toBe(0);
    expect(await lineWith(service.child, "stopped")).toMatchObject({ stopped: signal, stats: { ok: 4, failed: 0 } });
    expect(service.child.stderr).toBe("");
    console.log(`a service on ${signal}: unregistered within ${unregisteredAfter} ms, answered its 4 calls in flight, exited 0`);
  });

  /** A broker and one worker process, with four calls of 800 ms running on the worker. */
  async function slowCallsThroughBroker(workerName: string) {
    const { broker, frontend, backend } = await brokerProcess();
    const worker = await workerProcess(workerName, backend, 4);
    const transport = later(brokerTransport(frontend), (t) => t.close());
    await echoWorkers(transport, 1);
    const echoes = new EchoClient(transport);
    const inFlight = Array.from({ length: 4 }, (_, i) => echoes.say({ text: `slow-${i}`, delayMs: 800 }, { timeoutMs: 5000, retries: 0 }));
    await started(worker, 4);
    return { broker, worker, transport, echoes, inFlight };
  }

  test("dividere broker on SIGTERM: the calls in flight are answered, new ones refused, exit 0", async () => {
    const { broker, worker, echoes, inFlight } = await slowCallsThroughBroker("busy");
    broker.kill("SIGTERM");
    expect(await outcomesOf(inFlight)).toEqual(["slow-0", "slow-1", "slow-2", "slow-3"]);
    const late = await echoes.say({ text: "late" }, { timeoutMs: 3000, retries: 0 }).catch((error: unknown) => error);
    expect(late).toMatchObject({ code: "UNAVAILABLE" });
    expect(await broker.exited).toBe(0);
    expect((await broker.next()).text).toMatch(/^dividere broker: stopped after answering \d+ calls$/);
    expect(broker.stderr).toBe("");
    // The worker outlives its broker, and still stops cleanly.
    worker.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
  });

  test("a broker worker on SIGTERM: leaves the broker, answers its calls in flight, exits 0", async () => {
    const { worker: leaving, transport, inFlight } = await slowCallsThroughBroker("leaving");
    leaving.kill("SIGTERM");
    await echoWorkers(transport, 0, 2000);
    expect(await outcomesOf(inFlight)).toEqual(["slow-0", "slow-1", "slow-2", "slow-3"]);
    expect(await leaving.exited).toBe(0);
    expect(await lineWith(leaving, "stopped")).toMatchObject({ stopped: "leaving", stats: { ok: 4, failed: 0 } });
  });

  test("dividere registry on SIGINT while lookups are under way: each is answered or fails clearly, exit 0", async () => {
    const { registry, endpoints: at } = await registryProcess();
    const service = await serviceProcess("listed", at.endpoint, 60_000);
    const outcomes: string[] = [];
    const loops = Array.from({ length: 4 }, async () => {
      const client = later(new RegistryClient({ ...at, timeoutMs: 1000, retries: 0 }), (c) => c.close());
      for (;;) {
        try {
          const found = await client.lookup(ECHO);
          outcomes.push(found.map((i) => i.instanceId).join() === service.instance ? "found" : "WRONG");
        } catch (error) {
          outcomes.push(error instanceof DividereError ? error.code : `NOT A DIVIDERE ERROR: ${String(error)}`);
          return;
        }
      }
    });
    await eventually(() => outcomes.length >= 100, 10_000, "lookups answered");
    registry.kill("SIGINT");
    expect(await registry.exited).toBe(0);
    await Promise.all(loops);
    const counts = outcomes.reduce((m, o) => m.set(o, (m.get(o) ?? 0) + 1), new Map<string, number>());
    console.log(`dividere registry on SIGINT under lookups: ${[...counts].map(([o, n]) => `${o} ${n}`).join(", ")}`);
    expect([...counts.keys()].sort()).toEqual(["UNAVAILABLE", "found"]);
    expect(counts.get("UNAVAILABLE")).toBe(4);
    expect((await registry.next()).text).toBe("dividere registry: stopped");
    expect(registry.stderr).toBe("");
  });
});

describe("a caller that stops reading", () => {
  /** Where the stopped caller and the others call: a hosted service, or a worker behind the broker. */
  const servers = {
    "a hosted service": async () => {
      const { endpoint } = (await registryProcess()).endpoints;
      const service = await serviceProcess("streamer", endpoint, 60_000);
      return { endpoint: service.ready, through: "direct", transport: later(directTransport(service.ready), (t) => t.close()) };
    },
    "the broker": async () => {
      const { frontend, backend } = await brokerProcess();
      await workerProcess("streamer", backend, 4);
      const transport = later(brokerTransport(frontend), (t) => t.close());
      await echoWorkers(transport, 1);
      return { endpoint: frontend, through: "broker", transport };
    },
  };

  test.each(Object.keys(servers) as (keyof typeof servers)[])(
    "%s streams to a caller that stopped itself (SIGSTOP): other callers are answered at once; the stream arrives whole or ends with an error, never with gaps",
    async (server) => {
      const { endpoint, through, transport } = await servers[server]();
      const COUNT = 20_000;
      const caller = later(node(fixture("faults-caller.mjs"), endpoint, String(COUNT), "1024", "15000", through), (c) => c.kill());
      await lineWith(caller, "streaming"); // and it stopped itself
      const echoes = new EchoClient(transport);
      let slowest = 0;
      // Shorter than ZeroMQ's heartbeat timeout, which would end the stopped caller's connection.
      for (let i = 0; i < 20; i++) {
        const started = Date.now();
        expect((await echoes.say({ text: `other-${i}` }, { timeoutMs: 2000, retries: 0 })).text).toBe(`other-${i}`);
        slowest = Math.max(slowest, Date.now() - started);
      }
      process.kill(caller.pid, "SIGCONT");
      const summary = (await lineWith(caller, "items", 20_000)) as { items: number; gaps: number; last: number; ended: string };
      console.log(`${server} streaming to a stopped caller: others answered within ${slowest} ms each; its stream: ${JSON.stringify(summary)}`);
      expect(await caller.exited).toBe(0);
      expect(summary.gaps).toBe(0);
      if (summary.ended === "OK") expect(summary.items).toBe(COUNT);
      else expect(["DEADLINE_EXCEEDED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"]).toContain(summary.ended);
    },
  );
});

describe("a caller that hangs or dies while its stream waits for it", () => {
  // Heartbeats every 200 ms that drop a connection silent for 600 ms after one, and the
  // server's check of its callers as often: a gone caller is noticed within about a second.
  const heartbeats = { heartbeatInterval: 200, heartbeatTimeout: 600 };
  const servers = {
    "a server": (seen: CallContext[]) => {
      const server = later(new RpcServer({ bind: "tcp://127.0.0.1:0" }, heartbeats).add(EchoDefinition, echo("direct", seen)), (s) => s.close({ graceMs: 0 }));
      return { endpoint: server.endpoint, through: "direct", cancelled: () => server.stats.cancelled, ready: () => true };
    },
    "a worker behind the broker": (seen: CallContext[]) => {
      const broker = later(new Broker({ frontend: { bind: "tcp://127.0.0.1:0" }, backend: { bind: "tcp://127.0.0.1:0" }, heartbeatIntervalMs: 200, ...heartbeats }), (b) => b.close({ graceMs: 0 }));
      const worker = later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200 }).add(EchoDefinition, echo("worker", seen)).start(), (w) => w.close({ graceMs: 0 }));
      const ready = () => broker.services().some((service) => service.name === ECHO && service.workers === 1);
      return { endpoint: broker.frontendEndpoint, through: "broker", cancelled: () => worker.stats.cancelled, ready };
    },
  };
  const cases = Object.keys(servers).flatMap((server) =>
    ["count", "collect"].flatMap((kind) => ["SIGSTOP", "SIGKILL"].map((signal) => [server, kind, signal] as [keyof typeof servers, string, NodeJS.Signals])),
  );

  test.each(cases)(
    "%s: a %s stream without a deadline whose caller gets %s is cancelled, its handler's signal aborted, within seconds",
    async (server, kind, signal) => {
      const seen: CallContext[] = [];
      const { endpoint, through, cancelled, ready } = servers[server](seen);
      await eventually(ready, 5000, "the worker announced");
      // No deadline: nothing but the check of the caller ends this call.
      const caller = later(node(fixture("faults-caller.mjs"), endpoint, "1000000", "64", "Infinity", through, kind), (c) => c.kill("SIGKILL"));
      await lineWith(caller, "streaming"); // and it stopped itself
      await eventually(() => seen.length === 1, 5000, "the handler running");
      if (signal === "SIGKILL") caller.kill("SIGKILL");
      const since = Date.now();
      const reason = await new Promise<unknown>((resolve, reject) => {
        const ctxSignal = seen[0]!.signal;
        if (ctxSignal.aborted) resolve(ctxSignal.reason);
        ctxSignal.addEventListener("abort", () => resolve(ctxSignal.reason), { once: true });
        setTimeout(() => reject(new Error("the handler's signal did not abort within 10 s")), 10_000);
      });
      const after = Date.now() - since;
      console.log(`${server}: a ${kind} stream's caller after ${signal}: the handler's signal aborted after ${after} ms: ${(reason as Error).message}`);
      expect(reason).toMatchObject({ code: "CANCELLED" });
      expect(after).toBeLessThan(5000);
      await eventually(() => cancelled() === 1, 5000, "the call counted as cancelled");
    },
    20_000,
  );
});
