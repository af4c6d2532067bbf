import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { MsgLib, RegistryClient, RegistryServer, messaging, serve } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { file_test_TestMsg, testDtMsg14Schema, testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import type { Child } from "./processes.js";
import { findPython, generatePythonModules, pythonPeer } from "./python-peer.js";

let python: string;
let modules: string;
const peers: Child[] = [];
const types = [file_test_TestMsg, MsgLib.file_dividere_MsgLib];

function peer(...args: string[]): Child {
  const started = pythonPeer(python, modules, args);
  peers.push(started);
  return started;
}

beforeAll(() => {
  python = findPython();
  modules = generatePythonModules();
});

afterEach(() => {
  for (const started of peers.splice(0)) started.kill();
});

describe("a Python peer written from the wire spec", () => {
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

describe("the name service, against Python dividere's registry protocol", () => {
  test("a Python registry client registers and looks up at this registry, and finds a TypeScript service", async () => {
    const any = { bind: "tcp://127.0.0.1:0" };
    await using registry = new RegistryServer({ endpoint: any, publishEndpoint: any, watchEndpoint: any });
    await using host = await serve(EchoDefinition, echo("ts"), { registry: registry.endpoint, host: "127.0.0.1" });
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
    await host.stop(0);
    await registry.close();
  });
});
