/**
 * The serving and publishing side of the benchmarks, each run as its own process:
 *   node server.js raw-rep | raw-router       echo raw bytes (zeromq.js Reply / Router)
 *   node server.js hand-rep | hand-router     the same, decoding and encoding a Payload with protobuf-es
 *   node server.js direct                     an RpcServer hosting the generated Bench service (its
 *                                             unary echo and its three streams)
 *   node server.js worker BACKEND N           a broker Worker taking N calls at once
 *   node server.js limit-router              answers each request with the frames an RpcServer
 *                                             answers Bench/Echo of 64 B with, without reading it;
 *                                             prints its endpoint and the request's frames (JSON)
 *   node server.js raw-pub | limit-pub | hand-pub | dividere-pub SIZE
 *                                             publishes SIZE-byte payloads as fast as it can while
 *                                             told to (told.ts); limit-pub sends the very frame a
 *                                             generated Publisher sends for such a payload
 * Binds an ephemeral port on 127.0.0.1 (except the worker, which connects) and prints where as
 * its first line; stops on SIGTERM.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { RpcServer, Worker } from "@dividere/runtime";
import * as zmq from "zeromq";
import { BenchDefinition, BenchPublisher, type BenchService } from "./gen/bench_dividere.js";
import { PayloadSchema } from "./gen/bench_pb.js";
import { callFrames, publishedFrames } from "./frames.js";
import { floodWhenTold } from "./told.js";

const ANY = "tcp://127.0.0.1:*";
const bench: BenchService = {
  echo: (payload) => payload,
  async *download({ data, sequence }, ctx) {
    for (let next = sequence; !ctx.signal.aborted; next++) yield { data, sequence: next };
  },
  async upload(payloads) {
    let taken = 0n;
    for await (const _ of payloads) taken++;
    return { sequence: taken };
  },
  chat: (payloads) => payloads,
};
const [role, arg1, arg2] = process.argv.slice(2);
let running = true;
let stop: () => Promise<void> | void = () => {};
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    running = false;
    void stop();
  });
}

/** Binds a zeromq.js socket on an ephemeral port and says where. */
async function bound<S extends zmq.Socket>(socket: S): Promise<S> {
  await socket.bind(ANY);
  console.log(socket.lastEndpoint);
  stop = () => socket.close();
  return socket;
}

const reencode = (bytes: Buffer) => toBinary(PayloadSchema, fromBinary(PayloadSchema, bytes));

try {
  await serve();
} catch (error) {
  // Closing a socket under a pending receive or send ends it with an error: that is the stop.
  if (running) throw error;
}

async function serve(): Promise<void> {
switch (role) {
  case "raw-rep":
  case "hand-rep": {
    const socket = await bound(new zmq.Reply());
    const answer = role === "raw-rep" ? (bytes: Buffer) => bytes : reencode;
    for await (const [request] of socket) await socket.send(answer(request!));
    break;
  }
  case "raw-router":
  case "hand-router": {
    const socket = await bound(new zmq.Router());
    const answer = role === "raw-router" ? (bytes: Buffer) => bytes : reencode;
    for await (const [identity, request] of socket) await socket.send([identity!, answer(request!)]);
    break;
  }
  case "limit-router": {
    const { request, response } = await callFrames(64, bench);
    const socket = new zmq.Router();
    await socket.bind(ANY);
    console.log(JSON.stringify({ endpoint: socket.lastEndpoint, request: request.map((frame) => frame.toString("base64")) }));
    stop = () => socket.close();
    for await (const [identity] of socket) await socket.send([identity!, ...response]);
    break;
  }
  case "direct": {
    const server = new RpcServer({ bind: ANY }).add(BenchDefinition, bench);
    console.log(server.endpoint);
    stop = () => server.close({ graceMs: 0 });
    break;
  }
  case "worker": {
    const worker = new Worker(arg1!, { capacity: Number(arg2), workerId: "bench" }).add(BenchDefinition, bench).start();
    console.log("ready");
    stop = () => worker.close({ graceMs: 0 });
    break;
  }
  case "raw-pub":
  case "limit-pub":
  case "hand-pub":
  case "dividere-pub": {
    const data = new Uint8Array(Number(arg1));
    let sequence = 0n;
    let send: () => Promise<void>;
    if (role === "dividere-pub") {
      const publisher = new BenchPublisher({ bind: ANY });
      console.log(publisher.endpoint);
      await publisher.waitForSubscribers({ timeoutMs: 10_000 });
      send = () => publisher.sendPayload({ data, sequence: sequence++ });
      stop = () => publisher.close();
    } else {
      const frames = role === "limit-pub" ? await publishedFrames(data.length) : [Buffer.from(data)];
      const publisher = await bound(new zmq.Publisher());
      send = role === "hand-pub" ? () => publisher.send(toBinary(PayloadSchema, create(PayloadSchema, { data, sequence: sequence++ }))) : () => publisher.send(frames);
    }
    await floodWhenTold(send);
    break;
  }
  default:
    throw new Error(`unknown role ${role}`);
}
}
