// One habit across the API: everything that holds sockets closes with close() (and await
// using), what answers calls drains for close({ graceMs }), and every `stats` is a snapshot.
import { describe, expect, test } from "vitest";
import {
  Broker,
  DEFAULT_GRACE_MS,
  LazyPirateClient,
  LoadBalancingServer,
  Reactor,
  RegistryClient,
  RegistryServer,
  RpcServer,
  Worker,
  connection,
  directTransport,
  messaging,
  serve,
  type CallContext,
} from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { clientMsgsDispatch, clientMsgsTypes } from "./gen/test/clientMsgs_dividere.js";
import { Msg01Schema } from "./gen/test/clientMsgs_pb.js";
import { connectTo, eventually, transports } from "./helpers.js";

interface Closable {
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

describe("one lifecycle", () => {
  test("every class that holds sockets has close() and Symbol.asyncDispose, and none has stop()", async () => {
    const broker = new Broker({ frontend: transports.tcp(), backend: transports.tcp() });
    const registry = new RegistryServer({ endpoint: transports.tcp(), publishEndpoint: transports.tcp(), watchEndpoint: transports.tcp() });
    const owners: Record<string, Closable> = {
      Reactor: new Reactor([new messaging.Pull(transports.tcp(), { types: clientMsgsTypes })], clientMsgsDispatch({ handleMsg01() {}, handleMsg02() {} })),
      Proxy: new connection.Proxy({ frontend: transports.tcp(), backend: transports.tcp() }),
      RpcServer: new RpcServer(transports.tcp()),
      ServiceHost: await serve(EchoDefinition, echo("lifecycle"), { endpoint: transports.tcp() }),
      Worker: new Worker(broker.backendEndpoint).add(EchoDefinition, echo("worker")).start(),
      RegistryClient: new RegistryClient(registry.clientEndpoints),
      Broker: broker,
      RegistryServer: registry,
      LoadBalancingServer: new LoadBalancingServer(broker.backendEndpoint, clientMsgsDispatch({ handleMsg01() {}, handleMsg02() {} }), { types: clientMsgsTypes }),
      LazyPirateClient: new LazyPirateClient(broker.frontendEndpoint, { types: clientMsgsTypes }),
      "connection.LoadBalancingBroker": new connection.LoadBalancingBroker({ frontend: transports.tcp(), backend: transports.tcp() }),
      "connection.LoadBalancingServer": new connection.LoadBalancingServer(broker.backendEndpoint, (request) => request),
      "connection.LazyPirateClient": new connection.LazyPirateClient(broker.frontendEndpoint),
    };
    for (const [name, owner] of Object.entries(owners)) {
      expect(typeof owner.close, name).toBe("function");
      expect(typeof owner[Symbol.asyncDispose], name).toBe("function");
      expect("stop" in owner, `${name} has stop()`).toBe(false);
    }
    for (const owner of Object.values(owners)) await owner.close();
    expect(DEFAULT_GRACE_MS).toBe(5000);
  });

  test("close({ graceMs }) lets a call in flight finish within the grace, and aborts it after", async () => {
    const seen: CallContext[] = [];
    const server = new RpcServer(transports.tcp()).add(EchoDefinition, echo("graceful", seen));
    const transport = directTransport(server.endpoint);
    const finishing = new EchoClient(transport).say({ text: "finish me", delayMs: 200 }, { timeoutMs: 5000 });
    await eventually(() => seen.length === 1, 5000, "the call reached the server");
    await server.close({ graceMs: 2000 });
    expect(await finishing).toMatchObject({ text: "finish me" });

    const cut = new RpcServer(transports.tcp()).add(EchoDefinition, echo("cut", seen));
    const cutTransport = directTransport(cut.endpoint);
    const slow = new EchoClient(cutTransport).say({ text: "too slow", delayMs: 2000 }, { timeoutMs: 5000 });
    await eventually(() => seen.length === 2, 5000, "the call reached the server");
    const started = Date.now();
    await cut.close({ graceMs: 0 });
    await expect(slow).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(Date.now() - started).toBeLessThan(1000);
    await transport.close();
    await cutTransport.close();
  });
});

describe("one way to read counters", () => {
  test("`stats` is a snapshot: a new object at each read, which later counts do not change", async () => {
    await using pull = new messaging.Pull(transports.tcp(), { types: clientMsgsTypes });
    await using push = new messaging.Push(connectTo(pull), { types: clientMsgsTypes });
    await push.send(Msg01Schema, { field1: "one" });
    await pull.recv({ timeoutMs: 5000 });
    const before = pull.stats;
    await push.send(Msg01Schema, { field1: "two" });
    await pull.recv({ timeoutMs: 5000 });
    expect(before.received).toBe(1);
    expect(pull.stats.received).toBe(2);
    expect(push.stats.sent).toBe(2);
    expect(pull.stats).not.toBe(pull.stats);
    expect(pull.stats.dropped).not.toBe(pull.stats.dropped);

    await using pub = new connection.Publisher(transports.tcp());
    await using server = new RpcServer(transports.tcp());
    await using broker = new Broker({ frontend: transports.tcp(), backend: transports.tcp() });
    await using worker = new Worker(broker.backendEndpoint);
    await using registry = new RegistryServer({ endpoint: transports.tcp(), publishEndpoint: transports.tcp(), watchEndpoint: transports.tcp() });
    await using reactor = new Reactor([new messaging.Pull(transports.tcp(), { types: clientMsgsTypes })], clientMsgsDispatch({ handleMsg01() {}, handleMsg02() {} }));
    await using bytesBroker = new connection.LoadBalancingBroker({ frontend: transports.tcp(), backend: transports.tcp() });
    await using bytesServer = new connection.LoadBalancingServer(bytesBroker.backendEndpoint, (request) => request);
    await using bytesClient = new connection.LazyPirateClient(bytesBroker.frontendEndpoint);
    await using pythonServer = new LoadBalancingServer(broker.backendEndpoint, clientMsgsDispatch({ handleMsg01() {}, handleMsg02() {} }), { types: clientMsgsTypes });
    await using pythonClient = new LazyPirateClient(broker.frontendEndpoint, { types: clientMsgsTypes });
    const owners = { pub, server, broker, worker, registry, reactor, bytesBroker, bytesServer, bytesClient, pythonServer, pythonClient };
    for (const [name, owner] of Object.entries(owners)) {
      expect(owner.stats, name).not.toBe(owner.stats);
      expect(owner.stats, name).toEqual(owner.stats);
    }
  });
});
