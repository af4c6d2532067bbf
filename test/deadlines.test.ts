// Deadlines while a dependency is down, over real processes: the registry not running, running
// without the service, an instance or the broker stopped with SIGSTOP (hung: its port still
// accepts connections, nothing answers). A call with `timeoutMs: 300` must settle within 500 ms
// with a code that says what happened and a message that says which part did not answer, in a
// program and through `dividere call --timeout 300`.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { type AddressInfo, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  Broker,
  DEFAULT_TIMEOUT_MS,
  DividereError,
  RegistryClient,
  RpcServer,
  brokerTransport,
  connection,
  directTransport,
  messaging,
  registryTransport,
  rpcProtocol,
  serve,
  type Transport,
  Worker,
} from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { runNode } from "./helpers.js";
import { Child, type RegistryPorts, brokerProcess as startBroker, dividereBin as bin, node, registryProcess as startRegistry } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixture = (name: string) => join(root, "test/fixtures", name);
const ECHO = "test.services.v1.Echo";
const DEADLINE = 300;
/** What a call may take beyond its deadline: timers, scheduling, a loaded machine. */
const MARGIN = 200;
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const freePort = () => connection.PortManager.acquire({ host: "127.0.0.1" });

/** A child that is stopped with SIGSTOP until the test ends (SIGCONT, then SIGKILL). */
function hang(child: Child): void {
  process.kill(child.pid, "SIGSTOP");
  cleanup.push(() => process.kill(child.pid, "SIGCONT"));
}

const registryProcess = async (ports?: RegistryPorts) => (await startRegistry((child) => later(child, (c) => c.kill()), ports)).endpoints;

/** An Echo service registered with `registry` for a minute: it stays listed while it hangs. */
async function serviceProcess(registry: string): Promise<{ child: Child; endpoint: string }> {
  const child = later(node(fixture("faults-service.mjs"), "hung", registry, "60000"), (c) => c.kill());
  const { ready } = (await child.next()) as { ready: string };
  return { child, endpoint: ready };
}

/** `dividere broker` with one Echo worker. */
async function brokerProcess(): Promise<{ broker: Child; frontend: string; backend: string }> {
  const { broker, frontend, backend } = await startBroker((child) => later(child, (c) => c.kill()));
  const worker = later(node(fixture("faults-worker.mjs"), "w", backend, "1000", "1"), (c) => c.kill());
  await worker.next();
  return { broker, frontend, backend };
}

/** How a call ended, and after how long. */
async function timed(call: () => Promise<unknown>): Promise<{ code: string; message: string; ms: number }> {
  const started = Date.now();
  try {
    await call();
    return { code: "OK", message: "", ms: Date.now() - started };
  } catch (error) {
    if (!(error instanceof DividereError)) throw error;
    return { code: error.code, message: error.message, ms: Date.now() - started };
  }
}

const say = (transport: Transport, options: { timeoutMs?: number; retries?: number } = { timeoutMs: DEADLINE }) =>
  timed(() => new EchoClient(transport).say({ text: "anybody?" }, options));

describe("a call with timeoutMs: 300 settles within 500 ms whatever is down", () => {
  test("the registry is not running: DEADLINE_EXCEEDED naming the registry, also with retries and for 20 calls at once", async () => {
    const registry = `tcp://127.0.0.1:${await freePort()}`;
    const transport = later(registryTransport(registry), (t) => t.close());
    const one = await say(transport);
    const retried = await say(transport, { timeoutMs: DEADLINE, retries: 3 });
    const many = await Promise.all(Array.from({ length: 20 }, () => say(transport)));
    console.log(`registry not running: ${one.code} after ${one.ms} ms (${one.message}); with retries ${retried.ms} ms; 20 at once: slowest ${Math.max(...many.map((c) => c.ms))} ms`);
    for (const outcome of [one, retried, ...many]) {
      expect(outcome.code).toBe("DEADLINE_EXCEEDED");
      expect(outcome.ms).toBeLessThan(DEADLINE + MARGIN);
    }
    expect(one.message).toContain(registry);
    expect(one.message).toMatch(/registry/);
  });

  test("nothing listens at a direct call's endpoint: DEADLINE_EXCEEDED naming it, and that no connection was ever made", async () => {
    const endpoint = `tcp://127.0.0.1:${await freePort()}`;
    const outcome = await say(later(directTransport(endpoint), (t) => t.close()));
    console.log(`nothing listening: ${outcome.code} after ${outcome.ms} ms (${outcome.message})`);
    expect(outcome.code).toBe("DEADLINE_EXCEEDED");
    expect(outcome.ms).toBeLessThan(DEADLINE + MARGIN);
    expect(outcome.message).toBe(
      `/test.services.v1.Echo/Say: no reply from ${endpoint} within the deadline; no connection to it was ever made: is a server running there, at that address and port?`,
    );

    // Something that is no ZeroMQ peer accepts the connection and says nothing.
    const accepted: Socket[] = [];
    const silent = createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    later(silent, (server) => (accepted.forEach((socket) => socket.destroy()), new Promise((resolve) => server.close(resolve))));
    const mute = await say(later(directTransport(`tcp://127.0.0.1:${(silent.address() as AddressInfo).port}`), (t) => t.close()));
    expect(mute.code).toBe("DEADLINE_EXCEEDED");
    expect(mute.message).toContain(`:${(silent.address() as AddressInfo).port} within the deadline; a connection was made but its ZeroMQ handshake never finished`);
  });

  test("the registry runs, the service is not registered: UNAVAILABLE at once", async () => {
    const registry = await registryProcess();
    const transport = later(registryTransport(new RegistryClient(registry)), (t) => t.close());
    const outcome = await say(transport);
    const retried = await say(transport, { timeoutMs: DEADLINE, retries: 3 });
    console.log(`service not registered: ${outcome.code} after ${outcome.ms} ms (${outcome.message}); with retries ${retried.code} after ${retried.ms} ms`);
    expect(outcome).toMatchObject({ code: "UNAVAILABLE" });
    expect(outcome.message).toContain(ECHO);
    expect(outcome.ms).toBeLessThan(DEADLINE + MARGIN);
    expect(retried.code).toMatch(/^(UNAVAILABLE|DEADLINE_EXCEEDED)$/);
    expect(retried.ms).toBeLessThan(DEADLINE + MARGIN);
  });

  test("an instance is SIGSTOPped: DEADLINE_EXCEEDED on a transport already connected to it, and on a new one", async () => {
    const at = await registryProcess();
    const service = await serviceProcess(at.endpoint);
    const connected = later(registryTransport(new RegistryClient(at)), (t) => t.close());
    expect((await say(connected, { timeoutMs: 5000 })).code).toBe("OK");
    hang(service.child);
    const existing = await say(connected);
    const fresh = await say(later(registryTransport(new RegistryClient(at)), (t) => t.close()));
    const direct = await say(later(directTransport(service.endpoint), (t) => t.close()));
    console.log(`instance SIGSTOPped: existing transport ${existing.code} after ${existing.ms} ms; new one ${fresh.code} after ${fresh.ms} ms (${fresh.message}); direct ${direct.code} after ${direct.ms} ms`);
    for (const outcome of [existing, fresh, direct]) {
      expect(outcome.code).toBe("DEADLINE_EXCEEDED");
      expect(outcome.ms).toBeLessThan(DEADLINE + MARGIN);
      expect(outcome.message).toContain(service.endpoint);
    }
  });

  test("the broker is SIGSTOPped: DEADLINE_EXCEEDED on a transport already connected to it, and on a new one", async () => {
    const { broker, frontend } = await brokerProcess();
    const connected = later(brokerTransport(frontend), (t) => t.close());
    expect((await say(connected, { timeoutMs: 5000 })).code).toBe("OK");
    hang(broker);
    const existing = await say(connected);
    const fresh = await say(later(brokerTransport(frontend), (t) => t.close()));
    console.log(`broker SIGSTOPped: existing transport ${existing.code} after ${existing.ms} ms; new one ${fresh.code} after ${fresh.ms} ms (${fresh.message})`);
    for (const outcome of [existing, fresh]) {
      expect(outcome.code).toBe("DEADLINE_EXCEEDED");
      expect(outcome.ms).toBeLessThan(DEADLINE + MARGIN);
      expect(outcome.message).toContain(frontend);
    }
  });
});

describe("dividere call --timeout 300 exits within 500 ms of its start-up whatever is down", () => {
  let descriptors: string;
  beforeAll(() => {
    descriptors = join(mkdtempSync(join(tmpdir(), "dividere-deadlines-")), "protos.binpb");
    execFileSync(join(root, "node_modules/.bin/buf"), ["build", join(root, "proto"), "-o", descriptors]);
  });

  /** `dividere call` with a 300 ms deadline: its exit code, its error line, how long the process ran. */
  const call = async (...args: string[]) => {
    const { code, stderr, ms } = await runNode(bin, 20_000, { args: ["call", ...args, '{"text": "anybody?"}', "--timeout", String(DEADLINE), "--descriptor-set", descriptors] });
    return { code, stderr: stderr.trim(), ms };
  };

  test("registry not running, service not registered, instance hung, broker hung", async () => {
    // What starting the command costs on this machine: a call that fails before any wait.
    const startup = await runNode(bin, 20_000, { args: ["call", "tcp://127.0.0.1:1", `${ECHO}/Nope`, "{}", "--descriptor-set", descriptors] });
    expect(startup.code).toBe(2);
    const noRegistry = await call(ECHO, "Say", "--registry", `tcp://127.0.0.1:${await freePort()}`);
    const { endpoint } = await registryProcess();
    const unregistered = await call(ECHO, "Say", "--registry", endpoint);
    const service = await serviceProcess(endpoint);
    hang(service.child);
    const hungInstance = await call(ECHO, "Say", "--registry", endpoint);
    const hungDirect = await call(service.endpoint, `${ECHO}/Say`);
    const { broker, frontend } = await brokerProcess();
    hang(broker);
    const hungBroker = await call(ECHO, "Say", "--broker", frontend);
    const outcomes = { noRegistry, unregistered, hungInstance, hungDirect, hungBroker };
    console.log(
      `dividere call --timeout ${DEADLINE} (start-up alone ${startup.ms} ms): ` +
        Object.entries(outcomes)
          .map(([name, o]) => `${name} ${o.ms} ms "${o.stderr}"`)
          .join("; "),
    );
    expect(noRegistry.stderr).toMatch(/^dividere call: DEADLINE_EXCEEDED: .*registry/);
    expect(unregistered.stderr).toMatch(/^dividere call: UNAVAILABLE: .*test\.services\.v1\.Echo/);
    expect(hungInstance.stderr).toMatch(/^dividere call: DEADLINE_EXCEEDED: /);
    expect(hungDirect.stderr).toMatch(/^dividere call: DEADLINE_EXCEEDED: /);
    expect(hungBroker.stderr).toMatch(/^dividere call: DEADLINE_EXCEEDED: /);
    for (const outcome of Object.values(outcomes)) {
      expect(outcome.code).toBe(1);
      expect(outcome.ms - startup.ms).toBeLessThan(DEADLINE + MARGIN);
    }
  });
});

describe("hosting while the registry is down", () => {
  test("serve() resolves within its bind time, registers once the registry is up, and close() keeps to its grace", async () => {
    const ports = { request: await freePort(), publish: await freePort(), watch: await freePort() };
    const at = { endpoint: `tcp://127.0.0.1:${ports.request}`, publishEndpoint: `tcp://127.0.0.1:${ports.publish}`, watchEndpoint: `tcp://127.0.0.1:${ports.watch}` };
    const alone = await timed(async () => (await serve(EchoDefinition, echo("alone"), { host: "127.0.0.1" })).close({ graceMs: 0 }));
    const errors: DividereError[] = [];
    const started = Date.now();
    const host = await serve(EchoDefinition, echo("waiting"), {
      host: "127.0.0.1",
      registry: later(new RegistryClient(at), (c) => c.close()),
      onError: (error) => errors.push(error),
    });
    const served = Date.now() - started;
    console.log(`serve() with the registry down resolved after ${served} ms (serve and close without a registry: ${alone.ms} ms)`);
    expect(served).toBeLessThan(alone.ms + MARGIN);

    // The registry comes up on its ports: the host registers by itself.
    const up = await startRegistry((child) => later(child, (c) => c.kill()), ports);
    await host.waitForRegistration({ timeoutMs: 10_000 });
    const lookups = later(new RegistryClient({ ...at, timeoutMs: 1000 }), (c) => c.close());
    expect((await lookups.lookup(ECHO)).map((i) => i.endpoint)).toEqual([host.endpoint]);

    // And down again: close() does not wait for a registry that does not answer beyond its grace.
    up.registry.kill();
    await up.registry.exited;
    const stopped = await timed(() => host.close({ graceMs: 1000 }));
    console.log(`close({ graceMs: 1000 }) with the registry gone: ${stopped.ms} ms; errors reported: ${errors.map((e) => e.message).join(" | ")}`);
    expect(stopped.code).toBe("OK");
    expect(stopped.ms).toBeLessThan(1000 + MARGIN);
  });
});

describe("a call without timeoutMs has a deadline", () => {
  /** A server that reads calls and never answers: what each request says its deadline is. */
  async function silentServer() {
    const router = later(new messaging.Router({ bind: "tcp://127.0.0.1:0" }, { types: [rpcProtocol.RpcRequestSchema, rpcProtocol.RpcCancelSchema] }), (r) => r.close());
    const nextRequest = async () => {
      for (;;) {
        const { message } = await router.recv({ timeoutMs: 5000 });
        if (message.$typeName === "dividere.v1.RpcRequest") return message;
      }
    };
    return { endpoint: router.endpoint, nextRequest };
  }

  test(`a unary call gets ${DEFAULT_TIMEOUT_MS} ms, a stream none on the wire; a transport's defaults and Infinity override it`, async () => {
    const server = await silentServer();
    const echoes = new EchoClient(later(directTransport(server.endpoint), (t) => t.close()));
    const unary = echoes.say({ text: "default" }).catch((error: unknown) => error);
    // What is left of the deadline when the request goes out: a millisecond may pass on the way.
    const defaulted = (await server.nextRequest()).timeoutMs;
    expect(defaulted).toBeLessThanOrEqual(DEFAULT_TIMEOUT_MS);
    expect(defaulted).toBeGreaterThan(DEFAULT_TIMEOUT_MS - MARGIN);
    const stream = (async () => {
      for await (const _ of echoes.count({ text: "default", count: 1 })) break;
    })().catch((error: unknown) => error);
    expect((await server.nextRequest()).timeoutMs).toBe(0);
    const forever = echoes.say({ text: "forever" }, { timeoutMs: Number.POSITIVE_INFINITY }).catch((error: unknown) => error);
    expect((await server.nextRequest()).timeoutMs).toBe(0);

    const short = new EchoClient(later(directTransport(server.endpoint, { defaults: { timeoutMs: DEADLINE } }), (t) => t.close()));
    const outcome = await timed(() => short.say({ text: "short" }));
    expect((await server.nextRequest()).timeoutMs).toBeLessThanOrEqual(DEADLINE);
    expect(outcome.code).toBe("DEADLINE_EXCEEDED");
    expect(outcome.ms).toBeLessThan(DEADLINE + MARGIN);
    expect(await timed(() => short.say({ text: "bad" }, { timeoutMs: Number.NaN }))).toMatchObject({ code: "INVALID_ARGUMENT" });
    // The calls that wait for the silent server end with the transports.
    for (const close of cleanup.splice(0).reverse()) await close();
    for (const pending of [unary, stream, forever]) expect(await pending).toMatchObject({ code: "UNAVAILABLE" });
  });

  test("a timeoutMs of 2^31 ms or more is waited for, not taken for 1 ms (Node's timer overflow)", async () => {
    await using server = new RpcServer({ bind: "tcp://127.0.0.1:0" }).add(EchoDefinition, echo("patient"));
    const echoes = new EchoClient(later(directTransport(server.endpoint), (t) => t.close()));
    const reply = await echoes.say({ text: "later", delayMs: 100 }, { timeoutMs: 2 ** 31 + 1000 });
    expect(reply.text).toBe("later");
  });
});

describe("an attempt's own limit", () => {
  test("attemptTimeoutMs bounds the wait for a stream's first reply, not the stream", async () => {
    await using broker = new Broker({ frontend: { bind: "tcp://127.0.0.1:0" }, backend: { bind: "tcp://127.0.0.1:0" } });
    const worker = new Worker(broker.backendEndpoint).add(EchoDefinition, echo("streamer")).start();
    cleanup.push(() => worker.close({ graceMs: 0 }));
    const echoes = new EchoClient(later(brokerTransport(broker.frontendEndpoint, { defaults: { attemptTimeoutMs: 300 } }), (t) => t.close()));
    const started = Date.now();
    const indexes: number[] = [];
    for await (const reply of echoes.count({ text: "tick", count: 10, delayMs: 100 }, { timeoutMs: 10_000 })) indexes.push(reply.index);
    expect(indexes).toEqual([...Array(10).keys()]);
    expect(Date.now() - started).toBeGreaterThan(300);
  });
});
