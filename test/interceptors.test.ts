// Interceptors over real sockets, with the generated Echo stubs, on the three transports (direct,
// registry, broker): their order on both sides, answering without calling next (a client's
// cache, a server refusing a bad bearer token), changing headers and responses, server streams
// through them, and a server interceptor that refuses one CURVE key for one method.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  Broker,
  RegistryServer,
  RpcError,
  RpcServer,
  Worker,
  brokerTransport,
  curve,
  directTransport,
  registryTransport,
  serve,
  type CallContext,
  type Interceptor,
  type ServerInterceptor,
  type Transport,
  type TransportOptions,
} from "@dividere/runtime";
import { create } from "@bufbuild/protobuf";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { type EchoReply, EchoReplySchema, type EchoRequest, EchoRequestSchema } from "./fixtures/gen/test/services/v1/echo_pb.js";

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const lasting: Array<() => unknown> = [];
const perTest: Array<() => unknown> = [];
const later = <T>(list: Array<() => unknown>, thing: T, close: (thing: T) => unknown): T => (list.push(() => close(thing)), thing);

/** Enter and leave records of the interceptors and handlers of the test running; only calls with an x-order header record. */
let order: string[] = [];
/** The contexts the handlers saw. */
let seen: CallContext[] = [];

/** An interceptor recording when a call enters and leaves it, for calls that ask (an x-order header). */
function recorder<Req extends { header: Headers }, Res>(name: string): (next: (req: Req) => Promise<Res>) => (req: Req) => Promise<Res> {
  return (next) => async (req) => {
    const recording = req.header.has("x-order");
    if (recording) order.push(`${name} enter`);
    try {
      return await next(req);
    } finally {
      if (recording) order.push(`${name} leave`);
    }
  };
}

/** Refuses a call whose bearer token is not the right one; calls without an authorization header pass (the other tests'). */
const bearer: ServerInterceptor = (next) => async (req) => {
  const authorization = req.header.get("authorization");
  if (authorization !== null && authorization !== "Bearer right") throw new RpcError("UNAUTHENTICATED", `${req.path}: the bearer token is not valid; send a valid one`);
  return await next(req);
};

/** For calls with x-shout: adds a request header the handler echoes back, and shouts the reply's text (each message of a stream). */
const shout: ServerInterceptor = (next) => async (req) => {
  if (!req.header.has("x-shout")) return await next(req);
  req.header.set("echo-shouted", "by the server");
  const res = await next(req);
  const loud = (message: unknown) => ({ ...(message as EchoReply), text: (message as EchoReply).text.toUpperCase() });
  if (!res.stream) return { ...res, message: create(EchoReplySchema, loud(res.message)) };
  return {
    ...res,
    message: (async function* () {
      for await (const message of res.message) yield create(EchoReplySchema, loud(message));
    })(),
  };
};

/** The server's interceptors, the first outermost. */
const serverInterceptors: ServerInterceptor[] = [recorder("s1"), recorder("s2"), recorder("s3"), bearer, shout];

/** Echo, recording when its handlers run. */
function recordedEcho(name: string) {
  const implementation = echo(name, seen);
  return {
    ...implementation,
    say(request: Parameters<typeof implementation.say>[0], ctx: CallContext) {
      seen.push(ctx);
      if (ctx.requestHeader.has("x-order")) order.push("handler");
      return implementation.say(request, ctx);
    },
  };
}

const endpoints: { direct?: string; registry?: string; broker?: string } = {};

beforeAll(async () => {
  const server = later(lasting, new RpcServer(loopback(), { interceptors: serverInterceptors }).add(EchoDefinition, recordedEcho("direct")), (s) => s.close({ graceMs: 0 }));
  endpoints.direct = server.endpoint;

  const registry = later(lasting, new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() }), (r) => r.close());
  const host = later(
    lasting,
    await serve(EchoDefinition, recordedEcho("registered"), { endpoint: loopback(), registry: registry.endpoint, host: "127.0.0.1", interceptors: serverInterceptors }),
    (h) => h.close({ graceMs: 0 }),
  );
  await host.waitForRegistration({ timeoutMs: 5000 });
  endpoints.registry = registry.endpoint;

  const broker = later(lasting, new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200 }), (b) => b.close());
  later(
    lasting,
    new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200, interceptors: serverInterceptors }).add(EchoDefinition, recordedEcho("worker")).start(),
    (w) => w.close({ graceMs: 0 }),
  );
  endpoints.broker = broker.frontendEndpoint;
});

afterEach(async () => {
  for (const close of perTest.splice(0).reverse()) await close();
  order = [];
  seen = [];
});

afterAll(async () => {
  for (const close of lasting.splice(0).reverse()) await close();
});

const transportOf: Record<string, (options: TransportOptions) => Transport> = {
  direct: (options) => directTransport(endpoints.direct!, options),
  registry: (options) => registryTransport(endpoints.registry!, options),
  broker: (options) => brokerTransport(endpoints.broker!, options),
};

describe.each(["direct", "registry", "broker"])("over the %s transport", (name) => {
  const transport = (options: TransportOptions = {}) => later(perTest, transportOf[name]!(options), (t) => t.close());

  test("order: the first in a list is the outermost; a client's run outside its transport's; the server's around the handler", async () => {
    const client = new EchoClient(transport({ interceptors: [recorder("t1")] }), { interceptors: [recorder("c1"), recorder("c2")] });
    expect(await client.say({ text: "hi" }, { headers: { "x-order": "" }, timeoutMs: 5000 })).toMatchObject({ text: "hi" });
    expect(order).toEqual([
      ...["c1 enter", "c2 enter", "t1 enter", "s1 enter", "s2 enter", "s3 enter"],
      "handler",
      ...["s3 leave", "s2 leave", "s1 leave", "t1 leave", "c2 leave", "c1 leave"],
    ]);
  });

  test("a client's cache answers without calling next: the second call never reaches the server", async () => {
    const cache = new Map<string, unknown>();
    const caching: Interceptor = (next) => async (req) => {
      const key = `${req.path} ${JSON.stringify(req.message)}`;
      const hit = cache.get(key);
      if (hit) return { stream: false, method: req.method, header: new Headers({ "x-cache": "hit" }), trailer: new Headers(), message: hit as EchoReply };
      const res = await next(req);
      if (!res.stream) cache.set(key, res.message);
      return res;
    };
    const client = new EchoClient(transport(), { interceptors: [caching] });
    const first = await client.say({ text: "once" }, { timeoutMs: 5000 });
    const second = await client.say({ text: "once" }, { timeoutMs: 5000 });
    expect(second).toEqual(first);
    expect(first.servedBy).not.toBe("");
    expect(seen).toHaveLength(1);
  });

  test("a server refuses a wrong bearer token with UNAUTHENTICATED before the handler runs", async () => {
    const client = new EchoClient(transport());
    const refused = await client.say({ text: "let me in" }, { headers: { authorization: "Bearer wrong" }, timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RpcError);
    expect(refused).toMatchObject({ code: "UNAUTHENTICATED", message: expect.stringMatching(/bearer token is not valid/) });
    expect(seen).toHaveLength(0);
    expect(await client.say({ text: "hi" }, { headers: { authorization: "Bearer right" }, timeoutMs: 5000 })).toMatchObject({ text: "hi" });
    expect(seen).toHaveLength(1);
  });

  test("a server's interceptors guard client and bidi streams too: a wrong token is refused before the handler runs", async () => {
    const client = new EchoClient(transport());
    async function* requests() {
      yield { text: "a" };
      yield { text: "b" };
    }
    const wrong = { headers: { authorization: "Bearer wrong" }, timeoutMs: 5000 };
    expect(await client.collect(requests(), wrong).catch((e: unknown) => e)).toMatchObject({ code: "UNAUTHENTICATED" });
    const chatted = (async () => {
      for await (const _ of client.chat(requests(), wrong));
    })();
    await expect(chatted).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(seen).toHaveLength(0);
    const right = { headers: { authorization: "Bearer right" }, timeoutMs: 5000 };
    expect(await client.collect(requests(), right)).toMatchObject({ text: "a b", index: 2 });
  });

  test("client and bidi streams through a client's interceptors: each request and reply seen and changed, in order", async () => {
    const sent: string[] = [];
    const received: number[] = [];
    // Marks each request as it goes out and counts each reply as it comes back.
    const watching: Interceptor = (next) => async (req) => {
      req.header.set("echo-watched", "yes");
      const requests = req.message;
      const res = await next(
        req.stream
          ? {
              ...req,
              message: (async function* () {
                for await (const message of requests as AsyncIterable<EchoRequest>) {
                  sent.push(message.text);
                  yield create(EchoRequestSchema, { ...message, text: `${message.text}+` });
                }
              })(),
            }
          : req,
      );
      if (!res.stream) return res;
      return {
        ...res,
        message: (async function* () {
          for await (const message of res.message) {
            received.push((message as EchoReply).index);
            yield message;
          }
        })(),
      };
    };
    const client = new EchoClient(transport({ interceptors: [recorder("t1")] }), { interceptors: [recorder("c1"), watching] });
    async function* requests() {
      yield { text: "a" };
      yield { text: "b" };
    }
    let header: Headers | undefined;
    const options = { headers: { "x-order": "" }, timeoutMs: 5000, onHeader: (h: Headers) => (header = h) };
    expect(await client.collect(requests(), options)).toMatchObject({ text: "a+ b+", index: 2 });
    expect(sent).toEqual(["a", "b"]);
    expect(header?.get("echo-watched")).toBe("yes");
    expect(order).toEqual(["c1 enter", "t1 enter", "s1 enter", "s2 enter", "s3 enter", "s3 leave", "s2 leave", "s1 leave", "t1 leave", "c1 leave"]);
    sent.length = 0;
    const replies: string[] = [];
    for await (const reply of client.chat(requests(), { timeoutMs: 5000 })) replies.push(reply.text);
    expect(replies).toEqual(["a+", "b+"]);
    expect(sent).toEqual(["a", "b"]);
    expect(received).toEqual([0, 1]);
  });

  test("interceptors change the request headers and the response, on both sides", async () => {
    // The client adds a header and marks the reply; the server's shout adds one and shouts the text.
    const marking: Interceptor = (next) => async (req) => {
      req.header.set("echo-added", "by the client");
      req.header.set("x-shout", "");
      const res = await next(req);
      if (res.stream) return res;
      return { ...res, message: create(EchoReplySchema, { ...(res.message as EchoReply), text: `${(res.message as EchoReply).text}!` }) };
    };
    let header: Headers | undefined;
    const reply = await new EchoClient(transport(), { interceptors: [marking] }).say({ text: "hi" }, { timeoutMs: 5000, onHeader: (h) => (header = h) });
    expect(reply.text).toBe("HI!");
    expect(seen[0]!.requestHeader.get("echo-added")).toBe("by the client");
    expect(header?.get("echo-added")).toBe("by the client");
    expect(header?.get("echo-shouted")).toBe("by the server");
  });

  test("a server stream through interceptors on both sides: each message seen, the trailers after the last", async () => {
    const counted: number[] = [];
    let trailer: Headers | undefined;
    const counting: Interceptor = (next) => async (req) => {
      req.header.set("x-shout", "");
      req.header.set("echo-n", "3");
      const res = await next(req);
      if (!res.stream) return res;
      return {
        ...res,
        message: (async function* () {
          for await (const message of res.message) {
            counted.push((message as EchoReply).index);
            yield message;
          }
          trailer = res.trailer;
        })(),
      };
    };
    const client = new EchoClient(transport(), { interceptors: [recorder("c1"), counting] });
    const replies: EchoReply[] = [];
    for await (const reply of client.count({ text: "x", count: 3 }, { headers: { "x-order": "" }, timeoutMs: 5000 })) replies.push(reply);
    expect(replies.map((r) => [r.text, r.index])).toEqual([
      ["X", 0],
      ["X", 1],
      ["X", 2],
    ]);
    expect(counted).toEqual([0, 1, 2]);
    expect(trailer?.get("echo-n")).toBe("3");
    expect(order).toEqual(["c1 enter", "s1 enter", "s2 enter", "s3 enter", "s3 leave", "s2 leave", "s1 leave", "c1 leave"]);
  });
});

test("a client interceptor's error reaches the caller as an RpcError; any other error as INTERNAL", async () => {
  const transport = later(perTest, directTransport(endpoints.direct!), (t) => t.close());
  const translating: Interceptor = (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      throw new RpcError("ABORTED", `translated: ${(error as RpcError).code}`);
    }
  };
  const translated = await new EchoClient(transport, { interceptors: [translating] }).say({ text: "x", failCode: "NOT_FOUND" }, { timeoutMs: 5000 }).catch((e: unknown) => e);
  expect(translated).toMatchObject({ name: "RpcError", code: "ABORTED", message: "translated: NOT_FOUND" });
  const broken: Interceptor = () => () => Promise.reject(new Error("a bug"));
  const internal = await new EchoClient(transport, { interceptors: [broken] }).say({ text: "x" }).catch((e: unknown) => e);
  expect(internal).toBeInstanceOf(RpcError);
  expect(internal).toMatchObject({ code: "INTERNAL", message: "a bug" });
});

test("a server interceptor refuses one CURVE key for one method, by the verified ctx.callerKey", async () => {
  const server = curve.keyPair();
  const friend = curve.keyPair();
  const other = curve.keyPair();
  // Say is for the friend only; Count for every allowed key.
  const sayForFriend: ServerInterceptor = (next) => async (req) => {
    if (req.method.name === "Say" && req.ctx.callerKey !== friend.publicKey) {
      throw new RpcError("PERMISSION_DENIED", `${req.path} is not for ${req.ctx.callerKey ?? "unauthenticated callers"}`);
    }
    return await next(req);
  };
  const rpc = later(
    perTest,
    new RpcServer(loopback(), { curve: { ...server, allow: [friend.publicKey, other.publicKey] }, interceptors: [sayForFriend] }).add(EchoDefinition, echo("guarded", seen)),
    (s) => s.close({ graceMs: 0 }),
  );
  const clientOf = (keys: typeof friend) => new EchoClient(later(perTest, directTransport(rpc.endpoint, { curve: { ...keys, serverKey: server.publicKey } }), (t) => t.close()));
  expect(await clientOf(friend).say({ text: "hi" }, { timeoutMs: 5000 })).toMatchObject({ text: "hi" });
  const stranger = clientOf(other);
  await expect(stranger.say({ text: "hi" }, { timeoutMs: 5000 })).rejects.toMatchObject({ code: "PERMISSION_DENIED", message: expect.stringContaining(other.publicKey) });
  expect(seen).toHaveLength(1);
  const counted: number[] = [];
  for await (const reply of stranger.count({ text: "n", count: 2 }, { timeoutMs: 5000 })) counted.push(reply.index);
  expect(counted).toEqual([0, 1]);
  expect(seen.at(-1)!.callerKey).toBe(other.publicKey);
});
