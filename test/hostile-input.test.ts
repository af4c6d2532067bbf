// The fuzz suite: every server the runtime has takes tens of thousands of bad inputs from a fixed
// seed (FUZZ_SEED, FUZZ_INPUTS per server; `npm run fuzz` runs a longer one), stays up, accounts
// for every input in a counter or an answer, and then serves a run of valid messages in full.
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, describe, expect, test } from "vitest";
import {
  Broker,
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
  type Transport,
} from "@dividere/runtime";
import { LookupRequestSchema, RegisterInstanceSchema, UnregisterInstanceSchema } from "../runtime/src/gen/dividere/v1/registry_pb.js";
import { ServiceLookupReqSchema } from "../runtime/src/gen/dividere/MsgLib_pb.js";
import { registryTypes } from "../runtime/src/registry/server.js";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { EchoRequestSchema } from "./fixtures/gen/test/services/v1/echo_pb.js";
import { type testMsg01, testDtMsg14Schema, testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { type BadInput, INPUTS_PER_SERVER, type Kind, SEED, badInputs, tally } from "./hostile/inputs.js";
import { eventually } from "./helpers.js";

const MAX = 4096;
const VALID_AFTER = 500;
const BATCH = 200;
const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const types = [testMsg01Schema, testDtMsg14Schema];
const codec = new envelope.EnvelopeCodec(types);
const rpcCodec = new envelope.EnvelopeCodec([rpcProtocol.RpcRequestSchema, rpcProtocol.RpcResponseSchema]);
const totals: string[] = [];
let allInputs = 0;

afterAll(() => console.log(`fuzz, seed ${SEED}: ${allInputs.toLocaleString("en")} bad inputs in all\n${totals.join("\n")}`));

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/**
 * Sends INPUTS_PER_SERVER bad inputs through `send`, in batches: after each, waits until
 * `accounted()` (the server's counters, plus answers) has caught up with what was sent, so
 * that every input is seen to land in exactly one place, and no queue overflows unseen.
 */
async function attack(server: string, next: () => BadInput, send: (input: BadInput) => Promise<void>, accounted: () => number): Promise<void> {
  const kinds: Kind[] = [];
  const started = performance.now();
  for (let sent = 0; sent < INPUTS_PER_SERVER; ) {
    const batch = Math.min(BATCH, INPUTS_PER_SERVER - sent);
    for (let i = 0; i < batch; i++) {
      const input = next();
      kinds.push(input.kind);
      await send(input);
    }
    sent += batch;
    await eventually(() => accounted() >= sent, 10_000, `${server}: ${sent} inputs accounted for (have ${accounted()})`);
    expect(accounted(), `${server}: more outcomes than inputs`).toBe(sent);
  }
  allInputs += kinds.length;
  totals.push(`  ${server}: ${kinds.length.toLocaleString("en")} in ${(performance.now() - started).toFixed(0)} ms (${tally(kinds)})`);
}

/** A Dealer that attacks a request/reply server and counts the answers it gets back. */
function attacker(endpoint: string): { dealer: connection.Dealer; answers: () => number; close: () => Promise<void> } {
  const dealer = new connection.Dealer(endpoint);
  let answers = 0;
  const draining = (async () => {
    for await (const _ of dealer) answers++;
  })();
  return {
    dealer,
    answers: () => answers,
    close: async () => {
      await dealer.close();
      await draining;
    },
  };
}

describe(`fuzz (seed ${SEED}, ${INPUTS_PER_SERVER} inputs per server)`, () => {
  const valid = [codec.encode(testMsg01Schema, { field1: "valid", field2: 7 }), codec.encode(testDtMsg14Schema, { field1: "valid" })];

  test("Subscriber", async () => {
    await using sub = new messaging.Subscriber(loopback(), { types, maxEnvelopeSize: MAX });
    await using pub = new connection.Publisher({ connect: sub.endpoint }, { whenFull: "block" });
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    const markers: number[] = [];
    const reading = (async () => {
      for await (const message of sub) if (message.$typeName === "testMsg01" && message.field1 === "marker") markers.push(message.field2);
    })();
    await attack("Subscriber", badInputs(SEED, valid, MAX), (input) => pub.send(input.frames), () => sub.stats.received + sum(sub.stats.dropped));
    for (let i = 0; i < VALID_AFTER; i++) await pub.send(codec.encode(testMsg01Schema, { field1: "marker", field2: i }));
    await eventually(() => markers.length === VALID_AFTER, 10_000, "every valid message after the attack");
    expect(markers).toEqual(Array.from({ length: VALID_AFTER }, (_, i) => i));
    await sub.close();
    await reading;
  });

  test("Response", async () => {
    await using rep = new messaging.Response(loopback(), { types, maxEnvelopeSize: MAX });
    const serving = (async () => {
      for await (const request of rep) await rep.send(testMsg01Schema, { field1: "served", field2: "field2" in request ? request.field2 : 0 });
    })();
    const bad = attacker(rep.endpoint);
    // A REQ peer's framing: an empty delimiter, then the body.
    await attack("Response", badInputs(SEED + 1, valid, MAX), (input) => bad.dealer.send(["", ...input.frames]), () => bad.answers() + sum(rep.stats.dropped));
    await using req = new messaging.Request(rep.endpoint, { types });
    for (let i = 0; i < VALID_AFTER; i++) {
      await req.send(testMsg01Schema, { field1: "please", field2: i });
      expect(await req.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "served", field2: i });
    }
    await bad.close();
    await rep.close();
    await serving;
  });

  test("Router", async () => {
    await using router = new messaging.Router(loopback(), { types, maxEnvelopeSize: MAX });
    const markers: number[] = [];
    let received = 0;
    const reading = (async () => {
      for await (const { message } of router) {
        received++;
        if (message.$typeName === "testMsg01" && message.field1 === "marker") markers.push(message.field2);
      }
    })();
    const bad = attacker(router.endpoint);
    await attack("Router", badInputs(SEED + 2, valid, MAX), (input) => bad.dealer.send(input.frames), () => received + sum(router.stats.dropped));
    for (let i = 0; i < VALID_AFTER; i++) await bad.dealer.send(codec.encode(testMsg01Schema, { field1: "marker", field2: i }));
    await eventually(() => markers.length === VALID_AFTER, 10_000, "every valid message after the attack");
    expect(markers).toEqual(Array.from({ length: VALID_AFTER }, (_, i) => i));
    await bad.close();
    await router.close();
    await reading;
  });

  test("Reactor", async () => {
    const router = new messaging.Router(loopback(), { types, maxEnvelopeSize: MAX });
    const markers: number[] = [];
    // testDtMsg14 has no handler: it counts as unhandled.
    const reactor = new Reactor(router, createDispatch(
        { handleTestMsg01: (message: testMsg01) => void (message.field1 === "marker" && markers.push(message.field2)) },
        { [testMsg01Schema.typeName]: "handleTestMsg01" },
      ), {
      onError: () => undefined,
    });
    const bad = attacker(router.endpoint);
    const outcomes = () => reactor.stats.handled + reactor.stats.unhandled + reactor.stats.failed + sum(router.stats.dropped);
    await attack("Reactor", badInputs(SEED + 3, valid, MAX), (input) => bad.dealer.send(input.frames), outcomes);
    for (let i = 0; i < VALID_AFTER; i++) await bad.dealer.send(codec.encode(testMsg01Schema, { field1: "marker", field2: i }));
    await eventually(() => markers.length === VALID_AFTER, 10_000, "every valid message after the attack");
    expect(markers).toEqual(Array.from({ length: VALID_AFTER }, (_, i) => i));
    expect(reactor.stats.failed).toBe(0);
    await bad.close();
    await reactor.stop();
  });

  /** RpcRequest envelopes that are cleverly wrong: unknown methods, absurd deadlines and ids, payloads that do not parse. */
  function rpcRequests(): Uint8Array[] {
    const echo = toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "fuzz" }));
    const request = (id: bigint, method: string, timeoutMs: number, payload: Uint8Array) =>
      rpcCodec.encode(rpcProtocol.RpcRequestSchema, { id, method, timeoutMs, payload });
    return [
      request(1n, "/test.services.v1.Echo/Say", 0, echo),
      request(2n, "/no.such.Service/Say", 1000, echo),
      request(3n, "/test.services.v1.Echo/NoSuchMethod", 1000, echo),
      request(4n, "not a path", 0, echo),
      request(0n, "/test.services.v1.Echo/Say", 0xffffffff, echo),
      request(2n ** 64n - 1n, "/test.services.v1.Echo/Say", 1, echo),
      request(5n, "/test.services.v1.Echo/Say", 1000, Uint8Array.from([0x0a, 0xff, 0xff])),
      request(6n, "", 0, new Uint8Array(0)),
    ];
  }

  // Handlers that answer at once, whatever the fuzzer put in the request (a huge delay or count included).
  const quickEcho = { say: (request: { text: string }) => ({ text: request.text, servedBy: "fuzz" }), async *count() {}, unfinished: () => ({}) };

  test("RPC server", async () => {
    const server = new RpcServer(loopback()).add(EchoDefinition, quickEcho);
    const bad = attacker(server.endpoint);
    await attack("RPC server", badInputs(SEED + 4, rpcRequests()), (input) => bad.dealer.send(input.frames), () => {
      // A call whose deadline passed before it ran is not answered: its caller gave up.
      return bad.answers() + server.stats.cancelled + sum(server.stats.dropped);
    });
    await bad.close();
    await validCalls(directTransport(server.endpoint));
    await server.close(0);
  });

  test("registry", async () => {
    const registry = new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), onError: () => undefined });
    const registryCodec = new envelope.EnvelopeCodec(registryTypes);
    const requests = [
      registryCodec.encode(RegisterInstanceSchema, { instance: { service: "fuzz.Svc", instanceId: "i", endpoint: "tcp://127.0.0.1:1", ttlMs: 1000 } }),
      registryCodec.encode(UnregisterInstanceSchema, { service: "fuzz.Svc", instanceId: "i" }),
      registryCodec.encode(LookupRequestSchema, { service: "fuzz.Svc" }),
      registryCodec.encode(ServiceLookupReqSchema, { serviceName: "fuzz.Svc" }),
    ];
    const bad = attacker(registry.endpoint);
    await attack("registry", badInputs(SEED + 5, requests), (input) => bad.dealer.send(["", ...input.frames]), () => bad.answers() + sum(registry.stats.dropped));
    await bad.close();
    const client = new RegistryClient({ endpoint: registry.endpoint, publishEndpoint: registry.publishEndpoint, timeoutMs: 2000 });
    for (let i = 0; i < VALID_AFTER / 5; i++) {
      await client.register({ service: "after.Fuzz", instanceId: `i${i}`, endpoint: `tcp://127.0.0.1:${1000 + i}`, ttlMs: 0 });
    }
    expect((await client.lookup("after.Fuzz")).map((instance) => instance.instanceId)).toEqual(Array.from({ length: VALID_AFTER / 5 }, (_, i) => `i${i}`));
    await client.close();
    await registry.close();
  });

  test("broker", async () => {
    const broker = new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 500 });
    const worker = new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 500 }).add(EchoDefinition, quickEcho).start();
    const bad = attacker(broker.frontendEndpoint);
    await attack("broker (callers' side)", badInputs(SEED + 6, rpcRequests()), (input) => bad.dealer.send(input.frames), () => bad.answers() + sum(broker.stats.dropped));
    await bad.close();
    // The workers' side: nothing there answers bad input, so every input must be counted.
    const badWorker = attacker(broker.backendEndpoint);
    const before = sum(broker.stats.dropped);
    await attack("broker (workers' side)", badInputs(SEED + 7, valid), (input) => badWorker.dealer.send(input.frames), () => sum(broker.stats.dropped) - before + badWorker.answers());
    await badWorker.close();
    await validCalls(brokerTransport(broker.frontendEndpoint));
    await worker.stop();
    await broker.close();
  });
});

/** VALID_AFTER calls through `transport`, every one answered with its own text. */
async function validCalls(transport: Transport): Promise<void> {
  const client = new EchoClient(transport);
  for (let i = 0; i < VALID_AFTER; i++) expect(await client.say({ text: `call ${i}` }, { timeoutMs: 5000 })).toMatchObject({ text: `call ${i}` });
  await transport.close();
}
