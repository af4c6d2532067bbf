/**
 * The rows of the ZeroMQ stack itself, side by side: raw zeromq.js bytes, raw zeromq.js sending
 * the very frames dividere sends (the limit for this wire format, frames.ts), the same by hand
 * with protobuf-es (the honest baseline), dividere's generated code, and what users would pick
 * instead (nats.ts, grpc.ts). The serving or publishing side runs as its own process
 * (server.ts); this process is the client or subscriber. Every row's runs take turns with the
 * other rows of its suite (measure.ts's `interleaved`).
 */
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Reactor, brokerTransport, directTransport, type Transport } from "@dividere/runtime";
import * as zmq from "zeromq";
import { BenchClient, BenchSubscriber, benchDispatch } from "./gen/bench_dividere.js";
import { PayloadSchema } from "./gen/bench_pb.js";
import { grpcMeasurers } from "./grpc.js";
import { type Measurer, countedRate, interleaved, latency, receiveRate, throughput, windowed } from "./measure.js";
import { natsPubsubMeasurers, natsRpcMeasurers, startNats } from "./nats.js";
import { type Cleanups, started, stopAll, whileSending } from "./processes.js";
import { LIMIT, type Row, type Suite } from "./rows.js";
import { bidiStreamRate, clientStreamRate, serverStreamRate } from "./streams.js";

const serverProgram = fileURLToPath(new URL("./server.js", import.meta.url));
const cli = fileURLToPath(new URL("../../runtime/bin/dividere.js", import.meta.url));
const PAYLOAD = 64;
const data = new Uint8Array(PAYLOAD);
const frame = Buffer.from(data);
const encoded = () => toBinary(PayloadSchema, create(PayloadSchema, { data }));
const SIZES = [64, 1024, 65536];
const WARMUP_MS = 300;

/** Messages per second a subscriber takes from a publisher sending as fast as it can. */
export const pubsubSuite: Suite = async ({ durationMs, rounds }) => {
  const cleanups: Cleanups = [];
  const row = (name: string, payload: number): Omit<Row, "value" | "runs"> => ({ group: "pub/sub", name, payload, unit: "msgs/s" });
  try {
    const measurers: Measurer[] = [];
    const nats = await startNats(cleanups);
    for (const size of SIZES) {
      for (const [name, role, decode] of [
        ["raw zeromq.js PUB/SUB", "raw-pub", false],
        [LIMIT["pub/sub"], "limit-pub", false],
        ["by hand: zeromq.js + protobuf-es", "hand-pub", true],
      ] as const) {
        const { process, ready } = await started(cleanups, [serverProgram, role, String(size)]);
        const subscriber = new zmq.Subscriber({ receiveHighWaterMark: 1000 });
        cleanups.push(() => subscriber.close());
        subscriber.connect(ready);
        subscriber.subscribe();
        const receive = decode ? async () => fromBinary(PayloadSchema, (await subscriber.receive())[0]!) : () => subscriber.receive();
        measurers.push({ row: row(name, size), measure: () => whileSending(process, () => receiveRate(receive, durationMs, WARMUP_MS)) });
      }
      const { process, ready } = await started(cleanups, [serverProgram, "dividere-pub", String(size)]);
      const subscriber = new BenchSubscriber(ready);
      cleanups.push(() => subscriber.close());
      measurers.push({ row: row("dividere generated Publisher → Subscriber", size), measure: () => whileSending(process, () => receiveRate(() => subscriber.recv(), durationMs, WARMUP_MS)) });
    }
    measurers.push(await reactorMeasurer(cleanups, durationMs));
    measurers.push(...(await natsPubsubMeasurers(nats, SIZES, cleanups, durationMs)));
    return await interleaved(measurers, rounds);
  } finally {
    await stopAll(cleanups);
  }
};

/** Messages per second a Reactor hands to the generated handler. */
async function reactorMeasurer(cleanups: Cleanups, durationMs: number): Promise<Measurer> {
  const { process, ready } = await started(cleanups, [serverProgram, "dividere-pub", String(PAYLOAD)]);
  let handled = 0;
  const reactor = new Reactor([new BenchSubscriber(ready)], benchDispatch({ handlePayload: () => void handled++ }));
  cleanups.push(() => reactor.close());
  return {
    row: { group: "pub/sub", name: "dividere Publisher → Reactor → handler", payload: PAYLOAD, unit: "msgs/s" },
    measure: () => whileSending(process, () => countedRate(() => handled, durationMs, WARMUP_MS)),
  };
}

/**
 * Round trips of sequential calls, calls per second with 64 in flight, and items per second
 * through one stream of each streaming kind (streams.ts), direct and through a broker, beside
 * raw zeromq.js, the limit, nats and grpc-js. Every server runs from the start and the rows are
 * measured in turn, run after run: this machine has slow spells of seconds, and taking each
 * row's runs far apart in time let them fall on one row and not its neighbour.
 */
export const rpcSuite: Suite = async ({ durationMs, rounds }) => {
  const roundTrip = (name: string): Omit<Row, "value" | "runs"> => ({ group: "round trip", name, payload: PAYLOAD, unit: "µs" });
  const inFlight = (name: string): Omit<Row, "value" | "runs"> => ({ group: "64 in flight", name, payload: PAYLOAD, unit: "req/s" });
  const streamed = (name: string, counted: string): Omit<Row, "value" | "runs"> => ({ group: "stream", name, payload: PAYLOAD, unit: "items/s", note: counted });
  const cleanups: Cleanups = [];
  const start = async (args: string[]) => (await started(cleanups, args)).ready;
  const dealerTo = (endpoint: string) => {
    const dealer = new zmq.Dealer();
    cleanups.push(() => dealer.close());
    dealer.connect(endpoint);
    return dealer;
  };
  try {
    const measurers: Measurer[] = [];
    for (const [name, role, byHand] of [
      ["raw zeromq.js REQ/REP", "raw-rep", false],
      ["by hand: zeromq.js + protobuf-es REQ/REP", "hand-rep", true],
    ] as const) {
      const request = new zmq.Request();
      cleanups.push(() => request.close());
      request.connect(await start([serverProgram, role]));
      const call = byHand
        ? async () => {
            await request.send(encoded());
            fromBinary(PayloadSchema, (await request.receive())[0]!);
          }
        : async () => {
            await request.send(frame);
            await request.receive();
          };
      measurers.push({ row: roundTrip(name), measure: async () => (await latency(call)).medianUs });
    }
    for (const [name, role, byHand] of [
      ["raw zeromq.js DEALER/ROUTER", "raw-router", false],
      ["by hand: zeromq.js + protobuf-es DEALER/ROUTER", "hand-router", true],
    ] as const) {
      const dealer = dealerTo(await start([serverProgram, role]));
      const send = byHand ? () => dealer.send(encoded()) : () => dealer.send(frame);
      const receive = byHand ? async () => fromBinary(PayloadSchema, (await dealer.receive())[0]!) : () => dealer.receive();
      measurers.push({ row: inFlight(name), measure: () => windowed(send, receive, 64, durationMs) });
    }
    // The limit: dividere's own request and reply frames, sent and answered by raw zeromq.js.
    const limit = JSON.parse(await start([serverProgram, "limit-router"])) as { endpoint: string; request: string[] };
    const requestFrames = limit.request.map((frame) => Buffer.from(frame, "base64"));
    const [sequential, windowedDealer] = [dealerTo(limit.endpoint), dealerTo(limit.endpoint)];
    measurers.push(
      {
        row: roundTrip(LIMIT["round trip"]),
        measure: async () =>
          (
            await latency(async () => {
              await sequential.send(requestFrames);
              await sequential.receive();
            })
          ).medianUs,
      },
      { row: inFlight(LIMIT["64 in flight"]), measure: () => windowed(() => windowedDealer.send(requestFrames), () => windowedDealer.receive(), 64, durationMs) },
    );
    const generated = (transport: Transport, name: string, route: string) => {
      cleanups.push(() => transport.close());
      const client = new BenchClient(transport);
      const call = () => client.echo({ data }, { timeoutMs: 10_000 });
      measurers.push(
        { row: roundTrip(name), measure: async () => (await latency(call)).medianUs },
        { row: inFlight(`${name}, 64 in flight`), measure: () => throughput(call, 64, durationMs) },
        { row: streamed(`dividere server stream → ${route}`, "items read"), measure: () => serverStreamRate(client, durationMs) },
        { row: streamed(`dividere client stream → ${route}`, "items written"), measure: () => clientStreamRate(client, durationMs) },
        { row: streamed(`dividere bidi stream → ${route}`, "items written and read back"), measure: () => bidiStreamRate(client, durationMs) },
      );
    };
    generated(directTransport(await start([serverProgram, "direct"])), "dividere generated client → server", "server");
    const [, frontend, backend] = /callers at (\S+), workers at (\S+)$/.exec(await start([cli, "broker", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"]))!;
    await start([serverProgram, "worker", backend!, "64"]);
    generated(brokerTransport(frontend!), "dividere generated client → broker → worker", "broker → worker");
    measurers.push(...(await natsRpcMeasurers(await startNats(cleanups), cleanups, durationMs)));
    measurers.push(...(await grpcMeasurers(cleanups, durationMs)));
    return await interleaved(measurers, rounds);
  } finally {
    await stopAll(cleanups);
  }
};
