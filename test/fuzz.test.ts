// The fuzz suite: every server the runtime has takes thousands of random, truncated, oversized
// and cleverly wrong inputs from a fixed seed, over real tcp sockets, and must count each one
// exactly where the generator says (a drop by reason, an error answer, a handler's failure),
// stay up, and then serve a run of valid messages in full. FUZZ_SEED and FUZZ_INPUTS (per
// server) make a longer run on demand: `npm run fuzz`.
import { afterAll, describe, expect, test } from "vitest";
import {
  Broker,
  PYTHON_PATTERN_NAME,
  type DividereError,
  type MessageContext,
  Reactor,
  RegistryClient,
  RegistryServer,
  RpcServer,
  Worker,
  brokerTransport,
  connection,
  createDispatch,
  directTransport,
  envelope,
  messaging,
  rpcProtocol,
} from "@dividere/runtime";
import { brokerTypes } from "../runtime/src/broker/protocol.js";
import { registryTypes } from "../runtime/src/registry/server.js";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { type testMsg01, testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import * as prefix from "./gen/test/prefix_pb.js";
import { ClientInputs, WorkerInputs } from "./fuzz/broker.js";
import { BadEnvelopes, type Sample } from "./fuzz/envelopes.js";
import { type ValidRequest, responseInput, routerInput, subscriberInput, testMsg } from "./fuzz/messaging.js";
import { RegistryRequests, registrySamples } from "./fuzz/registry.js";
import { ECHO, EchoCalls, fuzzEcho, rpcSamples, serverOutcome } from "./fuzz/rpc.js";
import { INPUTS_PER_SERVER, SEED, type Counts, type FuzzInput, add, attack, caughtUp, report } from "./fuzz/tally.js";
import { connectTo, eventually, transports } from "./helpers.js";
import { Random } from "./random.js";

/** The messaging servers drop envelopes over this size, so oversized input is cheap to send. */
const MAX = 4096;
/** Valid messages or calls after the bad input, each of which must arrive. */
const VALID_RUN = 500;
/** A bit of the `field1` no generated text has (it has no control characters but NUL): marks the valid run. */
const VALID_MARK = "valid\n";
const codec = new envelope.EnvelopeCodec([testMsg01Schema, prefix.Msg01Schema]);
const rpcCodec = new envelope.EnvelopeCodec([rpcProtocol.RpcResponseSchema]);
const TIMEOUT_MS = Math.max(40_000, INPUTS_PER_SERVER * 4);

const reports: string[] = [];
let allInputs = 0;
afterAll(() => console.log(`fuzz, seed ${SEED}: ${allInputs} bad inputs across the servers\n${reports.join("\n")}`));

/** Each server's own stream of inputs, the same for the same seed. */
const randomFor = (server: number) => new Random((SEED * 7919 + server) >>> 0);

/** A server's counters without its per-method figures, which hold timings no model of the inputs predicts. */
function withoutMethods<S extends { methods: unknown }>({ methods: _, ...counters }: S): Omit<S, "methods"> {
  return counters;
}

/** `{ dropped: { OVERSIZED: 1 } }` → `{ "dropped.OVERSIZED": 1 }`: nested counters as flat keys. */
function flatten(counters: object, prefix = ""): Counts {
  const flat: Counts = {};
  for (const [key, value] of Object.entries(counters)) {
    if (typeof value === "number") flat[prefix + key] = value;
    else if (value && typeof value === "object") Object.assign(flat, flatten(value as object, `${prefix}${key}.`));
  }
  return flat;
}

/** Hands every message a Dealer receives to `take` until the Dealer closes. */
function readAll(dealer: connection.Dealer, take: (frames: Buffer[]) => void): Promise<void> {
  return (async () => {
    for await (const frames of dealer) take(frames);
  })();
}

/** Checks each answer a Response-based server sends a Dealer: it carries its request's routing frames back, in order. */
function answers(codec: envelope.EnvelopeCodec) {
  const routes: Buffer[][] = [];
  const counts: Counts = { misrouted: 0 };
  return {
    counts,
    /** Notes the route of an input the server must answer. */
    expectReply(input: FuzzInput & { reply?: Buffer[] }) {
      if (input.reply && Object.keys(input.expect).some((key) => key.startsWith("reply."))) routes.push(input.reply);
    },
    take(frames: Buffer[]) {
      const route = routes.shift();
      const head = frames.slice(0, -1);
      if (!route || head.length !== route.length + 1 || head.some((frame, i) => !frame.equals(route[i] ?? Buffer.alloc(0)))) counts.misrouted!++;
      const typeName = codec.decode(frames[frames.length - 1]!).$typeName;
      add(counts, { [`reply.${typeName.slice(typeName.lastIndexOf(".") + 1)}`]: 1 });
    },
  };
}

function record(server: string, kinds: Counts, expected: Counts): void {
  allInputs += Object.values(kinds).reduce((sum, count) => sum + count, 0);
  reports.push(report(server, kinds, expected));
}

describe(`fuzz (seed ${SEED}, ${INPUTS_PER_SERVER} inputs per server)`, { timeout: TIMEOUT_MS }, () => {
  test("Subscriber: every bad message dropped and counted by reason; then 500 valid ones in order", async () => {
    const random = randomFor(1);
    const bad = new BadEnvelopes(random, [testMsg], { maxEnvelopeSize: MAX, oversizedWeight: 1 });
    await using sub = new messaging.Subscriber(transports.tcp(), { types: [testMsg01Schema], maxEnvelopeSize: MAX });
    await using pub = new connection.Publisher(connectTo(sub));
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    const counters = () => ({ ...flatten({ dropped: sub.stats.dropped }), received: sub.stats.received, unsent: pub.stats.unsent });
    const { kinds, expected } = await attack("Subscriber", INPUTS_PER_SERVER, () => subscriberInput(random, bad), (input) => pub.send(input.frames), counters);

    for (let i = 0; i < VALID_RUN; i++) await pub.send(codec.encode(testMsg01Schema, { field1: VALID_MARK, field2: i }));
    for (let i = 0; i < VALID_RUN; i++) expect(await sub.recv({ timeoutMs: 5000 })).toMatchObject({ field1: VALID_MARK, field2: i });
    record("Subscriber", kinds, expected);
    await caughtUp(counters, add({ ...expected }, { received: VALID_RUN }), "Subscriber: the counters after the valid run");
  });

  test("Response: bad requests dropped without an answer, requests through a proxy answered along their route; then 500 exchanges", async () => {
    const random = randomFor(2);
    const bad = new BadEnvelopes(random, [testMsg], { maxEnvelopeSize: MAX, oversizedWeight: 1 });
    await using rep = new messaging.Response(transports.tcp(), { types: [testMsg01Schema], maxEnvelopeSize: MAX });
    const serving = (async () => {
      for await (const request of rep) await rep.send(testMsg01Schema, { field1: "served", field2: request.field2 });
    })();
    await using attacker = new connection.Dealer(connectTo(rep));
    const replies = answers(codec);
    const reading = readAll(attacker, (frames) => replies.take(frames));
    const request = (): ValidRequest => ({ kind: "request", bytes: bad.valid(), expect: { received: 1, "reply.testMsg01": 1 } });
    const counters = () => ({ ...flatten({ dropped: rep.stats.dropped }), received: rep.stats.received, ...replies.counts });
    const next = () => {
      const input = responseInput(random, bad, request, 1);
      replies.expectReply(input);
      return input;
    };
    const { kinds, expected } = await attack("Response", INPUTS_PER_SERVER, next, (input) => attacker.send(input.frames), counters);
    record("Response", kinds, expected);

    await using req = new messaging.Request(connectTo(rep), { types: [testMsg01Schema] });
    for (let i = 0; i < VALID_RUN; i++) {
      await req.send(testMsg01Schema, { field1: VALID_MARK, field2: i });
      expect(await req.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "served", field2: i });
    }
    await caughtUp(counters, add({ ...expected }, { received: VALID_RUN }), "Response: the counters after the valid run");
    await attacker.close();
    await reading;
    await rep.close();
    await serving;
  });

  test("Router: bad envelopes dropped behind any routing frames, valid ones received with their route; then 500 in order", async () => {
    const random = randomFor(3);
    const bad = new BadEnvelopes(random, [testMsg], { maxEnvelopeSize: MAX, oversizedWeight: 1 });
    await using router = new messaging.Router(transports.tcp(), { types: [testMsg01Schema], maxEnvelopeSize: MAX });
    const seen = { routeFrames: 0 };
    const validRun: number[] = [];
    const receiving = (async () => {
      for await (const { route, message } of router) {
        if (message.field1 === VALID_MARK) validRun.push(message.field2);
        else seen.routeFrames += route.length;
      }
    })();
    await using attacker = new connection.Dealer(connectTo(router));
    const counters = () => ({ ...flatten({ dropped: router.stats.dropped }), received: router.stats.received, ...seen });
    const { kinds, expected } = await attack("Router", INPUTS_PER_SERVER, () => routerInput(random, bad), (input) => attacker.send(input.frames), counters);
    record("Router", kinds, expected);

    await using dealer = new messaging.Dealer(connectTo(router), { types: [testMsg01Schema] });
    for (let i = 0; i < VALID_RUN; i++) await dealer.send(testMsg01Schema, { field1: VALID_MARK, field2: i });
    await caughtUp(counters, add({ ...expected }, { received: VALID_RUN }), "Router: the counters after the valid run");
    expect(validRun).toEqual(Array.from({ length: VALID_RUN }, (_, i) => i));
    await router.close();
    await receiving;
  });

  test("Reactor on a Subscriber and a Response: drops counted per socket, unhandled and failing messages per reactor; then 500 of each", async () => {
    const random = randomFor(4);
    const samples: Sample[] = [testMsg, { schema: prefix.Msg01Schema, init: (r) => ({ field1: r.text(10) }) }];
    const bad = new BadEnvelopes(random, samples, { maxEnvelopeSize: MAX, oversizedWeight: 1 });
    const types = [testMsg01Schema, prefix.Msg01Schema];
    const sub = new messaging.Subscriber(transports.tcp(), { types, maxEnvelopeSize: MAX });
    const rep = new messaging.Response(transports.tcp(), { types, maxEnvelopeSize: MAX });
    const published: number[] = [];
    const errors: Counts = {};
    const handlers = {
      handleTest(message: testMsg01, ctx: MessageContext) {
        if (message.field1.startsWith("\tthrow")) throw new Error("told to throw");
        if (ctx.socket === sub && message.field1 === VALID_MARK) published.push(message.field2);
        if (ctx.socket === rep) return ctx.reply(testMsg01Schema, { field1: "served", field2: message.field2 });
      },
    };
    const reactor = new Reactor([sub, rep], createDispatch(handlers, { testMsg01: "handleTest" }), {
      onError: (error: DividereError) => add(errors, { [error.code]: 1 }),
    });
    await using pub = new connection.Publisher(connectTo(sub));
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    await using attacker = new connection.Dealer(connectTo(rep));
    const replies = answers(codec);
    const reading = readAll(attacker, (frames) => replies.take(frames));

    // What a message of a known type does there: handled, handled by a handler that throws, or handled by nobody.
    const known = (onResponse: boolean): ValidRequest =>
      random.weighted<() => ValidRequest>([
        [2, () => ({ kind: "handled", bytes: codec.encode(testMsg01Schema, testMsg.init(random)), expect: { handled: 1, ...(onResponse ? { "reply.testMsg01": 1 } : {}) } })],
        [1, () => ({ kind: "handler throws", bytes: codec.encode(testMsg01Schema, { field1: "\tthrow" }), expect: { failed: 1, HANDLER_FAILED: 1 } })],
        [1, () => ({ kind: "no handler", bytes: codec.encode(prefix.Msg01Schema, { field1: random.text(10) }), expect: { unhandled: 1, UNHANDLED: 1 } })],
      ])();
    // The same input on either socket: its drops count on that socket, its decoded messages as received there.
    const forSocket = (socket: "sub" | "rep", input: FuzzInput): FuzzInput => {
      const decoded = (input.expect.handled ?? 0) + (input.expect.failed ?? 0) + (input.expect.unhandled ?? 0);
      const expect = Object.fromEntries(Object.entries(input.expect).map(([key, count]) => [key.startsWith("dropped.") ? `${socket}.${key}` : key, count]));
      return { ...input, kind: `${socket}: ${input.kind}`, expect: { ...expect, [`${socket}.received`]: decoded } };
    };
    const next = (): FuzzInput & { to: "sub" | "rep" } => {
      if (random.chance(0.5)) {
        const { kind, bytes, expect } = known(false);
        const input = random.chance(0.15) ? { kind, frames: [bytes], expect } : subscriberInput(random, bad);
        return { ...forSocket("sub", input), to: "sub" };
      }
      const input = responseInput(random, bad, () => known(true), 4);
      replies.expectReply(input);
      return { ...forSocket("rep", input), to: "rep" };
    };
    const counters = () => ({
      ...flatten({ sub: { dropped: sub.stats.dropped, received: sub.stats.received }, rep: { dropped: rep.stats.dropped, received: rep.stats.received } }),
      ...reactor.stats,
      ...errors,
      ...replies.counts,
    });
    const { kinds, expected } = await attack(
      "Reactor",
      INPUTS_PER_SERVER,
      next,
      (input) => ((input as ReturnType<typeof next>).to === "sub" ? pub.send(input.frames) : attacker.send(input.frames)),
      counters,
    );
    record("Reactor", kinds, expected);

    await using req = new messaging.Request(connectTo(rep), { types });
    for (let i = 0; i < VALID_RUN; i++) await pub.send(codec.encode(testMsg01Schema, { field1: VALID_MARK, field2: i }));
    for (let i = 0; i < VALID_RUN; i++) {
      await req.send(testMsg01Schema, { field1: VALID_MARK, field2: i });
      expect(await req.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "served", field2: i });
    }
    await caughtUp(counters, add({ ...expected }, { handled: 2 * VALID_RUN, "sub.received": VALID_RUN, "rep.received": VALID_RUN }), "Reactor: the counters after the valid run");
    expect(published).toEqual(Array.from({ length: VALID_RUN }, (_, i) => i));
    await attacker.close();
    await reading;
    await reactor.close();
  });
  test("RpcServer: every call answered with its status, bad frames dropped, stray cancels and responses counted; then 500 calls", async () => {
    const random = randomFor(5);
    const bad = new BadEnvelopes(random, rpcSamples, { maxEnvelopeSize: messaging.DEFAULT_MAX_ENVELOPE_SIZE, oversizedWeight: 0.003 });
    const calls = new EchoCalls(random, { slowCalls: true });
    // A server takes frames of 4 MiB (its maxMessageSize), and drops the connection of a peer that
    // sends more; the envelope check (maxEnvelopeSize, 16 MiB) counts oversized input only below ZeroMQ's limit.
    await using server = new RpcServer(transports.tcp(), { maxMessageSize: connection.DEFAULT_MAX_MESSAGE_SIZE }).add(EchoDefinition, fuzzEcho);
    await using attacker = new connection.Dealer(connectTo(server));
    const replies: Counts = {};
    const reading = readAll(attacker, (frames) => add(replies, rpcReply(frames)));
    const next = (): FuzzInput =>
      random.weighted<() => FuzzInput>([
        [8, () => {
          const frame = bad.next();
          return { kind: frame.kind, frames: [frame.bytes], expect: BadEnvelopes.dropped(frame.reason) };
        }],
        [10, () => {
          const call = calls.next();
          // Frames before the envelope are routing frames to a Router: the answer goes back behind them.
          const route = random.chance(0.1) ? [random.bytes(random.between(0, 4))] : [];
          return { kind: call.kind, frames: [...route, call.bytes], expect: serverOutcome(call) };
        }],
      ])();
    const counters = () => ({ ...flatten(withoutMethods(server.stats)), ...replies });
    const { kinds, expected } = await attack("RpcServer", INPUTS_PER_SERVER, next, (input) => attacker.send(input.frames), counters);
    record("RpcServer", kinds, expected);

    const transport = directTransport(server.endpoint);
    await validCalls(new EchoClient(transport));
    await transport.close();
    await caughtUp(counters, add({ ...expected }, { ok: VALID_RUN }), "RpcServer: the counters after the valid run");
    await attacker.close();
    await reading;
  });

  test("RegistryServer: bad requests dropped, odd fields answered or refused, non-requests unhandled; then 500 requests", async () => {
    const random = randomFor(6);
    const bad = new BadEnvelopes(random, registrySamples, { maxEnvelopeSize: messaging.DEFAULT_MAX_ENVELOPE_SIZE, oversizedWeight: 0.003 });
    const requests = new RegistryRequests(random);
    // As for the RpcServer: oversized envelopes are counted only below ZeroMQ's limit.
    const maxMessageSize = connection.DEFAULT_MAX_MESSAGE_SIZE;
    await using registry = new RegistryServer({ endpoint: transports.tcp(), publishEndpoint: transports.tcp(), watchEndpoint: transports.tcp(), onError: () => undefined, maxMessageSize });
    await using attacker = new connection.Dealer(connectTo(registry));
    const replies = answers(new envelope.EnvelopeCodec(registryTypes));
    const reading = readAll(attacker, (frames) => replies.take(frames));
    const next = () => {
      const input = responseInput(random, bad, () => requests.next(), 12);
      replies.expectReply(input);
      return input;
    };
    const counters = () => ({ ...flatten(registry.stats), ...replies.counts });
    const { kinds, expected } = await attack("RegistryServer", INPUTS_PER_SERVER, next, (input) => attacker.send(input.frames), counters);
    record("RegistryServer", kinds, expected);

    await using client = new RegistryClient({ ...registry.clientEndpoints, timeoutMs: 5000 });
    const half = VALID_RUN / 2;
    for (let i = 0; i < half; i++) await client.register({ service: `valid.${i}`, instanceId: "only", endpoint: `tcp://127.0.0.1:${1000 + i}` });
    for (let i = 0; i < half; i++) expect((await client.lookup(`valid.${i}`)).map((instance) => instance.endpoint)).toEqual([`tcp://127.0.0.1:${1000 + i}`]);
    const valid = { handled: VALID_RUN, "answered.RegisterInstance": half, "answered.LookupRequest": half };
    await caughtUp(counters, add({ ...expected }, valid), "RegistryServer: the counters after the valid run");
    await attacker.close();
    await reading;
  });

  test("Broker: bad calls refused or dropped, a confused worker's messages counted; then 500 calls through a real worker", async () => {
    const random = randomFor(7);
    const badFromClients = new BadEnvelopes(random, rpcSamples, { maxEnvelopeSize: MAX, oversizedWeight: 0 });
    const badFromWorkers = new BadEnvelopes(random, rpcSamples, { maxEnvelopeSize: MAX, oversizedWeight: 0 });
    // No heartbeat falls within the run, so a worker is lost only when the generator says so.
    const heartbeatIntervalMs = 600_000;
    await using broker = new Broker({ frontend: transports.tcp(), backend: transports.tcp(), heartbeatIntervalMs, unknownServiceGraceMs: 0, maxQueued: 1_000_000 });
    const worker = new Worker(broker.backendEndpoint, { heartbeatIntervalMs, capacity: 16 }).add(EchoDefinition, fuzzEcho).start();
    await eventually(() => broker.services().some((service) => service.name === ECHO && service.workers === 1), 5000, "the worker announced");
    await using client = new connection.Dealer({ connect: broker.frontendEndpoint });
    await using confused = new connection.Dealer({ connect: broker.backendEndpoint });
    const replies: Counts = {};
    const readingClient = readAll(client, (frames) => add(replies, rpcReply(frames)));
    const brokerCodec = new envelope.EnvelopeCodec(brokerTypes);
    const readingWorker = readAll(confused, (frames) => add(replies, { [`backend.${brokerCodec.decode(frames[frames.length - 1]!).$typeName.replace("dividere.v1.", "")}`]: 1 }));
    const clients = new ClientInputs(random, badFromClients);
    const workers = new WorkerInputs(random, badFromWorkers);
    type Addressed = FuzzInput & { to: connection.Dealer };
    const to = (input: FuzzInput, dealer: connection.Dealer): Addressed => ({ ...input, to: dealer, then: input.then && to(input.then, dealer) });
    const next = () => (random.chance(0.6) ? to(clients.next(), client) : to(workers.next(), confused));
    const pythonQueued = () => broker.services().find((service) => service.name === PYTHON_PATTERN_NAME)?.queued ?? 0;
    const counters = () => ({ ...flatten(withoutMethods(broker.stats)), ...flatten({ worker: withoutMethods(worker.stats) }), "python.queued": pythonQueued(), ...replies });
    const { kinds, expected } = await attack("Broker", INPUTS_PER_SERVER, next, (input) => (input as Addressed).to.send(input.frames), counters);
    record("Broker", kinds, expected);

    const transport = brokerTransport(broker.frontendEndpoint, { defaults: { retries: 0 } });
    await validCalls(new EchoClient(transport));
    await transport.close();
    await caughtUp(counters, add({ ...expected }, { dispatched: VALID_RUN, answered: VALID_RUN, "worker.ok": VALID_RUN }), "Broker: the counters after the valid run");
    await client.close();
    await confused.close();
    await Promise.all([readingClient, readingWorker]);
    await worker.close({ graceMs: 0 });
  });
});

/** Counts an RpcResponse by its status, or as one message of a stream. */
function rpcReply(frames: Buffer[]): Counts {
  const response = rpcCodec.decode(frames[frames.length - 1]!);
  if (response.$typeName !== "dividere.v1.RpcResponse") return { "reply.not a response": 1 };
  return response.more ? { "reply.more": 1 } : { [`reply.${rpcProtocol.StatusCode[response.code]}`]: 1 };
}

/** VALID_RUN calls, 20 at a time, each answered with its own text. */
async function validCalls(echo: EchoClient): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = next++; i < VALID_RUN; i = next++) {
        expect(await echo.say({ text: `${VALID_MARK}${i}` }, { timeoutMs: 10_000 })).toMatchObject({ text: `${VALID_MARK}${i}`, servedBy: "fuzz" });
      }
    }),
  );
}
