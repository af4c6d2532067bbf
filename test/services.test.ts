import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { DividereError, RpcServer, connection, directTransport, envelope, rpcProtocol, type CallContext, type Transport } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { EchoRequestSchema } from "./fixtures/gen/test/services/v1/echo_pb.js";
import { connectTo, eventually, transports } from "./helpers.js";

let server: RpcServer;
let transport: Transport;
let client: EchoClient;
let seen: CallContext[];

beforeEach(() => {
  seen = [];
  server = new RpcServer(transports.tcp()).add(EchoDefinition, echo("one", seen));
  transport = directTransport(server.endpoint);
  client = new EchoClient(transport);
});

afterEach(async () => {
  await transport.close();
  await server.close({ graceMs: 0 });
});

/** The error a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<DividereError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DividereError) return error;
    throw error;
  }
  throw new Error("the call did not fail");
}

describe("unary calls through a generated client", () => {
  test("a reply, typed", async () => {
    const reply = await client.say({ text: "hello" }, { timeoutMs: 2000 });
    expect(reply).toMatchObject({ $typeName: "test.services.v1.EchoReply", text: "hello", servedBy: "one" });
    expect(seen[0]).toMatchObject({ method: "/test.services.v1.Echo/Say", peer: expect.stringMatching(/\/\d+$/) });
  });

  test("many concurrent calls on one client, each answered with its own reply", async () => {
    const texts = Array.from({ length: 200 }, (_, i) => `call ${i}`);
    const replies = await Promise.all(texts.map((text, i) => client.say({ text, delayMs: (i * 7) % 30 }, { timeoutMs: 5000 })));
    expect(replies.map((reply) => reply.text)).toEqual(texts);
    expect(server.stats.ok).toBe(200);
  });

  test("deadline exceeded: the caller gets DEADLINE_EXCEEDED, the server's handler sees its signal abort", async () => {
    const error = await failure(client.say({ text: "slow", delayMs: 2000 }, { timeoutMs: 50 }));
    expect(error).toMatchObject({ code: "DEADLINE_EXCEEDED" });
    await eventually(() => seen[0]?.signal.aborted === true, 2000, "the handler's signal aborted");
    expect(seen[0]!.deadline).toBeGreaterThan(0);
  });

  test("the server's own deadline aborts the handler's signal when no cancel arrives", async () => {
    // A raw Dealer sends the request and never a cancel: only the server's deadline can stop the handler.
    await using raw = new connection.Dealer(connectTo({ endpoint: server.endpoint }));
    const codec = new envelope.EnvelopeCodec([rpcProtocol.RpcRequestSchema, EchoRequestSchema]);
    const request = toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "slow", delayMs: 10_000 }));
    const sent = Date.now();
    await raw.send(codec.encode(rpcProtocol.RpcRequestSchema, { id: 1n, method: "/test.services.v1.Echo/Say", timeoutMs: 100, payload: request }));
    await eventually(() => seen[0]?.signal.aborted === true, 3000, "the handler's signal aborted");
    expect((seen[0]!.signal.reason as DividereError).code).toBe("DEADLINE_EXCEEDED");
    await eventually(() => server.stats.cancelled === 1, 3000, "the handler stopped long before its 10 s sleep");
    expect(Date.now() - sent).toBeLessThan(5000);
  });

  test("abort mid-call: CANCELLED for the caller, and the server's handler sees the signal", async () => {
    const controller = new AbortController();
    const call = client.say({ text: "abandoned", delayMs: 2000 }, { signal: controller.signal });
    await eventually(() => seen.length === 1, 2000, "the call reached the server");
    controller.abort();
    expect(await failure(call)).toMatchObject({ code: "CANCELLED" });
    await eventually(() => seen[0]!.signal.aborted, 2000, "the handler's signal aborted");
    expect((seen[0]!.signal.reason as DividereError).code).toBe("CANCELLED");
    await eventually(() => server.stats.cancelled === 1, 2000, "the server counted the cancellation");
  });

  test("an unimplemented method answers UNIMPLEMENTED", async () => {
    expect(await failure(client.unfinished({ text: "?" }, { timeoutMs: 2000 }))).toMatchObject({
      code: "UNIMPLEMENTED",
      message: expect.stringMatching(/Unfinished is not served here/),
    });
  });

  test("a handler that throws: INTERNAL for the caller, and the server lives on", async () => {
    expect(await failure(client.say({ text: "boom", fail: true }, { timeoutMs: 2000 }))).toMatchObject({
      code: "INTERNAL",
      message: "told to fail: boom",
    });
    expect(await client.say({ text: "still here" }, { timeoutMs: 2000 })).toMatchObject({ text: "still here" });
  });

  test("malformed request frames: dropped and counted, or answered with an error status; the server lives on", async () => {
    await using raw = new connection.Dealer(connectTo({ endpoint: server.endpoint }));
    await raw.send("not an envelope at all");
    await raw.send(Buffer.alloc(0));
    const codec = new envelope.EnvelopeCodec([rpcProtocol.RpcRequestSchema, rpcProtocol.RpcResponseSchema]);
    await raw.send(codec.encode(rpcProtocol.RpcRequestSchema, { id: 7n, method: "/test.services.v1.Echo/Say", payload: Buffer.from("0aff", "hex") }));
    await raw.send(codec.encode(rpcProtocol.RpcRequestSchema, { id: 8n, method: "/no.Such/Method" }));
    const answers = [];
    for (let i = 0; i < 2; i++) answers.push(codec.decode((await raw.recv({ timeoutMs: 2000 }))[0]!));
    expect(answers).toMatchObject([
      { $typeName: "dividere.v1.RpcResponse", id: 7n, code: rpcProtocol.StatusCode.INVALID_ARGUMENT },
      { $typeName: "dividere.v1.RpcResponse", id: 8n, code: rpcProtocol.StatusCode.UNIMPLEMENTED },
    ]);
    await eventually(() => server.stats.dropped.NOT_AN_ENVELOPE === 2, 2000, "both garbage frames counted");
    expect(await client.say({ text: "fine" }, { timeoutMs: 2000 })).toMatchObject({ text: "fine" });
  });
});

describe("server-streaming calls", () => {
  test("every reply in order, then the end", async () => {
    const replies = [];
    for await (const reply of client.count({ text: "tick", count: 5 }, { timeoutMs: 5000 })) replies.push(reply);
    expect(replies.map((reply) => [reply.text, reply.index])).toEqual([0, 1, 2, 3, 4].map((i) => ["tick", i]));
  });

  test("a caller that stops reading cancels the stream on the server", async () => {
    const replies = [];
    for await (const reply of client.count({ text: "tick", count: 1000, delayMs: 5 })) {
      replies.push(reply);
      if (replies.length === 3) break;
    }
    await eventually(() => seen[0]!.signal.aborted, 2000, "the server's stream was cancelled");
    expect(replies).toHaveLength(3);
  });

  test("a stream's deadline ends it with DEADLINE_EXCEEDED after the replies that made it", async () => {
    const replies: unknown[] = [];
    const error = await failure(
      (async () => {
        for await (const reply of client.count({ text: "slow", count: 100, delayMs: 20 }, { timeoutMs: 110 })) replies.push(reply);
      })(),
    );
    expect(error.code).toBe("DEADLINE_EXCEEDED");
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.length).toBeLessThan(100);
  });
});

describe("transports", () => {
  test("calls to a server that is not up yet wait for it (direct transport)", async () => {
    const port = await connection.PortManager.acquire({ host: "127.0.0.1" });
    const later = directTransport(`tcp://127.0.0.1:${port}`);
    const call = new EchoClient(later).say({ text: "patience" }, { timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const late = new RpcServer({ bind: `tcp://127.0.0.1:${port}` }).add(EchoDefinition, echo("late"));
    expect(await call).toMatchObject({ servedBy: "late" });
    await later.close();
    await late.close();
  });

  test("closing the transport fails calls in flight with UNAVAILABLE", async () => {
    const call = client.say({ text: "never", delayMs: 5000 });
    await eventually(() => seen.length === 1, 2000, "the call reached the server");
    await transport.close();
    expect(await failure(call)).toMatchObject({ code: "UNAVAILABLE" });
    transport = directTransport(server.endpoint);
  });

  test("closing a client cancels its calls in flight and refuses later ones; the transport stays open for others", async () => {
    const unary = client.say({ text: "never", delayMs: 5000 });
    const next = client.count({ text: "tick", count: 2, delayMs: 5000 })[Symbol.asyncIterator]().next();
    await eventually(() => seen.length === 2, 2000, "both calls reached the server");
    await client.close();
    expect(await failure(unary)).toMatchObject({ code: "CANCELLED", message: "/test.services.v1.Echo/Say: the client was closed" });
    expect(await failure(next)).toMatchObject({ code: "CANCELLED", message: "/test.services.v1.Echo/Count: the client was closed" });
    await eventually(() => seen.every((ctx) => ctx.signal.aborted), 2000, "the server's handlers saw the cancel");
    expect(await failure(client.say({ text: "later" }))).toMatchObject({ code: "CANCELLED", message: "/test.services.v1.Echo/Say: the client was closed" });
    {
      await using other = new EchoClient(transport);
      expect(await other.say({ text: "still here" }, { timeoutMs: 2000 })).toMatchObject({ text: "still here" });
    }
  });

  test("an all-default reply arrives as the default message", async () => {
    expect(await client.say({}, { timeoutMs: 2000 })).toMatchObject({ $typeName: "test.services.v1.EchoReply", text: "", servedBy: "one" });
    expect(EchoRequestSchema.typeName).toBe("test.services.v1.EchoRequest");
  });
});
