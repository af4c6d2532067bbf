import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { Etcd3 } from "etcd3";
import { RegistryClient, type RegistryEndpoints, RegistryServer, brokerTransport, registryProtocol, registryTransport } from "@dividere/runtime";
import { EchoClient } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { EtcdCluster } from "./etcd.js";
import { eventually, runNode } from "./helpers.js";
import { type Child, brokerProcess, dividereBin, node, registryProcess } from "./processes.js";
import { etcd, pyzmq } from "./prerequisites.js";
import { findPython, generatePythonModules, pythonPeer } from "./python-peer.js";

/*
 * The registry's records on etcd: a 3-member cluster of Debian's etcd 3.4 on loopback (started
 * once for the file), `dividere registry --store etcd://...` processes over it, services in
 * processes of their own. Each test keeps its records under a root of its own.
 */

const ECHO = "test.services.v1.Echo";
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
let cluster: EtcdCluster;
let roots = 0;
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

beforeAll(async () => {
  if (etcd.program) cluster = await EtcdCluster.start();
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
});

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A new key root, so that no test sees another's records. */
const newRoot = () => `/test-${process.pid}-${++roots}/`;

/** A `dividere registry` process over the cluster, under `root`. */
async function registryOn(root: string): Promise<{ registry: Child; endpoints: RegistryEndpoints }> {
  return registryProcess((child) => later(child, (c) => c.kill()), { store: cluster.store(root) });
}

function clientOf(endpoints: RegistryEndpoints, timeoutMs = 1000): RegistryClient {
  return later(new RegistryClient({ ...endpoints, timeoutMs }), (client) => client.close());
}

/** An Echo service in a process of its own, registered through `registry` with a lease of `ttlMs`. */
async function echoProcess(name: string, registry: string, ttlMs: number): Promise<Child> {
  const child = later(node(fixture("echo-service.mjs"), name, registry, String(ttlMs)), (c) => c.kill());
  await child.next(); // its start line: bound, registering
  return child;
}

const endpointsOf = (instances: registryProtocol.Instance[]) => instances.map((instance) => instance.endpoint).sort();

describe.skipIf(!etcd.program)("the registry's records on etcd, several registries over one cluster", () => {
  test("a service registered through one registry is found through the other, and a watch on either sees it come and go", async () => {
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const seen: Record<"a" | "b", string[][]> = { a: [], b: [] };
    for (const [name, registry] of [["a", a], ["b", b]] as const) {
      const client = clientOf(registry.endpoints);
      client.onChange((service, instances) => service === ECHO && seen[name].push(endpointsOf(instances)));
    }
    // Both watches are connected once a change through either reaches both: register a marker.
    const marker = clientOf(a.endpoints);
    await marker.register({ service: ECHO, instanceId: "marker", endpoint: "tcp://127.0.0.1:1", ttlMs: 0 });
    await eventually(() => seen.a.length > 0 && seen.b.length > 0, 10_000, "both watches connected");
    await marker.unregister(ECHO, "marker");
    await eventually(() => seen.a.at(-1)?.length === 0 && seen.b.at(-1)?.length === 0, 5000, "the marker gone from both");

    const service = await echoProcess("one", a.endpoints.endpoint, 3000);
    const fromB = clientOf(b.endpoints);
    await eventually(() => seen.b.at(-1)?.length === 1, 5000, "b's watch sees the service a registered");
    const [endpoint] = seen.b.at(-1)!;
    expect(endpointsOf(await fromB.lookup(ECHO))).toEqual([endpoint]);
    expect(seen.a.at(-1)).toEqual([endpoint]);
    // And calls through b's view reach it.
    const echo = new EchoClient(later(registryTransport(fromB), (t) => t.close()));
    expect((await echo.say({ text: "via b" }, { timeoutMs: 5000 })).text).toContain("via b");

    service.kill("SIGTERM"); // it unregisters through a
    await eventually(() => seen.b.at(-1)?.length === 0, 5000, "b's watch sees it go");
    expect(await fromB.lookup(ECHO)).toEqual([]);
  });

  test("a service SIGKILLed is gone from both registries within its TTL", async () => {
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const service = await echoProcess("doomed", b.endpoints.endpoint, 3000);
    const [fromA, fromB] = [clientOf(a.endpoints), clientOf(b.endpoints)];
    await eventually(async () => (await registeredAt(fromA)) && (await registeredAt(fromB)), 5000, "registered, seen by both");
    const gone: Record<string, number> = {};
    for (const [name, client] of [["a", fromA], ["b", fromB]] as const) {
      client.onChange((svc, instances) => svc === ECHO && instances.length === 0 && (gone[name] ??= Date.now()));
    }
    const killed = Date.now();
    service.kill("SIGKILL");
    await eventually(() => gone.a !== undefined && gone.b !== undefined, 10_000, "both watches report it gone");
    // Its lease was renewed at most a third of it before: it runs out within the TTL, and etcd
    // checks leases about every 500 ms.
    for (const at of Object.values(gone)) expect(at - killed).toBeLessThan(3000 + 1000);
    expect(await fromA.lookup(ECHO)).toEqual([]);
    expect(await fromB.lookup(ECHO)).toEqual([]);

    async function registeredAt(client: RegistryClient) {
      return (await client.lookup(ECHO)).length === 1;
    }
  });

  test("one etcd member SIGKILLed under load (the leader): no registration lost, calls and lookups go on", async () => {
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const services = 4;
    for (let i = 0; i < services; i++) await echoProcess(`s${i}`, (i % 2 ? a : b).endpoints.endpoint, 3000);
    const fromB = clientOf(b.endpoints, 3000);
    await eventually(async () => (await fromB.lookup(ECHO)).length === services, 5000, "every service registered");
    const echo = new EchoClient(later(registryTransport(clientOf(a.endpoints, 3000), { refreshMs: 250 }), (t) => t.close()));

    // Calls through a's view, lookups through b's, all the while.
    let stop = false;
    const fewest = { seen: services };
    const failures: unknown[] = [];
    let calls = 0;
    const caller = (async () => {
      while (!stop) {
        await echo.say({ text: "x" }, { timeoutMs: 5000 }).then(() => calls++, (error: unknown) => failures.push(error));
      }
    })();
    const looker = (async () => {
      while (!stop) {
        const seen = await fromB.lookup(ECHO, { timeoutMs: 10_000 }).then(
          (instances) => instances.length,
          (error: unknown) => (failures.push(error), services),
        );
        fewest.seen = Math.min(fewest.seen, seen);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await eventually(() => calls > 50, 10_000, "calls under way");

    const leader = await cluster.leader();
    await cluster.signal(leader, "SIGKILL");
    const killedAt = Date.now();
    // A registration made while etcd elects a new leader is made, late.
    const late = clientOf(b.endpoints, 3000);
    await late.register({ service: ECHO, instanceId: "registered during the election", endpoint: "tcp://127.0.0.1:9", ttlMs: 0 }, { timeoutMs: 15_000 });
    // Two TTLs after the kill: every lease was renewed through it (none ran out).
    await eventually(() => Date.now() - killedAt > 2 * 3000, 10_000, "two TTLs");
    const callsAfter = calls;
    await eventually(() => calls > callsAfter + 50, 10_000, "calls go on");
    stop = true;
    await Promise.all([caller, looker]);
    await cluster.restart(leader);

    expect(failures).toEqual([]);
    expect(fewest.seen).toBe(services);
    const instances = await fromB.lookup(ECHO);
    expect(instances.length).toBe(services + 1);
    expect(instances.map((instance) => instance.instanceId)).toContain("registered during the election");
  }, 60_000);

  test("one registry process SIGKILLed: services, lookups and calls move to the other within their deadlines", async () => {
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const both = [a.endpoints.endpoint, b.endpoints.endpoint];
    const services = 3;
    for (let i = 0; i < services; i++) await echoProcess(`s${i}`, both.join(","), 3000);
    const lookups = later(new RegistryClient({ endpoint: both, timeoutMs: 1000 }), (client) => client.close());
    const echo = new EchoClient(later(registryTransport(new RegistryClient({ endpoint: both, timeoutMs: 1000 }), { refreshMs: 250 }), (t) => t.close()));
    await eventually(async () => (await lookups.lookup(ECHO)).length === services, 5000, "every service registered");

    let stop = false;
    const failures: unknown[] = [];
    const seen: number[] = [];
    let slowest = 0;
    let calls = 0;
    const caller = (async () => {
      while (!stop) await echo.say({ text: "x" }, { timeoutMs: 2000 }).then(() => calls++, (error: unknown) => failures.push(error));
    })();
    const looker = (async () => {
      while (!stop) {
        const started = Date.now();
        await lookups.lookup(ECHO, { timeoutMs: 2500 }).then((instances) => seen.push(instances.length), (error: unknown) => failures.push(error));
        slowest = Math.max(slowest, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await eventually(() => calls > 50, 10_000, "calls under way");
    a.registry.kill("SIGKILL");
    const killedAt = Date.now();
    // Two TTLs: every service renewed its lease through b by then, or lost it.
    await eventually(() => Date.now() - killedAt > 2 * 3000, 10_000, "two TTLs");
    const callsAfter = calls;
    await eventually(() => calls > callsAfter + 50, 10_000, "calls go on");
    stop = true;
    await Promise.all([caller, looker]);

    expect(failures).toEqual([]);
    expect(Math.min(...seen)).toBe(services);
    expect(slowest).toBeLessThan(2500);
    expect(lookups.endpoint).toBe(b.endpoints.endpoint);
  }, 60_000);

  test("two brokers registered through different registries, found through both; one SIGKILLed under load: every call answered once", async () => {
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const both = [a.endpoints.endpoint, b.endpoints.endpoint];
    const brokers: Child[] = [];
    for (const [name, registry] of [["east", a], ["west", b]] as const) {
      const { broker, backend } = await brokerProcess((child) => later(child, (c) => c.kill()), { registry: registry.endpoints.endpoint, heartbeatIntervalMs: 500, ttlMs: 2000 });
      brokers.push(broker);
      const worker = later(node(fixture("echo-worker.mjs"), name, backend, "500", "16"), (c) => c.kill());
      await worker.next();
    }
    const transport = later(brokerTransport({ registry: both }), (t) => t.close());
    const echo = new EchoClient(transport);
    const servedBy = new Set<string>();
    await eventually(async () => (servedBy.add((await echo.say({ text: "warm-up" }, { timeoutMs: 5000 })).servedBy), servedBy.size === 2), 10_000, "both brokers serving");

    const total = 600;
    const outcomes: string[] = [];
    const answers = new Map<number, string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        while (next < total) {
          const i = next++;
          if (i === 150) brokers[0]!.kill("SIGKILL");
          await echo.say({ text: `call ${i}`, delayMs: 5 }, { timeoutMs: 20_000 }).then(
            (reply) => {
              if (reply.text !== `call ${i}`) outcomes.push(`call ${i} got ${reply.text}`);
              if (answers.has(i)) outcomes.push(`call ${i} answered twice`);
              answers.set(i, reply.servedBy);
            },
            (error: unknown) => outcomes.push(`call ${i} failed: ${String(error)}`),
          );
        }
      }),
    );
    expect(outcomes).toEqual([]);
    expect(answers.size).toBe(total);
    // The dead broker's entry runs out of its lease at both registries.
    for (const registry of [a, b]) {
      const client = clientOf(registry.endpoints);
      await eventually(async () => (await client.lookup("dividere.v1.Broker")).length === 1, 2000 + 1500, "the dead broker gone");
    }
  }, 60_000);

  test("every registry stopped and started again: every service is found again, without any re-registration", async () => {
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const [one, two] = [await echoProcess("one", a.endpoints.endpoint, 20_000), await echoProcess("two", b.endpoints.endpoint, 20_000)];
    // A Python-protocol registration has no lease: it stays until unregistered.
    const python = later(new RegistryClient({ ...a.endpoints, protocol: "python", timeoutMs: 1000 }), (client) => client.close());
    await python.register({ service: "py.Printer", instanceId: "", endpoint: "tcp://127.0.0.1:5101" });
    const before = await clientOf(a.endpoints).lookup(ECHO);
    expect(before.length).toBe(2);

    // Hung services cannot register again, whatever they are asked.
    one.kill("SIGSTOP");
    two.kill("SIGSTOP");
    cleanup.push(() => (one.kill("SIGCONT"), two.kill("SIGCONT")));
    a.registry.kill("SIGTERM");
    b.registry.kill("SIGTERM");
    await Promise.all([a.registry.exited, b.registry.exited]);

    const [c, d] = [await registryOn(root), await registryOn(root)];
    for (const registry of [c, d]) {
      const client = clientOf(registry.endpoints);
      expect(endpointsOf(await client.lookup(ECHO))).toEqual(endpointsOf(before));
      expect(endpointsOf(await client.lookup("py.Printer"))).toEqual(["tcp://127.0.0.1:5101"]);
      expect((await client.list()).size).toBe(2);
    }
  });

  test("a Python peer registers and looks up through a registry on etcd, and finds it through another", async ({ skip }) => {
    if (!pyzmq.program) skip();
    const python = findPython();
    const modules = generatePythonModules();
    const root = newRoot();
    const [a, b] = [await registryOn(root), await registryOn(root)];
    const registering = later(pythonPeer(python, modules, ["registry-client", a.endpoints.endpoint, "register:py.Printer:127.0.0.1:5101", "lookup:py.Printer"]), (c) => c.kill());
    expect([await registering.next(), await registering.next()]).toEqual([
      { step: "register:py.Printer:127.0.0.1:5101", type: "ack", json: { ok: true } },
      { step: "lookup:py.Printer", type: "ServiceLookupRep", json: { serviceName: "py.Printer", server: "127.0.0.1", port: 5101 } },
    ]);
    await registering.finished();
    const elsewhere = later(pythonPeer(python, modules, ["registry-client", b.endpoints.endpoint, "lookup:py.Printer", "unregister:py.Printer:127.0.0.1:5101"]), (c) => c.kill());
    expect([await elsewhere.next(), await elsewhere.next()]).toEqual([
      { step: "lookup:py.Printer", type: "ServiceLookupRep", json: { serviceName: "py.Printer", server: "127.0.0.1", port: 5101 } },
      { step: "unregister:py.Printer:127.0.0.1:5101", type: "ack", json: { ok: true } },
    ]);
    await elsewhere.finished();
    expect(await clientOf(a.endpoints).lookup("py.Printer")).toEqual([]);
  });
});

describe.skipIf(!etcd.program)("a registry whose etcd is down or named wrong", () => {
  test("etcd down from the start: the registry runs, leaves requests unanswered (clients try again), and serves once etcd is up", async () => {
    const down = later(await EtcdCluster.start(1), (cluster) => cluster.stop());
    const store = down.store(newRoot());
    await down.signal(down.members[0]!, "SIGKILL");
    const registry = await registryProcess((child) => later(child, (c) => c.kill()), { store });
    const client = clientOf(registry.endpoints, 500);
    const failed = await client.register({ service: ECHO, instanceId: "i", endpoint: "tcp://127.0.0.1:9", ttlMs: 0 }, { retries: 0 }).catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: "UNAVAILABLE" });
    // A request may give up before it reaches the registry (its connection still being made on a
    // busy machine): ask until the registry has said why it answers nothing.
    const says = () => registry.registry.stderr.includes("is etcd running there?");
    await eventually(async () => says() || ((await client.lookup(ECHO, { retries: 0 }).catch(() => undefined)), says()), 15_000, "the registry says why").catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; it said: ${registry.registry.stderr}`);
    });

    await down.restart(down.members[0]!);
    await client.register({ service: ECHO, instanceId: "i", endpoint: "tcp://127.0.0.1:9", ttlMs: 0 }, { timeoutMs: 20_000, retries: 40 });
    expect(endpointsOf(await client.lookup(ECHO))).toEqual(["tcp://127.0.0.1:9"]);
  }, 40_000);

  test("records under its root that hold no instance are counted and left out; the rest is served", async () => {
    const root = newRoot();
    const etcdClient = new Etcd3({ hosts: cluster.members.map((member) => member.clientUrl) });
    later(etcdClient, (client) => client.close());
    const other = toBinary(registryProtocol.InstanceSchema, create(registryProtocol.InstanceSchema, { service: "other.Svc", instanceId: "x", endpoint: "tcp://127.0.0.1:1" }));
    await etcdClient.put(`${root}services/${ECHO}/not-protobuf`).value("not protobuf at all");
    const free = { bind: "tcp://127.0.0.1:0" };
    const registry = later(new RegistryServer({ endpoint: free, publishEndpoint: free, watchEndpoint: free, store: cluster.store(root) }), (r) => r.close());
    await registry.ready();
    expect(registry.store).toBe(cluster.store(root));
    expect(registry.stats.unreadableRecords).toBe(1);
    // Written while it watches: an instance under another instance's key.
    await etcdClient.put(`${root}services/${ECHO}/elsewhere`).value(Buffer.from(other));
    const client = clientOf(registry.clientEndpoints);
    await client.register({ service: ECHO, instanceId: "real", endpoint: "tcp://127.0.0.1:2", ttlMs: 0 });
    expect(endpointsOf(await client.lookup(ECHO))).toEqual(["tcp://127.0.0.1:2"]);
    expect(await client.lookup("other.Svc")).toEqual([]);
    expect(registry.stats.unreadableRecords).toBe(2);
  });

  test("a store that names no etcd, or no store, is refused with what to give instead", async () => {
    for (const [store, says] of [
      ["etcd://", "no host:port of an etcd member"],
      ["etcd://localhost", "no host:port of an etcd member"],
      ["etcd://localhost:99999", "no host:port of an etcd member"],
      ["redis://localhost:6379", 'give "memory" or etcd://host:port'],
    ]) {
      const { code, stderr } = await runNode(dividereBin, 10_000, { args: ["registry", "--store", store!, "--endpoint", "tcp://127.0.0.1:*"] });
      expect(code, store).toBe(2);
      expect(stderr, store).toContain(says);
    }
  });
});
