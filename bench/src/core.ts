/**
 * The rows of the ZeroMQ stack itself, side by side: raw zeromq.js bytes (the limit), the same by
 * hand with protobuf-es (the honest baseline), and dividere's generated code. The serving or
 * publishing side runs as its own process (server.ts); this process is the client or subscriber.
 */
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Reactor, brokerTransport, directTransport, type Transport } from "@dividere/runtime";
import * as zmq from "zeromq";
import { BenchClient, BenchSubscriber, benchDispatch } from "./gen/bench_dividere.js";
import { PayloadSchema } from "./gen/bench_pb.js";
import { type Measurer, interleaved, latency, medianOf, receiveRate, throughput, windowed } from "./measure.js";
import { Process } from "./processes.js";
import type { Row, Suite, SuiteOptions } from "./rows.js";
import { bidiStreamRate, clientStreamRate, serverStreamRate } from "./streams.js";

const serverProgram = fileURLToPath(new URL("./server.js", import.meta.url));
const cli = fileURLToPath(new URL("../../runtime/bin/dividere.js", import.meta.url));
const PAYLOAD = 64;
const data = new Uint8Array(PAYLOAD);
const frame = Buffer.from(data);
const encoded = () => toBinary(PayloadSchema, create(PayloadSchema, { data }));

/** Runs `use` against a server process started with `args`, given the first line it prints. */
async function withServer<T>(args: string[], use: (ready: string) => Promise<T>): Promise<T> {
  const server = new Process([serverProgram, ...args]);
  try {
    return await use(await server.ready);
  } finally {
    await server.stop();
  }
}

const SIZES = [64, 1024, 65536];

/** Messages per second a subscriber takes from a publisher sending as fast as it can. */
export const pubsubSuite: Suite = async ({ runs, durationMs }) => {
  const rows: Row[] = [];
  const row = (name: string, payload: number, value: number): Row => ({ group: "pub/sub", name, payload, value, unit: "msgs/s" });
  for (const size of SIZES) {
    for (const [name, role, decode] of [
      ["raw zeromq.js PUB/SUB", "raw-pub", false],
      ["by hand: zeromq.js + protobuf-es", "hand-pub", true],
    ] as const) {
      const value = await withServer([role, String(size)], async (endpoint) => {
        const subscriber = new zmq.Subscriber({ receiveHighWaterMark: 1000 });
        subscriber.connect(endpoint);
        subscriber.subscribe();
        const receive = decode ? async () => fromBinary(PayloadSchema, (await subscriber.receive())[0]!) : () => subscriber.receive();
        try {
          return await medianOf(runs, () => receiveRate(receive, durationMs));
        } finally {
          subscriber.close();
        }
      });
      rows.push(row(name, size, value));
    }
    rows.push(
      row(
        "dividere generated Publisher → Subscriber",
        size,
        await withServer(["dividere-pub", String(size)], async (endpoint) => {
          await using subscriber = new BenchSubscriber(endpoint);
          return await medianOf(runs, () => receiveRate(() => subscriber.recv(), durationMs));
        }),
      ),
    );
  }
  rows.push(row("dividere Publisher → Reactor → handler", PAYLOAD, await reactorRate({ runs, durationMs })));
  return rows;
};

/** Messages per second a Reactor hands to the generated handler. */
async function reactorRate({ runs, durationMs }: SuiteOptions): Promise<number> {
  return withServer(["dividere-pub", String(PAYLOAD)], async (endpoint) => {
    let handled = 0;
    const reactor = new Reactor([new BenchSubscriber(endpoint)], benchDispatch({ handlePayload: () => void handled++ }));
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      await wait(300);
      return await medianOf(runs, async () => {
        const [before, started] = [handled, performance.now()];
        await wait(durationMs);
        return ((handled - before) / (performance.now() - started)) * 1000;
      });
    } finally {
      await reactor.close();
    }
  });
}

/**
 * Round trips of sequential calls, calls per second with 64 in flight, and items per second
 * through one stream of each streaming kind (streams.ts), direct and through a broker. Every
 * server runs from the start and the rows are measured in turn, run after run: this machine has
 * slow spells of seconds, and taking each row's runs far apart in time let them fall on one row
 * and not its neighbour.
 */
export const rpcSuite: Suite = async ({ runs, durationMs }) => {
  const roundTrip = (name: string): Omit<Row, "value"> => ({ group: "round trip", name, payload: PAYLOAD, unit: "µs" });
  const inFlight = (name: string): Omit<Row, "value"> => ({ group: "64 in flight", name, payload: PAYLOAD, unit: "req/s" });
  const streamed = (name: string, counted: string): Omit<Row, "value"> => ({ group: "stream", name, payload: PAYLOAD, unit: "items/s", note: counted });
  const cleanups: (() => unknown)[] = [];
  const start = async (args: string[]) => {
    const process = new Process(args);
    cleanups.push(() => process.stop());
    return await process.ready;
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
      const dealer = new zmq.Dealer();
      cleanups.push(() => dealer.close());
      dealer.connect(await start([serverProgram, role]));
      const send = byHand ? () => dealer.send(encoded()) : () => dealer.send(frame);
      const receive = byHand ? async () => fromBinary(PayloadSchema, (await dealer.receive())[0]!) : () => dealer.receive();
      measurers.push({ row: inFlight(name), measure: () => windowed(send, receive, 64, durationMs) });
    }
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
    return await interleaved(measurers, runs);
  } finally {
    // In reverse: each client before its server, the worker before the broker.
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
};
