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
import { callFigures, latency, medianOf, receiveRate, windowed } from "./measure.js";
import { Process } from "./processes.js";
import type { Row, Suite, SuiteOptions } from "./rows.js";

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
      await reactor.stop();
    }
  });
}

/** Round trips of sequential calls, and calls per second with 64 in flight. */
export const rpcSuite: Suite = async ({ runs, durationMs }) => {
  const rows: Row[] = [];
  const roundTrip = (name: string, value: number): Row => ({ group: "round trip", name, payload: PAYLOAD, value, unit: "µs" });
  const inFlight = (name: string, value: number): Row => ({ group: "64 in flight", name, payload: PAYLOAD, value, unit: "req/s" });

  for (const [name, role, byHand] of [
    ["raw zeromq.js REQ/REP", "raw-rep", false],
    ["by hand: zeromq.js + protobuf-es REQ/REP", "hand-rep", true],
  ] as const) {
    const value = await withServer([role], async (endpoint) => {
      const request = new zmq.Request();
      request.connect(endpoint);
      const call = byHand
        ? async () => {
            await request.send(encoded());
            fromBinary(PayloadSchema, (await request.receive())[0]!);
          }
        : async () => {
            await request.send(frame);
            await request.receive();
          };
      try {
        return await medianOf(runs, async () => (await latency(call)).medianUs);
      } finally {
        request.close();
      }
    });
    rows.push(roundTrip(name, value));
  }

  for (const [name, role, byHand] of [
    ["raw zeromq.js DEALER/ROUTER", "raw-router", false],
    ["by hand: zeromq.js + protobuf-es DEALER/ROUTER", "hand-router", true],
  ] as const) {
    const value = await withServer([role], async (endpoint) => {
      const dealer = new zmq.Dealer();
      dealer.connect(endpoint);
      const send = byHand ? () => dealer.send(encoded()) : () => dealer.send(frame);
      const receive = byHand ? async () => fromBinary(PayloadSchema, (await dealer.receive())[0]!) : () => dealer.receive();
      try {
        return await medianOf(runs, () => windowed(send, receive, 64, durationMs));
      } finally {
        dealer.close();
      }
    });
    rows.push(inFlight(name, value));
  }

  const generated = async (transport: Transport, name: string) => {
    const client = new BenchClient(transport);
    const call = () => client.echo({ data }, { timeoutMs: 10_000 });
    try {
      const { roundTripUs, perSecond } = await callFigures(call, runs, durationMs);
      rows.push(roundTrip(name, roundTripUs), inFlight(`${name}, 64 in flight`, perSecond));
    } finally {
      await transport.close();
    }
  };
  await withServer(["direct"], (endpoint) => generated(directTransport(endpoint), "dividere generated client → server"));

  const broker = new Process([cli, "broker", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"]);
  try {
    const [, frontend, backend] = /callers at (\S+), workers at (\S+)$/.exec(await broker.ready)!;
    await withServer(["worker", backend!, "64"], () => generated(brokerTransport(frontend!), "dividere generated client → broker → worker"));
  } finally {
    await broker.stop();
  }
  return rows;
};
