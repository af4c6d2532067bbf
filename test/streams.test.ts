// Client-streaming and bidi rpcs over real sockets, with the generated Echo stubs, on the three
// transports (direct, registry, broker): the replies, flow control with a slow reader (the
// writer's memory bounded, nothing lost), cancel from either side mid-stream, one deadline over
// the whole stream; and server streams under the same credit.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Broker, RegistryServer, RpcError, RpcServer, Worker, brokerTransport, directTransport, registryTransport, serve, type CallContext, type Transport } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import type { EchoRequest } from "./fixtures/gen/test/services/v1/echo_pb.js";
import { eventually, rejection } from "./helpers.js";

type Init = Partial<Omit<EchoRequest, "$typeName">>;

/**
 * Messages of 32 KiB: a stream's window of them stays at its first 16 (STREAM_WINDOW_BYTES, 256
 * KiB, holds fewer), so the tests below can count exactly how far a writer gets ahead. Small
 * messages get a window of up to 512 (the test of that is further down).
 */
const LARGE = "x".repeat(32 * 1024);
const large = (index: number): Init => ({ text: `m${index} ${LARGE}` });

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);
const transports: Record<string, Transport> = {};
const seen: Record<string, CallContext[]> = { direct: [], registry: [], broker: [] };

beforeAll(async () => {
  const server = later(new RpcServer(loopback()).add(EchoDefinition, echo("direct", seen.direct)), (s) => s.close({ graceMs: 0 }));
  transports.direct = later(directTransport(server.endpoint), (t) => t.close());

  const registry = later(new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() }), (r) => r.close());
  const host = later(await serve(EchoDefinition, echo("registered", seen.registry), { endpoint: loopback(), registry: registry.endpoint, host: "127.0.0.1" }), (h) =>
    h.close({ graceMs: 0 }),
  );
  await host.waitForRegistration({ timeoutMs: 5000 });
  transports.registry = later(registryTransport(registry.endpoint), (t) => t.close());

  const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200 }), (b) => b.close());
  later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200 }).add(EchoDefinition, echo("worker", seen.broker)).start(), (w) => w.close({ graceMs: 0 }));
  transports.broker = later(brokerTransport(broker.frontendEndpoint), (t) => t.close());
});

afterAll(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** Requests as a caller's generator makes them, recording how many it made and whether it was closed. */
function producer(count: number, request: (index: number) => Init = (index) => ({ text: `m${index}` })) {
  const state = { produced: 0, closed: false };
  async function* requests(): AsyncGenerator<Init> {
    try {
      for (let index = 0; index < count; index++) {
        state.produced++;
        yield request(index);
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, requests: requests() };
}

async function drain<T>(replies: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const reply of replies) all.push(reply);
  return all;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(["direct", "registry", "broker"])("over the %s transport", (name) => {
  const client = () => new EchoClient(transports[name]!);

  test("a client stream: every request reaches the handler, in order, then one reply", async () => {
    const { requests, state } = producer(100);
    const reply = await client().collect(requests, { timeoutMs: 5000 });
    expect(reply.index).toBe(100);
    expect(reply.text).toBe(Array.from({ length: 100 }, (_, i) => `m${i}`).join(" "));
    expect(state.closed).toBe(true);
  });

  test("an empty client stream: the half-close alone, and the reply", async () => {
    const reply = await client().collect(producer(0).requests, { timeoutMs: 5000 });
    expect(reply).toMatchObject({ index: 0, text: "" });
  });

  test("a bidi stream: each request answered as it comes, in order", async () => {
    const replies = await drain(client().chat(producer(100).requests, { timeoutMs: 5000 }));
    expect(replies.map((reply) => reply.text)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(replies.map((reply) => reply.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test("a slow handler of a client stream: the caller's generator waits for credit, nothing is lost", async () => {
    // The handler takes 10 ms per request: without flow control the generator would make all 80 at once.
    const { requests, state } = producer(80, (index) => ({ ...large(index), delayMs: 10 }));
    const ahead: number[] = [];
    const started = Date.now();
    const watch = setInterval(() => ahead.push(state.produced - (Date.now() - started) / 10), 5);
    const reply = await client().collect(requests, { timeoutMs: 10_000 }).finally(() => clearInterval(watch));
    expect(reply.index).toBe(80);
    // Made at most the window (16) and a few in transit ahead of what the handler had read by then.
    expect(Math.max(...ahead)).toBeLessThanOrEqual(16 + 6);
  });

  test("a slow reader of a bidi stream: both directions wait for credit, memory stays bounded, nothing is lost", async () => {
    const { requests, state } = producer(200, large);
    let read = 0;
    let mostAhead = 0;
    for await (const reply of client().chat(requests, { timeoutMs: 20_000 })) {
      expect(reply.index).toBe(read++);
      mostAhead = Math.max(mostAhead, state.produced - read);
      if (read % 4 === 0) await sleep(5);
    }
    expect(read).toBe(200);
    // The replies' window (16), the requests' window (16), and the one each side holds.
    expect(mostAhead).toBeLessThanOrEqual(16 + 16 + 4);
  });

  test("the caller cancels a bidi stream midway: CANCELLED, the handler's signal aborts, the requests generator is closed", async () => {
    const before = seen[name]!.length;
    const controller = new AbortController();
    const { requests, state } = producer(Number.POSITIVE_INFINITY, (index) => ({ text: `m${index}`, delayMs: 5 }));
    let read = 0;
    const error = await rejection(
      (async () => {
        for await (const _ of client().chat(requests, { signal: controller.signal, timeoutMs: 10_000 })) if (++read === 5) controller.abort();
      })(),
    );
    expect(error.code).toBe("CANCELLED");
    await eventually(() => seen[name]![before]?.signal.aborted === true, 3000, "the handler's signal aborted");
    await eventually(() => state.closed, 3000, "the requests generator was closed");
  });

  test("the handler fails midway through a client stream: the caller gets its error, and stops sending", async () => {
    const { requests, state } = producer(Number.POSITIVE_INFINITY, (index) => ({ ...large(index), failCode: index === 30 ? "FAILED_PRECONDITION" : "" }));
    const error = await rejection(client().collect(requests, { timeoutMs: 5000 }));
    expect(error.code).toBe("FAILED_PRECONDITION");
    await eventually(() => state.closed, 3000, "the requests generator was closed");
    expect(state.produced).toBeLessThanOrEqual(30 + 16 + 2);
  });

  test("small messages: the window grows to what 256 KiB holds, at most 512 of them, and the writer waits there", async () => {
    // The handler reads the first request and stops for 1.5 s: the caller may send what credit allows, and no more.
    const { requests, state } = producer(3000, (index) => ({ text: `m${index}`, delayMs: index === 0 ? 1500 : 0 }));
    const started = Date.now();
    const call = client().collect(requests, { timeoutMs: 10_000 });
    await eventually(() => state.produced > 500, 1000, "the window grew past 500 small messages");
    // A while longer, the handler still stopped: how far the caller got is how far credit let it.
    await sleep(300);
    const producedWhileStopped = state.produced;
    expect(Date.now() - started).toBeLessThan(1500);
    const reply = await call;
    expect(reply.index).toBe(3000);
    // The first 16, then 512 ahead of the one read, and the one the generator holds.
    expect(producedWhileStopped).toBeLessThanOrEqual(1 + 512 + 1);
  });

  test("one deadline over the whole stream: a bidi stream that goes on past it ends DEADLINE_EXCEEDED", async () => {
    const before = seen[name]!.length;
    const { requests, state } = producer(Number.POSITIVE_INFINITY, (index) => ({ text: `m${index}`, delayMs: 20 }));
    let read = 0;
    const started = Date.now();
    const error = await rejection(
      (async () => {
        for await (const _ of client().chat(requests, { timeoutMs: 400 })) read++;
      })(),
    );
    expect(error.code).toBe("DEADLINE_EXCEEDED");
    expect(read).toBeGreaterThan(3);
    expect(Date.now() - started).toBeLessThan(2000);
    await eventually(() => seen[name]![before]?.signal.aborted === true, 3000, "the handler's signal aborted");
    await eventually(() => state.closed, 3000, "the requests generator was closed");
  });
});

describe("server streams under credit", () => {
  test("a slow reader holds the handler back to the window, instead of filling queues", async () => {
    let yielded = 0;
    const counting = {
      async *count(request: EchoRequest) {
        for (let index = 0; index < request.count; index++) {
          yielded++;
          yield { text: LARGE, index };
        }
      },
    };
    await using server = new RpcServer(loopback()).add(EchoDefinition, { ...echo("counting"), ...counting });
    const transport = directTransport(server.endpoint);
    try {
      let read = 0;
      let mostAhead = 0;
      for await (const reply of new EchoClient(transport).count({ count: 300 }, { timeoutMs: 20_000 })) {
        expect(reply.index).toBe(read++);
        mostAhead = Math.max(mostAhead, yielded - read);
        if (read % 8 === 0) await sleep(5);
      }
      expect(read).toBe(300);
      expect(mostAhead).toBeLessThanOrEqual(16 + 2);
    } finally {
      await transport.close();
    }
  });
});
