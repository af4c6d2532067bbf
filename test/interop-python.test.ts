import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { MsgLib, RegistryClient, RegistryServer, connection, messaging, serve } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { file_test_TestMsg, testDtMsg14Schema, testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { eventually } from "./helpers.js";
import { type Child, registryProcess } from "./processes.js";
import { pyzmq } from "./prerequisites.js";
import { findPython, generatePythonModules, pythonPeer } from "./python-peer.js";

let python: string;
let modules: string;
const peers: Child[] = [];
const types = [file_test_TestMsg, MsgLib.file_dividere_MsgLib];
const ECHO = EchoDefinition.typeName;

function peer(...args: string[]): Child {
  const started = pythonPeer(python, modules, args);
  peers.push(started);
  return started;
}

beforeAll(() => {
  if (!pyzmq.program) return; // every test here is skipped, and the run says so
  python = findPython();
  modules = generatePythonModules();
});

afterEach(() => {
  for (const started of peers.splice(0)) started.kill();
});

describe.skipIf(!pyzmq.program)("a Python peer written from the wire spec", () => {
  test("TypeScript publishes, Python receives by topic", async () => {
    await using pub = new messaging.Publisher({ bind: "tcp://127.0.0.1:0" }, { types });
    const py = peer("sub", pub.endpoint, "4", "testMsg01", "Heartbeat");
    expect(await py.next()).toEqual({ subscribed: ["testMsg01", "Heartbeat"] });
    await pub.waitForSubscribers({ type: testMsg01Schema, timeoutMs: 10_000 });
    await pub.waitForSubscribers({ type: "Heartbeat", timeoutMs: 10_000 });
    for (let i = 0; i < 2; i++) {
      await pub.send(testDtMsg14Schema, { field1: `not for python ${i}` });
      await pub.send(testMsg01Schema, { field1: `from typescript ${i}`, field2: -i });
    }
    await pub.send(MsgLib.HeartbeatSchema, { id: "ts" });
    await pub.send(testMsg01Schema, {});
    expect([await py.next(), await py.next(), await py.next(), await py.next()]).toEqual([
      { type: "testMsg01", json: { field1: "from typescript 0" } },
      { type: "testMsg01", json: { field1: "from typescript 1", field2: -1 } },
      { type: "Heartbeat", json: { id: "ts" } },
      { type: "testMsg01", json: {} },
    ]);
    await py.finished();
  });

  test("Python publishes, TypeScript receives by topic", async () => {
    const py = peer("pub", "4");
    const { endpoint } = (await py.next()) as { endpoint: string };
    await using sub = new messaging.Subscriber(endpoint, { types, topics: [testMsg01Schema, "Heartbeat", "testNestedMsg02", "testDtMsg04"] });
    const received = [];
    for (let i = 0; i < 6; i++) received.push(await sub.recv({ timeoutMs: 10_000 }));
    expect(received.map((msg) => msg.$typeName)).toEqual(["testMsg01", "testMsg01", "testMsg01", "Heartbeat", "testNestedMsg02", "testDtMsg04"]);
    expect(received[2]).toMatchObject({ field1: "from python 2", field2: 2 });
    expect(received[3]).toMatchObject({ id: "python-peer" });
    expect(received[5]).toMatchObject({ field1: -1099511627778n });
    expect(await sub.wait(100)).toBe(false);
    expect(sub.stats.dropped).toEqual({ NOT_AN_ENVELOPE: 0, UNKNOWN_TYPE: 0, CORRUPT_PAYLOAD: 0, OVERSIZED: 0 });
    expect(await py.next()).toEqual({ done: true });
    await py.finished();
  });

  test("TypeScript requests, Python replies", async () => {
    const py = peer("rep", "3");
    const { endpoint } = (await py.next()) as { endpoint: string };
    await using req = new messaging.Request(endpoint, { types: [testMsg01Schema] });
    for (const [i, word] of ["hello", "dividere", "héllo wörld"].entries()) {
      await req.send(testMsg01Schema, { field1: word, field2: i });
      expect(await req.recv({ timeoutMs: 10_000 })).toMatchObject({ field1: [...word].reverse().join(""), field2: i + 1 });
      expect(await py.next()).toEqual({ type: "testMsg01", json: i === 0 ? { field1: word } : { field1: word, field2: i } });
    }
    await py.finished();
  });

  test("Python requests, TypeScript replies", async () => {
    await using rep = new messaging.Response({ bind: "tcp://127.0.0.1:0" }, { types: [testMsg01Schema] });
    const serving = (async () => {
      for await (const request of rep) {
        await rep.send(testMsg01Schema, { field1: request.field1.toUpperCase(), field2: request.field2 * 10 });
      }
    })();
    const py = peer("req", rep.endpoint, "alpha", "beta", "gamma");
    expect([await py.next(), await py.next(), await py.next()]).toEqual([
      { type: "testMsg01", json: { field1: "ALPHA" } },
      { type: "testMsg01", json: { field1: "BETA", field2: 10 } },
      { type: "testMsg01", json: { field1: "GAMMA", field2: 20 } },
    ]);
    await py.finished();
    await rep.close();
    await serving;
  });
});

describe.skipIf(!pyzmq.program)("the name service, against Python dividere's registry protocol", () => {
  test("a Python registry client registers and looks up at this registry, and finds a TypeScript service", async () => {
    const any = { bind: "tcp://127.0.0.1:0" };
    await using registry = new RegistryServer({ endpoint: any, publishEndpoint: any, watchEndpoint: any });
    await using host = await serve(EchoDefinition, echo("ts"), { registry: registry.endpoint, host: "127.0.0.1" });
    await host.waitForRegistration({ timeoutMs: 5000 });
    const echoPort = Number(host.endpoint.split(":").pop());
    const first = peer("registry-client", registry.endpoint, "register:py.Printer:127.0.0.1:5101", "lookup:py.Printer", "lookup:test.services.v1.Echo", "lookup:no.Such");
    expect([await first.next(), await first.next(), await first.next(), await first.next()]).toEqual([
      { step: "register:py.Printer:127.0.0.1:5101", type: "ack", json: { ok: true } },
      { step: "lookup:py.Printer", type: "ServiceLookupRep", json: { serviceName: "py.Printer", server: "127.0.0.1", port: 5101 } },
      { step: "lookup:test.services.v1.Echo", type: "ServiceLookupRep", json: { serviceName: "test.services.v1.Echo", server: "127.0.0.1", port: echoPort } },
      { step: "lookup:no.Such", type: "ServiceLookupRep", json: { serviceName: "no.Such", server: "unavailable" } },
    ]);
    await first.finished();
    expect(registry.lookup("py.Printer").map((instance) => instance.endpoint)).toEqual(["tcp://127.0.0.1:5101"]);

    const second = peer("registry-client", registry.endpoint, "unregister:py.Printer:127.0.0.1:5101", "lookup:py.Printer");
    expect([await second.next(), await second.next()]).toEqual([
      { step: "unregister:py.Printer:127.0.0.1:5101", type: "ack", json: { ok: true } },
      { step: "lookup:py.Printer", type: "ServiceLookupRep", json: { serviceName: "py.Printer", server: "unavailable" } },
    ]);
    await second.finished();
    expect(registry.lookup("py.Printer")).toEqual([]);
  });

  test("this registry client registers and looks up at a registry speaking the Python protocol", async () => {
    const py = peer("registry-server", "3");
    const { endpoint, publish } = (await py.next()) as { endpoint: string; publish: string };
    await using client = new RegistryClient({ endpoint, publishEndpoint: publish, protocol: "python" });
    await client.register({ service: "ts.Thing", instanceId: "ignored by Python", endpoint: "tcp://127.0.0.1:6001" });
    expect((await client.lookup("ts.Thing")).map((instance) => instance.endpoint)).toEqual(["tcp://127.0.0.1:6001"]);
    expect(await client.lookup("no.Such")).toEqual([]);
    expect([await py.next(), await py.next(), await py.next()]).toEqual([
      { type: "RegisterService", json: { serviceName: "ts.Thing", server: "127.0.0.1", port: 6001 } },
      { type: "ServiceLookupReq", json: { serviceName: "ts.Thing" } },
      { type: "ServiceLookupReq", json: { serviceName: "no.Such" } },
    ]);
    await py.finished();
  });

  test("a hosted service registers with a Python-protocol registry, and again when it asks (RediscoverReq)", async () => {
    const py = peer("registry-server", "2");
    const { endpoint, publish } = (await py.next()) as { endpoint: string; publish: string };
    const registry = new RegistryClient({ endpoint, publishEndpoint: publish, protocol: "python", timeoutMs: 1000 });
    await using host = await serve(EchoDefinition, echo("ts"), { registry, host: "127.0.0.1" });
    const port = Number(host.endpoint.split(":").pop());
    const registration = { type: "RegisterService", json: { serviceName: "test.services.v1.Echo", server: "127.0.0.1", port } };
    expect([await py.next(), await py.next()]).toEqual([registration, registration]);
    await py.finished();
    await host.close({ graceMs: 0 });
    await registry.close();
  });
});

describe.skipIf(!pyzmq.program)("a Python dividere service beside this registry's watch", () => {
  /** Every line `py` prints, as it prints it, until it ends. */
  function collect(py: Child): Record<string, unknown>[] {
    const lines: Record<string, unknown>[] = [];
    void (async () => {
      for (;;) lines.push(await py.next(Number.MAX_SAFE_INTEGER));
    })().catch(() => undefined);
    return lines;
  }

  /** Runs `attempt` every 50 ms until it returns true; false if it did not within `timeoutMs`. */
  async function within(timeoutMs: number, attempt: () => Promise<boolean>): Promise<boolean> {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      if (await attempt()) return true;
    }
    return false;
  }

  test("keeps registering again through two registry restarts while the watch publishes InstancesChanged", async () => {
    const free = () => connection.PortManager.acquire({ host: "127.0.0.1" });
    const ports = { request: await free(), publish: await free(), watch: await free() };
    let { registry, endpoints } = await registryProcess((child) => peers.push(child), ports);
    // The watch in use: a client watching, and a TypeScript service registered with a lease it renews.
    await using names = new RegistryClient({ ...endpoints, timeoutMs: 1000 });
    const changes: string[] = [];
    names.onChange((service) => changes.push(service));
    await using host = await serve(EchoDefinition, echo("ts"), { registry: names, host: "127.0.0.1", ttlMs: 1000 });

    const py = peer("service", endpoints.endpoint, endpoints.publishEndpoint, "py.Printer");
    const { endpoint: pyEndpoint } = (await py.next()) as { endpoint: string };
    const lines = collect(py);
    const registrations = () => lines.filter((line) => "registered" in line).length;
    const died = () => lines.filter((line) => "died" in line);
    const found = async () => (await names.lookup("py.Printer").catch(() => [])).some((instance) => instance.endpoint === pyEndpoint);
    // The watcher may join a new registry after the changes it publishes first (the late joiner):
    // until it has seen one, each attempt makes another.
    let probes = 0;
    const watched = (since: number) =>
      within(5000, async () => {
        if (changes.length > since) return true;
        await names.register({ service: "ts.Probe", instanceId: `probe-${++probes}`, endpoint: "tcp://127.0.0.1:1", ttlMs: 500 });
        return false;
      });
    await eventually(() => registrations() >= 1, 10_000, "the Python service registered");
    expect(await watched(0), "the watcher saw InstancesChanged").toBe(true);

    for (const restart of [1, 2]) {
      const before = { registrations: registrations(), changes: changes.length };
      registry.kill("SIGKILL");
      await registry.exited;
      ({ registry, endpoints } = await registryProcess((child) => peers.push(child), ports));
      const restartedAt = Date.now();
      // The new registry knows nothing: finding the Python service there means it registered again.
      const again = await within(10_000, found);
      const foundAfter = Date.now() - restartedAt;
      expect(died(), `restart ${restart}: the Python service's re-registration died`).toEqual([]);
      expect(again, `restart ${restart}: the Python service is registered again within 10 s`).toBe(true);
      expect(registrations()).toBeGreaterThan(before.registrations);
      expect(await watched(before.changes), `restart ${restart}: the watcher saw InstancesChanged again`).toBe(true);
      console.log(`restart ${restart}: the Python service registered again within ${foundAfter} ms; the watcher saw ${[...new Set(changes.slice(before.changes))].join(", ")}`);
    }
    expect(died()).toEqual([]);
    expect(await names.lookup(ECHO)).toEqual(host.instances.map((instance) => expect.objectContaining({ instanceId: instance.instanceId })));
  }, 60_000);
});
