// grpc.health.v1 as every RpcServer, serve() host and Broker answers it, over real sockets; and
// `dividere health`, run as a child process, with its exit codes.
import { afterEach, describe, expect, test } from "vitest";
import {
  Broker,
  type CallContext,
  HealthClient,
  RegistryClient,
  RegistryServer,
  RpcClient,
  RpcError,
  RpcServer,
  Worker,
  connection,
  directTransport,
  healthProtocol,
  serve,
  type ServingStatus,
} from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { eventually, rejection, runNode } from "./helpers.js";
import { Child, dividereBin } from "./processes.js";

const ECHO = EchoDefinition.typeName;
const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A HealthClient of `endpoint`, closed after the test. */
function healthOf(endpoint: string): HealthClient {
  const transport = later(directTransport(endpoint), (t) => t.close());
  return new HealthClient(transport);
}

/** Reads a Watch in the background: what it said so far, and whether (and how) it ended. */
function watching(statuses: AsyncIterable<ServingStatus>) {
  const seen: ServingStatus[] = [];
  const state: { ended: boolean; error: unknown } = { ended: false, error: undefined };
  const done = (async () => {
    try {
      for await (const status of statuses) seen.push(status);
    } catch (error) {
      state.error = error;
    } finally {
      state.ended = true;
    }
  })();
  return { seen, state, done };
}

/** Waits until a watch said exactly `expected` so far. */
const saidSoFar = (seen: ServingStatus[], expected: ServingStatus[]) =>
  eventually(() => seen.join() === expected.join(), 5000, `the watch said ${expected.join(", ")} (it said ${seen.join(", ")})`);

describe("an RpcServer", () => {
  const start = () => later(new RpcServer(loopback()).add(EchoDefinition, echo("one")), (s) => s.close({ graceMs: 0 }));

  test("Check: SERVING for the server as a whole and for a hosted service; an unknown name is NOT_FOUND on the wire, SERVICE_UNKNOWN to the HealthClient", async () => {
    const server = start();
    const health = healthOf(server.endpoint);
    expect(await health.check("", { timeoutMs: 2000 })).toBe("SERVING");
    expect(await health.check(ECHO, { timeoutMs: 2000 })).toBe("SERVING");
    expect(await health.check("no.such.Service", { timeoutMs: 2000 })).toBe("SERVICE_UNKNOWN");
    const raw = new RpcClient(later(directTransport(server.endpoint), (t) => t.close()));
    const error = await rejection(raw.unary(healthProtocol.Health.method.check, { service: "no.such.Service" }, { timeoutMs: 2000 }));
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toMatch(/no service "no\.such\.Service" here/);
    expect(await health.list({ timeoutMs: 2000 })).toEqual(new Map([["", "SERVING"], [ECHO, "SERVING"]]));
    // The health service is the server's own, not one the application hosts.
    expect(server.services).toEqual([ECHO]);
  });

  test("the application sets a status and a watcher sees each change, and only changes", async () => {
    const server = start();
    const watch = watching(healthOf(server.endpoint).watch(ECHO, { timeoutMs: 2000 }));
    await saidSoFar(watch.seen, ["SERVING"]);
    server.health.set(ECHO, "NOT_SERVING");
    await saidSoFar(watch.seen, ["SERVING", "NOT_SERVING"]);
    server.health.set(ECHO, "NOT_SERVING"); // no change: nothing to say
    server.health.set("", "NOT_SERVING"); // another service's change: nothing for this watcher
    server.health.set(ECHO, "SERVING");
    await saidSoFar(watch.seen, ["SERVING", "NOT_SERVING", "SERVING"]);
    expect(await healthOf(server.endpoint).check("", { timeoutMs: 2000 })).toBe("NOT_SERVING");
    expect(watch.state.ended).toBe(false);
  });

  test("Watch of an unknown service says SERVICE_UNKNOWN and goes on; it sees the service once it is hosted", async () => {
    const server = later(new RpcServer(loopback()), (s) => s.close({ graceMs: 0 }));
    const watch = watching(healthOf(server.endpoint).watch(ECHO, { timeoutMs: 2000 }));
    await saidSoFar(watch.seen, ["SERVICE_UNKNOWN"]);
    server.add(EchoDefinition, echo("late"));
    await saidSoFar(watch.seen, ["SERVICE_UNKNOWN", "SERVING"]);
    expect(watch.state.ended).toBe(false);
  });

  test("a bad status is refused with what to give", () => {
    const server = start();
    expect(() => server.health.set(ECHO, "DOWN" as "SERVING")).toThrow(/"SERVING" or "NOT_SERVING", not "DOWN"/);
  });

  test("a graceful close: watchers and Check see NOT_SERVING while a call in flight finishes, then the server goes", async () => {
    const calls: CallContext[] = [];
    const server = new RpcServer(loopback()).add(EchoDefinition, echo("one", calls));
    const transport = later(directTransport(server.endpoint), (t) => t.close());
    const health = new HealthClient(transport);
    const watch = watching(health.watch(ECHO, { timeoutMs: 2000 }));
    await saidSoFar(watch.seen, ["SERVING"]);
    const slow = new EchoClient(transport).say({ text: "slow", delayMs: 1500 }, { timeoutMs: 5000 });
    await eventually(() => calls.length === 1, 2000, "the slow call reached the server");
    const closed = server.close({ graceMs: 5000 });
    // The watch is told, and ends: nothing can change any more.
    await saidSoFar(watch.seen, ["SERVING", "NOT_SERVING"]);
    await watch.done;
    expect(watch.state.error).toBeUndefined();
    // Still answering, while the slow call runs: health checks say NOT_SERVING, other calls are turned away.
    expect(await health.check("", { timeoutMs: 1000 })).toBe("NOT_SERVING");
    expect(await health.check(ECHO, { timeoutMs: 1000 })).toBe("NOT_SERVING");
    expect((await rejection(new EchoClient(transport).say({ text: "late" }, { timeoutMs: 1000 }))).code).toBe("UNAVAILABLE");
    expect((await slow).text).toBe("slow");
    await closed;
    // Gone: the connection dropped (or, had it not been made yet, no answer in time).
    expect((await rejection(health.check("", { timeoutMs: 300 }))).code).toMatch(/^(UNAVAILABLE|DEADLINE_EXCEEDED)$/);
    // Closed, it stays NOT_SERVING: a set is ignored.
    server.health.set(ECHO, "SERVING");
    expect(server.health.check(ECHO)).toBe("NOT_SERVING");
  });
});

describe("a serve() host", () => {
  test("its services are SERVING once hosted, found through the registry; the host sets them; close turns them NOT_SERVING first", async () => {
    const registry = later(new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() }), (r) => r.close());
    const host = await serve(EchoDefinition, echo("served"), { endpoint: loopback(), registry: registry.endpoint, ttlMs: 3000 });
    later(host, (h) => h.close({ graceMs: 0 }));
    await host.waitForRegistration({ timeoutMs: 5000 });
    const [instance] = await later(new RegistryClient({ endpoint: registry.endpoint }), (c) => c.close()).lookup(ECHO);
    const health = healthOf(instance!.endpoint);
    expect(await health.check(ECHO, { timeoutMs: 2000 })).toBe("SERVING");
    const watch = watching(health.watch(ECHO, { timeoutMs: 2000 }));
    await saidSoFar(watch.seen, ["SERVING"]);
    host.health.set(ECHO, "NOT_SERVING");
    await saidSoFar(watch.seen, ["SERVING", "NOT_SERVING"]);
    host.health.set(ECHO, "SERVING");
    await saidSoFar(watch.seen, ["SERVING", "NOT_SERVING", "SERVING"]);
    await host.close({ graceMs: 2000 });
    await watch.done;
    expect(watch.seen).toEqual(["SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING"]);
  });
});

describe("a broker", () => {
  async function setup() {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200, unknownServiceGraceMs: 0 }), (b) => b.close({ graceMs: 0 }));
    return { broker, health: healthOf(broker.frontendEndpoint) };
  }
  const worker = (broker: Broker, name: string) => later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200 }).add(EchoDefinition, echo(name)).start(), (w) => w.close({ graceMs: 0 }));

  test("answers for itself (\"\") and for its workers' services: SERVICE_UNKNOWN before any worker, SERVING while one serves, NOT_SERVING when none does", async () => {
    const { broker, health } = await setup();
    expect(await health.check("", { timeoutMs: 2000 })).toBe("SERVING");
    expect(await health.check(ECHO, { timeoutMs: 2000 })).toBe("SERVICE_UNKNOWN");
    const watch = watching(health.watch(ECHO, { timeoutMs: 2000 }));
    await saidSoFar(watch.seen, ["SERVICE_UNKNOWN"]);
    const first = worker(broker, "first");
    await saidSoFar(watch.seen, ["SERVICE_UNKNOWN", "SERVING"]);
    expect(await health.check(ECHO, { timeoutMs: 2000 })).toBe("SERVING");
    // A second worker changes nothing; the first leaving neither, while the second serves.
    const second = worker(broker, "second");
    await eventually(() => broker.services().some((s) => s.name === ECHO && s.workers === 2), 5000, "two workers");
    await first.close({ graceMs: 0 });
    await eventually(() => broker.services().some((s) => s.name === ECHO && s.workers === 1), 5000, "one worker");
    expect(await health.check(ECHO, { timeoutMs: 2000 })).toBe("SERVING");
    await second.close({ graceMs: 0 });
    await saidSoFar(watch.seen, ["SERVICE_UNKNOWN", "SERVING", "NOT_SERVING"]);
    expect(await health.check(ECHO, { timeoutMs: 2000 })).toBe("NOT_SERVING");
    worker(broker, "third");
    await saidSoFar(watch.seen, ["SERVICE_UNKNOWN", "SERVING", "NOT_SERVING", "SERVING"]);
  });

  test("closing, it says NOT_SERVING to watchers and to Check while a call in flight finishes", async () => {
    const { broker, health } = await setup();
    worker(broker, "one");
    const watch = watching(health.watch(ECHO, { timeoutMs: 2000 }));
    await eventually(() => watch.seen.at(-1) === "SERVING", 5000, "the worker announced Echo");
    const transport = later(directTransport(broker.frontendEndpoint), (t) => t.close());
    const slow = new EchoClient(transport).say({ text: "slow", delayMs: 1500 }, { timeoutMs: 5000 });
    await eventually(() => broker.stats.dispatched === 1, 2000, "the slow call reached the worker");
    const closed = broker.close({ graceMs: 5000 });
    await eventually(() => watch.seen.at(-1) === "NOT_SERVING", 2000, "the watch said NOT_SERVING");
    await watch.done;
    expect(await health.check("", { timeoutMs: 1000 })).toBe("NOT_SERVING");
    expect(await health.check(ECHO, { timeoutMs: 1000 })).toBe("NOT_SERVING");
    expect((await slow).text).toBe("slow");
    await closed;
  });
});

describe("dividere health", () => {
  const dividere = (...args: string[]) => runNode(dividereBin, 20_000, { args });

  test("--help prints its usage with the exit codes", async () => {
    const { code, stdout } = await dividere("health", "--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: dividere health TARGET \[SERVICE\]/);
    expect(stdout).toMatch(/exit codes:[\s\S]*3 {2}no answer within --timeout/);
  });

  test("exits 0 when SERVING, 1 when NOT_SERVING or SERVICE_UNKNOWN, 2 on a usage error", async () => {
    const server = later(new RpcServer(loopback()).add(EchoDefinition, echo("one")), (s) => s.close({ graceMs: 0 }));
    expect(await dividere("health", server.endpoint)).toMatchObject({ code: 0, stdout: "SERVING\n" });
    expect(await dividere("health", server.endpoint, ECHO)).toMatchObject({ code: 0, stdout: "SERVING\n" });
    server.health.set(ECHO, "NOT_SERVING");
    expect(await dividere("health", server.endpoint, ECHO)).toMatchObject({ code: 1, stdout: "NOT_SERVING\n" });
    expect(await dividere("health", server.endpoint, "no.such.Service")).toMatchObject({ code: 1, stdout: "SERVICE_UNKNOWN\n" });
    const usage = await dividere("health", server.endpoint, ECHO, "extra");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/expected TARGET \[SERVICE\]/);
    expect((await dividere("health", ECHO, "another")).stderr).toMatch(/leave out SERVICE/);
  });

  test("exits 3 when nothing answers within --timeout, 4 when the target answers with an error", async () => {
    const port = await connection.PortManager.acquire({ host: "127.0.0.1" });
    const nobody = await dividere("health", `tcp://127.0.0.1:${port}`, "--timeout", "300");
    expect(nobody.code).toBe(3);
    expect(nobody.stderr).toMatch(/no answer from tcp:\/\/127\.0\.0\.1:\d+ within 300 ms/);
    // A server whose interceptor turns away every caller without a token, health checks too.
    const guarded = later(
      new RpcServer(loopback(), { interceptors: [() => () => Promise.reject(new RpcError("UNAUTHENTICATED", "no token"))] }),
      (s) => s.close({ graceMs: 0 }),
    );
    const refused = await dividere("health", guarded.endpoint);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/answered UNAUTHENTICATED: no token/);
  });

  test("a broker's frontend, and a service found through the registry", async () => {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200 }), (b) => b.close({ graceMs: 0 }));
    later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200 }).add(EchoDefinition, echo("w")).start(), (w) => w.close({ graceMs: 0 }));
    await eventually(() => broker.services().length === 1, 5000, "the worker announced Echo");
    expect(await dividere("health", broker.frontendEndpoint, ECHO)).toMatchObject({ code: 0, stdout: "SERVING\n" });

    const registry = later(new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() }), (r) => r.close());
    const host = later(await serve(EchoDefinition, echo("served"), { endpoint: loopback(), registry: registry.endpoint }), (h) => h.close({ graceMs: 0 }));
    await host.waitForRegistration({ timeoutMs: 5000 });
    expect(await dividere("health", ECHO, "--registry", registry.endpoint)).toMatchObject({ code: 0, stdout: `${host.endpoint} SERVING\n` });
    host.health.set(ECHO, "NOT_SERVING");
    expect(await dividere("health", ECHO, "--registry", registry.endpoint)).toMatchObject({ code: 1, stdout: `${host.endpoint} NOT_SERVING\n` });
    const none = await dividere("health", "no.such.Service", "--registry", registry.endpoint);
    expect(none).toMatchObject({ code: 1, stdout: "SERVICE_UNKNOWN\n" });
    expect(none.stderr).toMatch(/no instance of no\.such\.Service is registered/);
  });

  test("--watch prints each change, and exits 1 once the server closes (its last word NOT_SERVING)", async () => {
    const server = new RpcServer(loopback()).add(EchoDefinition, echo("one"));
    const watch = new Child(process.execPath, [dividereBin, "health", server.endpoint, ECHO, "--watch"]);
    later(watch, (w) => w.kill());
    expect(await watch.next()).toEqual({ text: "SERVING" });
    server.health.set(ECHO, "NOT_SERVING");
    expect(await watch.next()).toEqual({ text: "NOT_SERVING" });
    server.health.set(ECHO, "SERVING");
    expect(await watch.next()).toEqual({ text: "SERVING" });
    await server.close({ graceMs: 2000 });
    expect(await watch.rest()).toEqual([{ text: "NOT_SERVING" }]);
    expect(await watch.exited).toBe(1);
  });
});
