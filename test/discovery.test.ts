// Discovery (proto/dividere/v1/discovery.proto): every server answers ping, info and stats about
// itself, over real sockets: a server, a served host at its registered endpoint, and a broker
// for the calls it routes.
import { afterEach, expect, test } from "vitest";
import { Broker, RegistryServer, RpcClient, RpcServer, Worker, brokerTransport, directTransport, discoveryProtocol, serve, type Transport } from "@dividere/runtime";
import { eventually } from "./helpers.js";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { rejection } from "./helpers.js";

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function expectDiscovery(transport: Transport, name: string): Promise<void> {
  const echoes = new EchoClient(transport);
  for (let i = 0; i < 4; i++) await echoes.say({ text: `hi ${i}` }, { timeoutMs: 5000 });
  await rejection(echoes.say({ text: "no", failCode: "NOT_FOUND" }, { timeoutMs: 5000 }));
  const discovery = new RpcClient(transport);
  const { instance } = await discovery.unary(discoveryProtocol.Discovery.method.ping, {}, { timeoutMs: 5000 });
  expect(instance).toMatchObject({ name, version: "1.2.3", metadata: { region: "eu" } });
  expect(instance!.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(Date.parse(instance!.started)).toBeLessThanOrEqual(Date.now());

  const info = await discovery.unary(discoveryProtocol.Discovery.method.info, {}, { timeoutMs: 5000 });
  expect(info.instance?.id).toBe(instance!.id);
  expect(info.description).toBe("echoes what it is told");
  const echoInfo = info.services.find((service) => service.name === "test.services.v1.Echo")!;
  expect(echoInfo.methods.map((m) => [m.path, m.kind, m.inputType, m.outputType])).toContainEqual([
    "/test.services.v1.Echo/Chat",
    "bidi_streaming",
    "test.services.v1.EchoRequest",
    "test.services.v1.EchoReply",
  ]);
  expect(info.services.map((service) => service.name)).toContain("dividere.v1.Discovery");

  const slow = echoes.say({ text: "slow", delayMs: 300 }, { timeoutMs: 5000 });
  const stats = await discovery.unary(discoveryProtocol.Discovery.method.stats, {}, { timeoutMs: 5000 });
  await slow;
  const say = stats.methods.find((m) => m.path === "/test.services.v1.Echo/Say")!;
  expect(say).toMatchObject({ calls: 5n, errors: 1n, lastError: expect.stringMatching(/^NOT_FOUND: told to fail/) });
  expect(say.averageProcessingTimeMs).toBeGreaterThan(0);
  expect(say.p50Ms).toBeLessThanOrEqual(say.p99Ms);
  // The slow call is running.
  expect(stats.inFlight).toBe(1);
}

const info = { name: "echo-service", version: "1.2.3", description: "echoes what it is told", metadata: { region: "eu" } };

test("a server answers ping, info and stats about itself", async () => {
  const server = later(new RpcServer(loopback(), { info }).add(EchoDefinition, echo("direct")), (s) => s.close({ graceMs: 0 }));
  await expectDiscovery(later(directTransport(server.endpoint), (t) => t.close()), "echo-service");
});

test("a served host answers them at the endpoint it registered; without info a server's name is its services'", async () => {
  const registry = later(new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() }), (r) => r.close());
  const host = later(await serve(EchoDefinition, echo("registered"), { endpoint: loopback(), registry: registry.endpoint, host: "127.0.0.1", info }), (h) => h.close({ graceMs: 0 }));
  await host.waitForRegistration({ timeoutMs: 5000 });
  // Built-in services are not registered: Discovery is asked at an instance the registry lists.
  const [registered] = host.instances;
  await expectDiscovery(later(directTransport(registered!.endpoint), (t) => t.close()), "echo-service");
  const plain = later(new RpcServer(loopback()).add(EchoDefinition, echo("plain")), (s) => s.close({ graceMs: 0 }));
  const { instance } = await new RpcClient(later(directTransport(plain.endpoint), (t) => t.close())).unary(discoveryProtocol.Discovery.method.ping, {}, { timeoutMs: 5000 });
  expect(instance).toMatchObject({ name: "test.services.v1.Echo", version: "" });
});

test("a broker answers them for itself and the calls it routes: its workers' services, per method as its callers see them", async () => {
  const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200 }), (b) => b.close({ graceMs: 0 }));
  later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200, capacity: 4 }).add(EchoDefinition, echo("worker")).start(), (w) => w.close({ graceMs: 0 }));
  await eventually(() => broker.services().some((service) => service.name === "test.services.v1.Echo"), 5000, "the worker announced");
  const transport = later(brokerTransport(broker.frontendEndpoint), (t) => t.close());
  const echoes = new EchoClient(transport);
  for (let i = 0; i < 4; i++) await echoes.say({ text: `hi ${i}` }, { timeoutMs: 5000 });
  await rejection(echoes.say({ text: "no", failCode: "NOT_FOUND" }, { timeoutMs: 5000 }));
  await rejection(echoes.say({ text: "late", delayMs: 2000 }, { timeoutMs: 100 }));
  const discovery = new RpcClient(transport);
  const { Discovery } = discoveryProtocol;
  expect((await discovery.unary(Discovery.method.ping, {}, { timeoutMs: 5000 })).instance?.name).toBe("dividere broker");
  const info = await discovery.unary(Discovery.method.info, {}, { timeoutMs: 5000 });
  expect(info.services.map((service) => service.name)).toEqual(expect.arrayContaining(["test.services.v1.Echo", "grpc.health.v1.Health", "dividere.v1.Discovery"]));
  await eventually(() => broker.stats.methods["/test.services.v1.Echo/Say"]?.calls === 6, 5000, "the late call ended at its worker");
  const stats = await discovery.unary(Discovery.method.stats, {}, { timeoutMs: 5000 });
  const say = stats.methods.find((m) => m.path === "/test.services.v1.Echo/Say")!;
  expect(say).toMatchObject({ calls: 6n, errors: 2n });
  expect(say.lastError).toMatch(/^(DEADLINE_EXCEEDED|CANCELLED): /);
  expect(say.p99Ms).toBeGreaterThanOrEqual(100);
  expect(broker.stats.methods["/test.services.v1.Echo/Say"]).toMatchObject({ calls: 6, errors: 2 });
});
