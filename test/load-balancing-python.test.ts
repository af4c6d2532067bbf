import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { Broker, LazyPirateClient, LoadBalancingServer, PYTHON_PATTERN_NAME, Worker, brokerTransport, connection, messaging } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { type TestMsgHandlers, testMsgDispatch, testMsgTypes } from "./gen/test/TestMsg_dividere.js";
import { testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { eventually } from "./helpers.js";
import { type Child, brokerProcess } from "./processes.js";
import { pyzmq } from "./prerequisites.js";
import { findPython, generatePythonModules, loadBalancingPeer } from "./python-peer.js";

let python: string;
let modules: string;
const children: Child[] = [];
const cleanups: Array<() => Promise<void>> = [];

function own<C extends Child>(child: C): C {
  children.push(child);
  return child;
}

function later<T>(resource: T, close: (resource: T) => Promise<void>): T {
  cleanups.push(() => close(resource));
  return resource;
}

/** Python dividere's load-balancing pattern (test/python/load_balancing.py) in a mode. */
function peer(...args: string[]): Child {
  return own(loadBalancingPeer(python, modules, args));
}

interface Reply {
  reply: { type?: string; json?: { field1?: string }; bytes?: string };
  sent: string;
  echoed: boolean;
  tries: number;
}

/**
 * Runs a Python client process to its end: `clients` clients at once, `count` requests each;
 * checks every one got its own request back, and returns the replies.
 */
async function pythonClients(frontend: string, count: number, clients: number, ...flags: string[]): Promise<Reply[]> {
  const client = peer("client", frontend, String(count), "threads", String(clients), ...flags);
  const lines = await client.rest(120_000);
  expect(await client.exited, `client: ${JSON.stringify(lines)}\n${client.stderr}`).toBe(0);
  const replies = lines.filter((line) => "reply" in line) as unknown as Reply[];
  expect(replies).toHaveLength(count * clients);
  for (const reply of replies) {
    expect(reply.echoed).toBe(true);
    expect(reply.reply.json?.field1 ?? reply.reply.bytes).toBe(reply.sent);
  }
  expect(lines.at(-1)).toEqual({ done: clients });
  return replies;
}

/** Reads a Python server process's start lines: the ids of its `count` servers. */
async function serverIds(server: Child, count = 1): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(((await server.next()) as { id: string }).id);
  return ids;
}

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeAll(() => {
  if (!pyzmq.program) return; // every test here is skipped, and the run says so
  python = findPython();
  modules = generatePythonModules();
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.skipIf(!pyzmq.program)("Python dividere's load-balancing pattern through dividere broker", () => {
  test("every combination of 1-4 clients and 1-8 servers: each reply is its request", async () => {
    // One broker and one server process per server count; the client counts take turns there.
    await Promise.all(
      range(1, 8).map(async (servers) => {
        const { frontend, backend } = await brokerProcess(own);
        await serverIds(peer("server", backend, "threads", String(servers)), servers);
        for (const clients of range(1, 4)) await pythonClients(frontend, 3, clients);
      }),
    );
  }, 120_000);

  test("Lazy Pirate clients and servers that drop every other request: every request answered", async () => {
    // Every combination on a broker of its own, all at once: an ignored request costs its
    // client a retry timeout, so taking turns would add those up. The timeout is three times
    // the broker's probe of a silent server: a Python client resends on the same socket, and a
    // resend that crosses its answer (sent before the answer arrived, reaching the broker after
    // it passed) cannot be told from a new request of the same bytes, so its answer would be
    // taken for the next request's. With the machine loaded by 28 brokers and their Python
    // peers, a 1 s timeout met that.
    const tries: number[] = [];
    await Promise.all(
      range(1, 8).flatMap((servers) =>
        range(1, 4).map(async (clients) => {
          const { frontend, backend } = await brokerProcess(own);
          await serverIds(peer("server", backend, "drop-odd", "threads", String(servers)), servers);
          for (const reply of await pythonClients(frontend, 3, clients, "lazy-pirate", "30", "3000")) tries.push(reply.tries);
        }),
      ),
    );
    // Each server ignores its first request: some requests took more than one try.
    expect(Math.max(...tries)).toBeGreaterThan(1);
  }, 180_000);

  test("a server that goes silent is dropped within 9 s and gets no more requests; back, it is used again", async () => {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback() }), (b) => b.close({ graceMs: 0 }));
    const [silent, steady] = [peer("server", broker.backendEndpoint), peer("server", broker.backendEndpoint)];
    const [silentId] = await serverIds(silent);
    await serverIds(steady);
    await eventually(() => broker.services().some((s) => s.name === PYTHON_PATTERN_NAME && s.workers === 2), 10_000, "two Python servers");
    silent.kill("SIGSTOP");
    const stoppedAt = Date.now();
    await eventually(() => broker.stats.workersLost === 1, 12_000, "the silent server dropped");
    const droppedAfter = Date.now() - stoppedAt;
    console.log(`a silent Python server was dropped ${droppedAfter} ms after it stopped (the broker drops one 9 s after its last message)`);
    // 9 s of silence, counted from its last message (at most the moment it stopped), and a check every 250 ms.
    expect(droppedAfter).toBeLessThanOrEqual(10_000);
    // Whatever the silent one had not answered before it stopped is the clients' to retry.
    await pythonClients(broker.frontendEndpoint, 3, 2);
    // The other server answered all six: the silent one was handed none of them.
    let steadyServed = 0;
    while (steadyServed < 6) if ("served" in (await steady.next())) steadyServed++;
    silent.kill("SIGCONT");
    // Back, it echoes the heartbeats it missed (or its 4.5 s timer fires): announced again, it serves.
    await eventually(() => broker.services().some((s) => s.name === PYTHON_PATTERN_NAME && s.workers === 2), 10_000, "the server back");
    await pythonClients(broker.frontendEndpoint, 4, 1);
    let line;
    do line = await silent.next();
    while (!("served" in line));
    expect(line.server).toBe(silentId);
  }, 60_000);

  test("a dividere.v1 worker and a Python server behind one broker each get only their own kind", async () => {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback() }), (b) => b.close({ graceMs: 0 }));
    const worker = later(new Worker(broker.backendEndpoint, { workerId: "ts" }).add(EchoDefinition, echo("ts")).start(), (w) => w.close({ graceMs: 0 }));
    const pythonServer = peer("server", broker.backendEndpoint);
    await serverIds(pythonServer);
    // A TypeScript server of Python's pattern is one more Python-pattern server.
    const ours = later(new LoadBalancingServer(broker.backendEndpoint, testMsgDispatch(echoTestMsg01), { types: testMsgTypes }), (s) => s.close());
    await eventually(() => broker.services().some((s) => s.name === PYTHON_PATTERN_NAME && s.workers === 2), 10_000, "two Python-pattern servers");
    const transport = brokerTransport(broker.frontendEndpoint);
    later(transport, (t) => t.close());
    const caller = new EchoClient(transport);
    const [calls] = await Promise.all([
      Promise.all(range(1, 6).map((i) => caller.say({ text: `call ${i}` }, { timeoutMs: 10_000 }))),
      pythonClients(broker.frontendEndpoint, 3, 2),
    ]);
    expect(calls.map((reply) => reply.servedBy)).toEqual(Array(6).fill("ts"));
    expect(worker.stats.ok).toBe(6);
    let pythonServed = 0;
    while (pythonServed + ours.stats.handled < 6) if ("served" in (await pythonServer.next())) pythonServed++;
    expect(pythonServed + ours.stats.handled).toBe(6);
    expect(broker.stats.dropped).toEqual({ NOT_AN_ENVELOPE: 0, UNKNOWN_TYPE: 0, CORRUPT_PAYLOAD: 0, OVERSIZED: 0 });
  }, 60_000);
});

describe("the broker's bounds and stop apply to Python's pattern", () => {
  const pythonQueue = (broker: Broker) => broker.services().find((service) => service.name === PYTHON_PATTERN_NAME)?.queued;

  test("maxQueued requests wait for a server, more are dropped; a server that comes answers those that waited", async () => {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback(), maxQueued: 2 }), (b) => b.close({ graceMs: 0 }));
    await using client = new messaging.Dealer(broker.frontendEndpoint, { types: testMsgTypes });
    for (const i of range(1, 4)) await client.send(testMsg01Schema, { field1: `waits ${i}` });
    await eventually(() => broker.stats.refused === 2 && pythonQueue(broker) === 2, 5000, "two waiting, two refused");
    later(new LoadBalancingServer(broker.backendEndpoint, testMsgDispatch(echoTestMsg01), { types: testMsgTypes }), (s) => s.close());
    const replies = [await client.recv({ timeoutMs: 5000 }), await client.recv({ timeoutMs: 5000 })];
    expect(replies.map(({ message }) => message.$typeName === "testMsg01" && message.field1)).toEqual(["waits 1", "waits 2"]);
    expect(await client.wait(200)).toBe(false);
    expect(broker.stats).toMatchObject({ dispatched: 2, answered: 2, refused: 2 });
  });

  test("a resend of a request still on a server is not passed on: the next reply answers the next request", async () => {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback() }), (b) => b.close({ graceMs: 0 }));
    const slow: Partial<TestMsgHandlers> = {
      async handleTestMsg01(message, ctx) {
        await sleep(200);
        await ctx.reply(message);
      },
    };
    later(new LoadBalancingServer(broker.backendEndpoint, testMsgDispatch(slow), { types: testMsgTypes }), (s) => s.close());
    await eventually(() => broker.services().some((s) => s.name === PYTHON_PATTERN_NAME && s.workers === 1), 5000, "the server");
    await using client = new messaging.Dealer(broker.frontendEndpoint, { types: testMsgTypes });
    // A same-socket Lazy Pirate client's resend, while the first is still on the server.
    await client.send(testMsg01Schema, { field1: "first" });
    await eventually(() => broker.stats.dispatched === 1, 5000, "the first on the server");
    await client.send(testMsg01Schema, { field1: "first" });
    await client.send(testMsg01Schema, { field1: "second" });
    const replies = [await client.recv({ timeoutMs: 5000 }), await client.recv({ timeoutMs: 5000 })];
    expect(replies.map(({ message }) => message.$typeName === "testMsg01" && message.field1)).toEqual(["first", "second"]);
    expect(broker.stats).toMatchObject({ dispatched: 2, answered: 2 });
  });

  test("a stopping broker lets the request on a server finish, and drops new ones", async () => {
    const broker = new Broker({ frontend: loopback(), backend: loopback() });
    later(broker, (b) => b.close({ graceMs: 0 }));
    const slow: Partial<TestMsgHandlers> = {
      async handleTestMsg01(message, ctx) {
        await sleep(300);
        await ctx.reply(message);
      },
    };
    later(new LoadBalancingServer(broker.backendEndpoint, testMsgDispatch(slow), { types: testMsgTypes }), (s) => s.close());
    await using client = new messaging.Dealer(broker.frontendEndpoint, { types: testMsgTypes });
    await client.send(testMsg01Schema, { field1: "in flight" });
    await eventually(() => broker.stats.dispatched === 1, 5000, "the request on the server");
    const closing = broker.close({ graceMs: 5000 });
    await client.send(testMsg01Schema, { field1: "too late" });
    await eventually(() => broker.stats.refused === 1, 5000, "the late request refused");
    const { message } = await client.recv({ timeoutMs: 5000 });
    expect(message).toMatchObject({ field1: "in flight" });
    await closing;
    expect(broker.stats).toMatchObject({ dispatched: 1, answered: 1, refused: 1 });
  });
});

describe.skipIf(!pyzmq.program)("our handlers behind Python dividere's broker", () => {
  test("a TypeScript server answers Python clients and our Lazy Pirate client", async () => {
    const broker = peer("broker");
    const { frontend, backend } = (await broker.next()) as { frontend: string; backend: string };
    const server = later(new LoadBalancingServer(backend, testMsgDispatch(echoTestMsg01), { types: testMsgTypes }), (s) => s.close());
    // Python's broker fails on a request while no server is queued: wait for ours to be.
    expect(await broker.next()).toEqual({ joined: server.id });
    await pythonClients(frontend, 3, 1);
    await using client = new LazyPirateClient(frontend, { types: testMsgTypes, retries: 2, timeoutMs: 2000 });
    for (const i of range(1, 3)) {
      const reply = await client.request(testMsg01Schema, { field1: `from typescript ${i}`, field2: i });
      expect(reply.$typeName === "testMsg01" && [reply.field1, reply.field2]).toEqual([`from typescript ${i}`, i]);
    }
    expect(client.stats).toEqual({ answered: 3, retries: 0, failed: 0 });
  }, 30_000);

  test("the Lazy Pirate client retries through our broker, and fails with TIMEOUT when nobody answers", async () => {
    const broker = later(new Broker({ frontend: loopback(), backend: loopback() }), (b) => b.close({ graceMs: 0 }));
    const server = peer("server", broker.backendEndpoint, "drop-odd");
    await serverIds(server);
    await using client = new LazyPirateClient(broker.frontendEndpoint, { types: testMsgTypes, retries: 5, timeoutMs: 1000 });
    for (const i of range(1, 3)) {
      const reply = await client.request(testMsg01Schema, { field1: `try ${i}`, field2: i });
      expect(reply).toMatchObject({ field1: `try ${i}`, field2: i });
    }
    expect(client.stats.retries).toBeGreaterThanOrEqual(3);
    server.kill();
    const controller = new AbortController();
    const started = Date.now();
    await expect(client.request(testMsg01Schema, { field1: "to nobody" }, { retries: 1, timeoutMs: 300 })).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(2000);
    const pending = client.request(testMsg01Schema, { field1: "cancelled" }, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
  }, 30_000);
});

describe.skipIf(!pyzmq.program)("the byte-level load-balancing pattern", () => {
  test("Python servers and clients (DEALER and REQ) through our broker, and our client", async () => {
    const broker = later(new connection.LoadBalancingBroker({ frontend: loopback(), backend: loopback() }), (b) => b.close());
    await serverIds(peer("server", broker.backendEndpoint, "bytes", "threads", "3"), 3);
    await eventually(() => broker.servers.known === 3, 10_000, "three servers");
    await Promise.all([
      pythonClients(broker.frontendEndpoint, 3, 2, "bytes"),
      pythonClients(broker.frontendEndpoint, 3, 2, "bytes", "req", "lazy-pirate", "3", "2000"),
    ]);
    await using client = new connection.LazyPirateClient(broker.frontendEndpoint, { retries: 2, timeoutMs: 2000 });
    expect((await client.request("from typescript")).toString()).toBe("from typescript");
    expect(broker.stats).toMatchObject({ dispatched: 13, answered: 13, refused: 0, serversLost: 0 });
  }, 30_000);

  test("our server behind Python's broker, answering Python clients and our client", async () => {
    const broker = peer("broker", "bytes");
    const { frontend, backend } = (await broker.next()) as { frontend: string; backend: string };
    const servers = [0, 1].map(() => later(new connection.LoadBalancingServer(backend, (request) => request), (s) => s.close()));
    const joined = [await broker.next(), await broker.next()];
    expect(joined.map((line) => line.joined).sort()).toEqual(servers.map((s) => s.id).sort());
    await pythonClients(frontend, 3, 2, "bytes");
    await pythonClients(frontend, 3, 1, "bytes", "req");
    await using client = new connection.LazyPirateClient(frontend, { retries: 2, timeoutMs: 2000 });
    for (const text of ["one", "two", "three"]) expect((await client.request(text)).toString()).toBe(text);
    expect(servers[0]!.stats.served + servers[1]!.stats.served).toBe(12);
  }, 30_000);
});

/** Answers a testMsg01 with itself, as the Python peer's servers do. */
const echoTestMsg01: Partial<TestMsgHandlers> = {
  async handleTestMsg01(message, ctx) {
    await ctx.reply(message);
  },
};
