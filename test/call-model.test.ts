// The call model over real sockets, with the generated Echo stubs, on the three transports
// (direct, registry, broker): metadata both ways, error details, the metadata bound.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  Broker,
  DividereError,
  RegistryClient,
  RegistryServer,
  RpcError,
  RpcServer,
  Worker,
  brokerTransport,
  decodeBinaryHeader,
  directTransport,
  encodeBinaryHeader,
  registryTransport,
  serve,
  type CallContext,
  type CallOptions,
  type Transport,
  messaging,
  rpcProtocol,
} from "@dividere/runtime";
import { create, toBinary } from "@bufbuild/protobuf";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { EchoFailureSchema, EchoReplySchema, EchoRequestSchema } from "./fixtures/gen/test/services/v1/echo_pb.js";
import { eventually, rejection } from "./helpers.js";

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);
const transports: Record<string, Transport> = {};

beforeAll(async () => {
  const server = later(new RpcServer(loopback(), { maxHeaderBytes: 1024 }).add(EchoDefinition, echo("direct")), (s) => s.close({ graceMs: 0 }));
  transports.direct = later(directTransport(server.endpoint), (t) => t.close());

  const registry = later(new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() }), (r) => r.close());
  const host = later(
    await serve(EchoDefinition, echo("registered"), { endpoint: loopback(), registry: registry.endpoint, host: "127.0.0.1", maxHeaderBytes: 1024 }),
    (h) => h.close({ graceMs: 0 }),
  );
  await host.waitForRegistration({ timeoutMs: 5000 });
  transports.registry = later(registryTransport(registry.endpoint), (t) => t.close());

  const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200 }), (b) => b.close());
  later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200, maxHeaderBytes: 1024 }).add(EchoDefinition, echo("worker")).start(), (w) => w.close({ graceMs: 0 }));
  transports.broker = later(brokerTransport(broker.frontendEndpoint), (t) => t.close());
});

afterAll(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** Call options that send `headers` and record the response headers and trailers. */
function recording(headers: Record<string, string>): { options: CallOptions; header: Headers[]; trailer: Headers[] } {
  const header: Headers[] = [];
  const trailer: Headers[] = [];
  return { options: { headers, timeoutMs: 5000, onHeader: (h) => header.push(h), onTrailer: (t) => trailer.push(t) }, header, trailer };
}

const binary = Uint8Array.from([0, 1, 2, 0xfe, 0xff, 10, 13]);

describe.each(["direct", "registry", "broker"])("over the %s transport", (name) => {
  const client = () => new EchoClient(transports[name]!);

  test("unary: request headers reach the handler; response headers and trailers come back, text and binary", async () => {
    const { options, header, trailer } = recording({ "echo-tenant": "acme", "echo-trace-bin": encodeBinaryHeader(binary), other: "not echoed" });
    const reply = await client().say({ text: "hi" }, options);
    expect(reply.text).toBe("hi");
    expect(header).toHaveLength(1);
    expect(trailer).toHaveLength(1);
    for (const received of [header[0]!, trailer[0]!]) {
      expect(received.get("echo-tenant")).toBe("acme");
      expect(decodeBinaryHeader(received.get("echo-trace-bin")!)).toEqual(binary);
      expect(received.has("other")).toBe(false);
    }
  });

  test("unary error: trailers still come back, and the error carries its typed details", async () => {
    const { options, header, trailer } = recording({ "echo-tenant": "acme" });
    const error = await rejection(client().say({ text: "nope", failCode: "NOT_FOUND" }, options));
    expect(error).toMatchObject({ name: "RpcError", code: "NOT_FOUND", message: expect.stringContaining("told to fail with NOT_FOUND") });
    expect(error).toBeInstanceOf(DividereError);
    expect(error.findDetails(EchoFailureSchema)).toEqual([expect.objectContaining({ text: "nope", attempt: 1 })]);
    expect(error.findDetails(EchoReplySchema)).toEqual([]);
    expect(header[0]?.get("echo-tenant")).toBe("acme");
    expect(trailer[0]?.get("echo-tenant")).toBe("acme");
  });

  test("server stream: headers before the first message, trailers after the last, also when it fails", async () => {
    const { options, header, trailer } = recording({ "echo-n": "3" });
    const seen: string[] = [];
    for await (const reply of client().count({ text: "x", count: 3 }, { ...options, onHeader: (h) => (seen.push(`header ${h.get("echo-n")}`), header.push(h)) })) {
      seen.push(`message ${reply.index}`);
    }
    expect(seen).toEqual(["header 3", "message 0", "message 1", "message 2"]);
    expect(trailer.map((t) => t.get("echo-n"))).toEqual(["3"]);

    const failing = recording({ "echo-n": "2" });
    const got: number[] = [];
    const error = await rejection(
      (async () => {
        for await (const reply of client().count({ text: "y", count: 2, failCode: "ABORTED" }, failing.options)) got.push(reply.index);
      })(),
    );
    expect(got).toEqual([0, 1]);
    expect(error.code).toBe("ABORTED");
    expect(error.findDetails(EchoFailureSchema)[0]?.text).toBe("y");
    expect(failing.trailer.map((t) => t.get("echo-n"))).toEqual(["2"]);
  });

  test("client and bidi streams: request headers reach the handler; headers and trailers come back, also when they fail", async () => {
    async function* requests(...texts: string[]) {
      for (const text of texts) yield { text };
    }
    const collected = recording({ "echo-tenant": "acme", "echo-trace-bin": encodeBinaryHeader(binary) });
    expect(await client().collect(requests("a", "b"), collected.options)).toMatchObject({ text: "a b", index: 2 });
    for (const received of [...collected.header, ...collected.trailer]) {
      expect(received.get("echo-tenant")).toBe("acme");
      expect(decodeBinaryHeader(received.get("echo-trace-bin")!)).toEqual(binary);
    }
    expect([collected.header.length, collected.trailer.length]).toEqual([1, 1]);

    const chatted = recording({ "echo-tenant": "bidi" });
    const seen: string[] = [];
    const chatOptions = { ...chatted.options, onHeader: (h: Headers) => (seen.push(`header ${h.get("echo-tenant")}`), chatted.header.push(h)) };
    for await (const reply of client().chat(requests("x", "y"), chatOptions)) seen.push(`message ${reply.text}`);
    expect(seen).toEqual(["header bidi", "message x", "message y"]);
    expect(chatted.trailer.map((t) => t.get("echo-tenant"))).toEqual(["bidi"]);

    const failing = recording({ "echo-tenant": "failing" });
    async function* failingRequests() {
      yield { text: "ok" };
      yield { text: "bad", failCode: "FAILED_PRECONDITION" as const };
    }
    const error = await rejection(client().collect(failingRequests(), failing.options));
    expect(error.code).toBe("FAILED_PRECONDITION");
    expect(error.findDetails(EchoFailureSchema)[0]?.text).toBe("bad");
    expect(failing.trailer.map((t) => t.get("echo-tenant"))).toEqual(["failing"]);
    const failingChat = recording({ "echo-tenant": "failing chat" });
    const got: string[] = [];
    const chatError = await rejection(
      (async () => {
        for await (const reply of client().chat(failingRequests(), failingChat.options)) got.push(reply.text);
      })(),
    );
    expect(got).toEqual(["ok"]);
    expect(chatError.code).toBe("FAILED_PRECONDITION");
    expect(failingChat.header.map((h) => h.get("echo-tenant"))).toEqual(["failing chat"]);
    expect(failingChat.trailer.map((t) => t.get("echo-tenant"))).toEqual(["failing chat"]);
  });

  test("request headers over the server's maxHeaderBytes: RESOURCE_EXHAUSTED, saying the bound and how to raise it", async () => {
    const error = await rejection(client().say({ text: "big" }, { headers: { "echo-big": "x".repeat(2000) }, timeoutMs: 5000 }));
    expect(error.code).toBe("RESOURCE_EXHAUSTED");
    expect(error.message).toMatch(/request headers take 2008 bytes .*more than the 1024 the server allows \(maxHeaderBytes.*raise maxHeaderBytes/);
  });
});

test("response metadata over the bound fails the call with RESOURCE_EXHAUSTED instead of sending it", async () => {
  const server = later(
    new RpcServer(loopback(), { maxHeaderBytes: 64 }).add(EchoDefinition, {
      ...echo("bounded"),
      say(request, ctx) {
        ctx.responseTrailer.set("huge", "y".repeat(100));
        return { text: request.text };
      },
    }),
    (s) => s.close({ graceMs: 0 }),
  );
  const transport = later(directTransport(server.endpoint), (t) => t.close());
  const error = await rejection(new EchoClient(transport).say({ text: "hi" }, { timeoutMs: 5000 }));
  expect(error.code).toBe("RESOURCE_EXHAUSTED");
  expect(error.message).toMatch(/response headers and trailers take 104 bytes/);
});

test("bad headers are INVALID_ARGUMENT before anything is sent", async () => {
  const error = await rejection(new EchoClient(transports.direct!).say({ text: "hi" }, { headers: { "bad name": "x" } }));
  expect(error.code).toBe("INVALID_ARGUMENT");
});

test("one error model: a registry that is not there fails a call with an RpcError, as the transports do", async () => {
  const registry = later(new RegistryClient({ endpoint: "tcp://127.0.0.1:1", timeoutMs: 100, retries: 0 }), (c) => c.close());
  const lookup = await registry.lookup("test.services.v1.Echo").then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(lookup).toBeInstanceOf(RpcError);
  expect(lookup).toMatchObject({ name: "RpcError", code: "UNAVAILABLE" });
});

describe("{ parent: ctx }: a handler's calls inherit its deadline and cancellation, across two hops", () => {
  /** A front service whose say() asks the back one with { parent: ctx }, and the contexts each saw. */
  function twoHops() {
    const backSeen: CallContext[] = [];
    const back = later(new RpcServer(loopback()).add(EchoDefinition, echo("back", backSeen)), (s) => s.close({ graceMs: 0 }));
    const backTransport = later(directTransport(back.endpoint), (t) => t.close());
    const backClient = new EchoClient(backTransport);
    const frontErrors: RpcError[] = [];
    const front = later(
      new RpcServer(loopback()).add(EchoDefinition, {
        ...echo("front"),
        async say(request, ctx) {
          try {
            return await backClient.say(request, { parent: ctx });
          } catch (error) {
            frontErrors.push(error as RpcError);
            throw error;
          }
        },
      }),
      (s) => s.close({ graceMs: 0 }),
    );
    const client = new EchoClient(later(directTransport(front.endpoint), (t) => t.close()));
    return { client, backSeen, frontErrors };
  }

  test("the second hop gets the caller's deadline and fails with DEADLINE_EXCEEDED when it passes", async () => {
    const { client, backSeen, frontErrors } = twoHops();
    const started = Date.now();
    const error = await rejection(client.say({ text: "slow", delayMs: 5000 }, { timeoutMs: 300 }));
    expect(error.code).toBe("DEADLINE_EXCEEDED");
    await eventually(() => frontErrors.length === 1, 3000, "the front handler's call to the back failed");
    expect(frontErrors[0]!.code).toBe("DEADLINE_EXCEEDED");
    expect(Date.now() - started).toBeLessThan(2000);
    // The back handler's deadline is the caller's (300 ms from the start), not its own default of 30 s.
    expect(backSeen[0]!.deadline! - started).toBeLessThanOrEqual(320);
    await eventually(() => backSeen[0]!.signal.aborted, 3000, "the back handler's signal aborted");
  });

  test("a caller's cancel says why: its passed deadline aborts the handler with DEADLINE_EXCEEDED, an abort with CANCELLED", async () => {
    // Calls without a deadline on the wire: only the caller's word can say its deadline passed,
    // which it may say before the server's own timer of the same deadline fires.
    const seen: CallContext[] = [];
    const server = later(new RpcServer(loopback()).add(EchoDefinition, echo("cancelled", seen)), (s) => s.close({ graceMs: 0 }));
    const { RpcRequestSchema, RpcCancelSchema, RpcResponseSchema, StatusCode } = rpcProtocol;
    await using caller = new messaging.Dealer(server.endpoint, { types: [RpcRequestSchema, RpcCancelSchema, RpcResponseSchema] });
    const payload = toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "wait", delayMs: 5000 }));
    for (const [id, code, expected] of [
      [1n, StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"],
      [2n, undefined, "CANCELLED"],
    ] as const) {
      await caller.send(RpcRequestSchema, { id, method: "/test.services.v1.Echo/Say", payload });
      await eventually(() => seen.length === Number(id), 3000, `call ${id} reached the handler`);
      await caller.send(RpcCancelSchema, { id, code });
      await eventually(() => seen[Number(id) - 1]!.signal.aborted, 3000, `call ${id}'s signal aborted`);
      expect((seen[Number(id) - 1]!.signal.reason as RpcError).code).toBe(expected);
    }
  });

  test("the caller's abort cancels the second hop: the back handler's signal aborts", async () => {
    const { client, backSeen, frontErrors } = twoHops();
    const controller = new AbortController();
    const call = client.say({ text: "abandoned", delayMs: 5000 }, { signal: controller.signal, timeoutMs: 10_000 });
    await eventually(() => backSeen.length === 1, 3000, "the call reached the back service");
    controller.abort();
    expect((await rejection(call)).code).toBe("CANCELLED");
    await eventually(() => backSeen[0]!.signal.aborted, 3000, "the back handler's signal aborted");
    expect((backSeen[0]!.signal.reason as RpcError).code).toBe("CANCELLED");
    expect(frontErrors[0]).toMatchObject({ code: "CANCELLED", message: expect.stringMatching(/parent call/) });
  });
});
