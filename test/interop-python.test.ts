import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { MsgLib, messaging } from "@dividere/runtime";
import { file_test_TestMsg, testDtMsg14Schema, testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { PythonPeer, findPython, generatePythonModules } from "./python-peer.js";

let python: string;
let modules: string;
const peers: PythonPeer[] = [];
const types = [file_test_TestMsg, MsgLib.file_dividere_MsgLib];

function peer(...args: string[]): PythonPeer {
  const started = new PythonPeer(python, modules, args);
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
    const py = peer("pub");
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
