import { fileURLToPath } from "node:url";
import { type DescService, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, test } from "vitest";
import {
  MemoryStore,
  PUBLISHER_SERVICE,
  RegistryClient,
  type RegistryEndpoints,
  announcePublisher,
  RegistryServer,
  connection,
  directTransport,
  messaging,
  registryTransport,
  serve,
  type ServiceHost,
  type Transport,
} from "@dividere/runtime";
import { advertisedHost, hostAndPort } from "../runtime/src/registry/defaults.js";
import { registryTypes } from "../runtime/src/registry/server.js";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { DoneSchema, JobSchema } from "./fixtures/gen/test/jobs_pb.js";
import { eventually } from "./helpers.js";
import { type Child, node } from "./processes.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const ECHO = "test.services.v1.Echo";
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A registry on ephemeral loopback ports, closed after the test. */
function startRegistry(): RegistryServer {
  const any = { bind: "tcp://127.0.0.1:0" };
  return later(new RegistryServer({ endpoint: any, publishEndpoint: any, watchEndpoint: any }), (r) => r.close());
}

function clientOf(registry: RegistryServer | RegistryEndpoints): RegistryClient {
  const endpoints = registry instanceof RegistryServer ? registry.clientEndpoints : registry;
  return later(new RegistryClient({ ...endpoints, timeoutMs: 1000 }), (c) => c.close());
}

function transportOf(registry: RegistryServer | RegistryEndpoints): Transport {
  return later(registryTransport(clientOf(registry), { refreshMs: 500 }), (t) => t.close());
}

/** `serve()`, once the registry has the service. */
async function registered<S extends DescService>(...args: Parameters<typeof serve<S>>): Promise<ServiceHost> {
  const host = await serve(...args);
  await host.waitForRegistration({ timeoutMs: 5000 });
  return host;
}

/** Starts an Echo service in a child process registered with `registry`; resolves once it is up. */
async function echoProcess(name: string, registry: string, ttlMs: number): Promise<{ child: Child; instance: string }> {
  const child = later(node(fixture("echo-service.mjs"), name, registry, String(ttlMs)), (c) => c.kill());
  const { instance } = (await child.next()) as { instance: string };
  return { child, instance };
}

describe("registry", () => {
  test("register, look up, unregister; the watch sees every change", async () => {
    const registry = startRegistry();
    const client = clientOf(registry);
    const changes: string[][] = [];
    client.onChange((service, instances) => service === "a.B" && changes.push(instances.map((i) => i.instanceId)));
    await eventually(() => true);
    await client.register({ service: "a.B", instanceId: "one", endpoint: "tcp://127.0.0.1:1001", ttlMs: 0 });
    await client.register({ service: "a.B", instanceId: "two", endpoint: "tcp://127.0.0.1:1002", ttlMs: 0 });
    expect((await client.lookup("a.B")).map((i) => [i.instanceId, i.endpoint])).toEqual([
      ["one", "tcp://127.0.0.1:1001"],
      ["two", "tcp://127.0.0.1:1002"],
    ]);
    expect(await client.lookup("no.Such")).toEqual([]);
    await client.unregister("a.B", "one");
    expect((await client.lookup("a.B")).map((i) => i.instanceId)).toEqual(["two"]);
    await eventually(() => changes.length >= 3, 3000, "three changes watched");
    expect(changes.slice(-3)).toEqual([["one"], ["one", "two"], ["two"]]);
  });

  test("list: every service by name with its live instances; an expired lease leaves it; a Python client says it cannot, sending nothing", async () => {
    const registry = startRegistry();
    const client = clientOf(registry);
    expect(await client.list()).toEqual(new Map());
    await client.register({ service: "z.Last", instanceId: "z1", endpoint: "tcp://127.0.0.1:1003", ttlMs: 0 });
    await client.register({ service: "a.B", instanceId: "one", endpoint: "tcp://127.0.0.1:1001", ttlMs: 0 });
    await client.register({ service: "a.B", instanceId: "two", endpoint: "tcp://127.0.0.1:1002", ttlMs: 300 });
    const listed = await client.list();
    expect([...listed.keys()]).toEqual(["a.B", "z.Last"]);
    expect(listed.get("a.B")!.map((i) => [i.instanceId, i.endpoint, i.ttlMs])).toEqual([
      ["one", "tcp://127.0.0.1:1001", 0],
      ["two", "tcp://127.0.0.1:1002", 300],
    ]);
    await eventually(() => registry.lookup("a.B").length === 1, 3000, "the lease of two expired");
    expect((await client.list()).get("a.B")!.map((i) => i.instanceId)).toEqual(["one"]);
    expect(registry.stats.answered.ListRequest).toBe(3);

    const python = later(new RegistryClient({ endpoint: registry.clientEndpoints.endpoint, protocol: "python", timeoutMs: 1000 }), (c) => c.close());
    await expect(python.list()).rejects.toMatchObject({ code: "UNIMPLEMENTED", message: expect.stringMatching(/cannot list its services; look each one up by name/) });
    expect(registry.stats.answered.ListRequest).toBe(3);
  });

  test("three ports: RediscoverReq alone on the publish port, where Python services take everything; InstancesChanged alone on the watch", async () => {
    const registry = later(new RegistryServer({ endpoint: "tcp://*:0", publishEndpoint: "tcp://*:0", watchEndpoint: "tcp://*:0" }), (r) => r.close());
    const at = registry.clientEndpoints;
    const port = (endpoint: string) => endpoint.split(":").pop();
    expect(Object.values(at).map((endpoint) => endpoint.replace(/\d+$/, "N"))).toEqual(Array(3).fill("tcp://127.0.0.1:N"));
    expect(Object.values(at).map(port)).toEqual([registry.endpoint, registry.publishEndpoint, registry.watchEndpoint].map(port));
    // Subscribers to everything, as a Python dividere service subscribes to the publish port.
    const everything = (endpoint: string) => {
      const types: string[] = [];
      const subscriber = later(new messaging.Subscriber(endpoint, { types: registryTypes }), (s) => s.close());
      void (async () => {
        for await (const message of subscriber) types.push(message.$typeName);
      })();
      return types;
    };
    const onPublish = everything(at.publishEndpoint);
    const onWatch = everything(at.watchEndpoint);
    await eventually(() => onPublish.includes("RediscoverReq"), 5000, "RediscoverReq to the new subscriber");
    const client = clientOf(at);
    // The watch's subscriber may join after the first changes (the late joiner): change until it sees one.
    let probes = 0;
    for (const deadline = Date.now() + 5000; onWatch.length === 0 && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
      await client.register({ service: "a.Probe", instanceId: `probe-${++probes}`, endpoint: "tcp://127.0.0.1:1", ttlMs: 0 });
    }
    const seen = onWatch.length;
    expect(seen).toBeGreaterThan(0);
    await client.register({ service: "a.B", instanceId: "short", endpoint: "tcp://127.0.0.1:1001", ttlMs: 200 });
    const python = later(new RegistryClient({ ...at, protocol: "python", timeoutMs: 1000 }), (c) => c.close());
    await python.register({ service: "py.C", endpoint: "tcp://127.0.0.1:5101" });
    await python.unregister("py.C", "", "tcp://127.0.0.1:5101");
    // a.B registered and expired, py.C registered and unregistered.
    await eventually(() => onWatch.length >= seen + 4, 5000, "four more changes on the watch");
    expect(new Set(onWatch)).toEqual(new Set(["dividere.v1.InstancesChanged"]));
    expect(new Set(onPublish)).toEqual(new Set(["RediscoverReq"]));
  });

  test("a client asks the registry where it publishes, on whatever free ports it bound; told, it does not ask; a Python client takes the ports after", async () => {
    const registry = later(new RegistryServer({ endpoint: "tcp://*:0", publishEndpoint: "tcp://*:0", watchEndpoint: "tcp://*:0" }), (r) => r.close());
    const { endpoint } = registry.clientEndpoints;
    const client = later(new RegistryClient({ endpoint, timeoutMs: 1000 }), (c) => c.close());
    expect(await client.endpoints()).toEqual(registry.clientEndpoints);
    const changes: string[] = [];
    const connected = new Promise((resolve) => client.onConnection(resolve));
    client.onChange((service, instances) => changes.push(`${service}: ${instances.length}`));
    await connected;
    await client.register({ service: "a.B", instanceId: "one", endpoint: "tcp://127.0.0.1:1001", ttlMs: 0 });
    await eventually(() => changes.includes("a.B: 1"), 5000, "the change on the watch the registry named");

    const told = later(new RegistryClient({ endpoint: "ipc:///tmp/nobody-answers", publishEndpoint: "ipc:///tmp/p", watchEndpoint: "ipc:///tmp/w" }), (c) => c.close());
    expect(await told.endpoints()).toEqual({ endpoint: "ipc:///tmp/nobody-answers", publishEndpoint: "ipc:///tmp/p", watchEndpoint: "ipc:///tmp/w" });
    const python = later(new RegistryClient({ endpoint: "tcp://registry-host:6000", protocol: "python" }), (c) => c.close());
    expect(await python.endpoints()).toEqual({ endpoint: "tcp://registry-host:6000", publishEndpoint: "tcp://registry-host:6001", watchEndpoint: "tcp://registry-host:6002" });
    const pythonIpc = later(new RegistryClient({ endpoint: "ipc:///tmp/registry", protocol: "python" }), (c) => c.close());
    await expect(pythonIpc.endpoints()).rejects.toThrow(/pass publishEndpoint explicitly/);
  });

  test("a registry that does not answer: the error says how long and how many tries", async () => {
    const nobody = `tcp://127.0.0.1:${await connection.PortManager.acquire({ host: "127.0.0.1" })}`;
    const once = later(new RegistryClient({ endpoint: nobody, timeoutMs: 100, retries: 0 }), (c) => c.close());
    await expect(once.lookup(ECHO)).rejects.toThrow(`the registry at ${nobody} did not answer dividere.v1.LookupRequest within 100 ms (1 try); is it running?`);
    const thrice = later(new RegistryClient({ endpoint: nobody, timeoutMs: 100, retries: 2 }), (c) => c.close());
    await expect(thrice.lookup(ECHO)).rejects.toThrow(`the registry at ${nobody} did not answer dividere.v1.LookupRequest within 100 ms on each of 3 tries; is it running?`);
  });

  test("a lease that is not renewed expires", async () => {
    const registry = startRegistry();
    const client = clientOf(registry);
    await client.register({ service: "a.B", instanceId: "short", endpoint: "tcp://127.0.0.1:1001", ttlMs: 200 });
    expect(registry.lookup("a.B")).toHaveLength(1);
    const started = Date.now();
    await eventually(() => registry.lookup("a.B").length === 0, 3000, "the lease expired");
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test("two instances of a service share the calls", async () => {
    const registry = startRegistry();
    for (const name of ["first", "second"]) {
      later(await registered(EchoDefinition, echo(name), { registry: clientOf(registry), host: "127.0.0.1", ttlMs: 1000 }), (h: ServiceHost) => h.close());
    }
    expect(registry.lookup(ECHO)).toHaveLength(2);
    const echoes = new EchoClient(transportOf(registry));
    const servedBy = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const reply = await echoes.say({ text: String(i) }, { timeoutMs: 2000 });
      servedBy.set(reply.servedBy, (servedBy.get(reply.servedBy) ?? 0) + 1);
    }
    expect(servedBy).toEqual(new Map([["first", 20], ["second", 20]]));
  });

  test("serve() without `host` tells the address it is bound to: 127.0.0.1 stays, a wildcard becomes the external IPv4", async () => {
    const registry = startRegistry();
    const loopback = later(await registered(EchoDefinition, echo("loopback"), { endpoint: { bind: "tcp://127.0.0.1:0" }, registry: clientOf(registry) }), (h: ServiceHost) => h.close());
    expect(loopback.endpoint).toBe(loopback.server.endpoint);
    expect(loopback.endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(registry.lookup(ECHO).map((instance) => instance.endpoint)).toEqual([loopback.endpoint]);
    const transport = later(directTransport(loopback.endpoint), (t) => t.close());
    expect(await new EchoClient(transport).say({ text: "hi" }, { timeoutMs: 2000 })).toMatchObject({ servedBy: "loopback" });

    const everywhere = later(await serve(EchoDefinition, echo("everywhere")), (h) => h.close());
    expect(everywhere.endpoint).toBe(`tcp://${advertisedHost()}:${hostAndPort(everywhere.server.endpoint)!.port}`);
    const named = later(await serve(EchoDefinition, echo("named"), { endpoint: { bind: "tcp://127.0.0.1:0" }, host: "echo.example" }), (h) => h.close());
    expect(named.endpoint).toMatch(/^tcp:\/\/echo\.example:\d+$/);
  });

  test("serve() with a RegistryClient speaks the client's protocol; a registryProtocol that contradicts it is INVALID_ARGUMENT", async () => {
    const registry = startRegistry();
    const python = later(new RegistryClient({ ...registry.clientEndpoints, protocol: "python", timeoutMs: 1000 }), (c) => c.close());
    const host = later(await registered(EchoDefinition, echo("py"), { endpoint: { bind: "tcp://127.0.0.1:0" }, registry: python }), (h: ServiceHost) => h.close());
    expect(host.instances.map((instance) => instance.ttlMs)).toEqual([0]); // no lease to renew: RegisterService goes once
    expect(registry.lookup(ECHO).map((instance) => instance.metadata.protocol)).toEqual(["python"]);
    await expect(serve(EchoDefinition, echo("confused"), { endpoint: { bind: "tcp://127.0.0.1:0" }, registry: python, registryProtocol: "dividere" })).rejects.toThrow(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: 'registryProtocol "dividere" contradicts the protocol of the RegistryClient given as registry ("python"): leave registryProtocol out, a client\'s own protocol is used',
      }),
    );
  });

  test("a closed service unregisters", async () => {
    const registry = startRegistry();
    const host = await registered(EchoDefinition, echo("leaving"), { registry: clientOf(registry), host: "127.0.0.1", ttlMs: 60_000 });
    expect(registry.lookup(ECHO)).toHaveLength(1);
    await host.close();
    expect(registry.lookup(ECHO)).toHaveLength(0);
  });

  test("an instance killed with SIGKILL leaves the lookups within its TTL, and the calls move to the survivor", async () => {
    const registry = startRegistry();
    const TTL = 1000;
    const doomed = await echoProcess("doomed", registry.endpoint, TTL);
    const survivor = await echoProcess("survivor", registry.endpoint, TTL);
    expect(registry.lookup(ECHO).map((i) => i.instanceId).sort()).toEqual([doomed.instance, survivor.instance].sort());

    const echoes = new EchoClient(transportOf(registry));
    const answered: string[] = [];
    let killedAt = 0;
    let expired: Promise<number> | undefined;
    // Four callers keep calls in flight while one instance dies; each call may move once.
    await Promise.all(
      Array.from({ length: 4 }, async (_, caller) => {
        for (let i = 0; i < 30; i++) {
          if (caller === 0 && i === 10) {
            doomed.child.kill("SIGKILL");
            killedAt = Date.now();
            expired = eventually(() => registry.lookup(ECHO).length === 1, 3 * TTL, "the dead instance expired").then(() => Date.now() - killedAt);
          }
          const reply = await echoes.say({ text: `${caller}/${i}`, delayMs: 10 }, { timeoutMs: 5000, retries: 3 });
          answered.push(`${reply.text}@${reply.servedBy}@${killedAt && Date.now() - killedAt > 50 ? "after" : "before"}`);
        }
      }),
    );
    expect(answered).toHaveLength(120);
    expect(new Set(answered.map((a) => a.split("@")[0])).size).toBe(120);
    expect(answered.filter((a) => a.endsWith("@after")).every((a) => a.includes("@survivor@"))).toBe(true);
    const expiredAfter = await expired!;
    console.log(`the killed instance left the lookups ${expiredAfter} ms after SIGKILL (TTL ${TTL} ms)`);
    expect(expiredAfter).toBeLessThanOrEqual(TTL + 500);
    expect(registry.lookup(ECHO)[0]!.instanceId).toBe(survivor.instance);
  });

  test("the registry killed and restarted: every service is found again", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) ports.push(await connection.PortManager.acquire({ host: "127.0.0.1" }));
    const [endpoint, publishEndpoint, watchEndpoint] = ports.map((port) => `tcp://127.0.0.1:${port}`) as [string, string, string];
    const at = { endpoint, publishEndpoint, watchEndpoint };
    const startRegistryProcess = async () => {
      const child = later(node(fixture("registry.mjs"), ...ports.map(String)), (c) => c.kill());
      await child.next();
      return child;
    };
    const first = await startRegistryProcess();
    // One service renews its lease every ~300 ms; the other (a lease of a minute) comes back
    // only because the new registry asks everyone to register again (RediscoverReq).
    const renewing = later(await registered(EchoDefinition, echo("renewing"), { registry: clientOf(at), host: "127.0.0.1", ttlMs: 1000 }), (h: ServiceHost) => h.close());
    const rediscovered = later(
      await registered(EchoDefinition, echo("rediscovered"), { registry: clientOf(at), host: "127.0.0.1", ttlMs: 60_000 }),
      (h: ServiceHost) => h.close(),
    );
    const lookups = clientOf(at);
    expect(await lookups.lookup(ECHO)).toHaveLength(2);

    first.kill("SIGKILL");
    await first.exited;
    await startRegistryProcess();
    await eventually(() => true);
    const found = async () => (await lookups.lookup(ECHO)).map((i) => i.instanceId).sort();
    const expected = [renewing.instances[0]!.instanceId, rediscovered.instances[0]!.instanceId].sort();
    const deadline = Date.now() + 5000;
    let now: string[] = [];
    while (Date.now() < deadline && (now = await found()).length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(now).toEqual(expected);
  });
});

describe("a registry's store", () => {
  test("a request waiting on its store holds up no other client's request", async () => {
    // A store whose writes wait until let go, as a write waits on etcd during an election.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    class SlowWrites extends MemoryStore {
      override async upsert(instance: Parameters<MemoryStore["upsert"]>[0]): Promise<void> {
        if (instance.service === "slow.Service") await held;
        return super.upsert(instance);
      }
    }
    const store = later(new SlowWrites(), (s) => s.close());
    const any = { bind: "tcp://127.0.0.1:0" };
    const registry = later(new RegistryServer({ endpoint: any, publishEndpoint: any, watchEndpoint: any, store }), (r) => r.close());
    const [writer, reader] = [clientOf(registry), clientOf(registry)];
    const writing = writer.register({ service: "slow.Service", instanceId: "a", endpoint: "tcp://127.0.0.1:1" }, { timeoutMs: 10_000 });
    await reader.register({ service: "fast.Service", instanceId: "b", endpoint: "tcp://127.0.0.1:2" });
    expect((await reader.lookup("fast.Service")).map((instance) => instance.endpoint)).toEqual(["tcp://127.0.0.1:2"]);
    expect(await reader.lookup("slow.Service")).toEqual([]);
    release();
    await writing;
    expect((await reader.lookup("slow.Service")).map((instance) => instance.endpoint)).toEqual(["tcp://127.0.0.1:1"]);
  });
});

describe("a publisher's entry", () => {
  test("announcePublisher registers a publisher's endpoint, topics and schemas, renews its lease, and close() takes it away", async () => {
    const registry = startRegistry();
    const client = clientOf(registry);
    const publisher = later(new messaging.Publisher({ bind: "tcp://127.0.0.1:0" }, { types: [JobSchema, DoneSchema] }), (p) => p.close());
    const announcement = announcePublisher(publisher, { registry: client, ttlMs: 300 });
    await announcement.waitForRegistration();
    const [entry] = await client.lookup(PUBLISHER_SERVICE);
    expect(entry).toMatchObject({ endpoint: publisher.endpoint, metadata: { topics: "test.jobs.Done,test.jobs.Job" } });
    const files = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(entry!.metadata.schemas!, "base64")));
    expect(files.getMessage("test.jobs.Job")?.fields.map((field) => field.name)).toEqual(JobSchema.fields.map((field) => field.name));
    // Renewed every third of its lease: still there after three leases' worth of renewals.
    const before = registry.stats.answered.RegisterInstance;
    await eventually(() => registry.stats.answered.RegisterInstance >= before + 9, 5000, "nine renewals");
    expect((await client.lookup(PUBLISHER_SERVICE)).map((instance) => instance.endpoint)).toEqual([publisher.endpoint]);
    await announcement.close();
    expect(await client.lookup(PUBLISHER_SERVICE)).toEqual([]);
  });
});
