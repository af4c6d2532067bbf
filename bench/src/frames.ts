/**
 * The frames dividere puts on the wire, taken off the wire: the limit rows send exactly these
 * with raw zeromq.js, so the gap between a limit row and dividere's row is dividere's own work
 * (encoding, decoding, bookkeeping), not the size or number of its frames.
 */
import { BenchClient, BenchDefinition, BenchPublisher, type BenchService } from "./gen/bench_dividere.js";
import { RpcServer, directTransport } from "@dividere/runtime";
import * as zmq from "zeromq";

const ANY = "tcp://127.0.0.1:*";

/** The frames a generated BenchPublisher sends for one payload of `size` bytes. */
export async function publishedFrames(size: number): Promise<Buffer[]> {
  await using publisher = new BenchPublisher({ bind: ANY });
  const subscriber = new zmq.Subscriber();
  try {
    subscriber.connect(publisher.endpoint);
    subscriber.subscribe();
    await publisher.waitForSubscribers({ timeoutMs: 10_000 });
    await publisher.sendPayload({ data: new Uint8Array(size), sequence: 1n });
    return await subscriber.receive();
  } finally {
    subscriber.close();
  }
}

/** The frames of one generated `Bench/Echo` call of a `size`-byte payload, as the client sends them and as an RpcServer hosting `bench` answers. */
export async function callFrames(size: number, bench: BenchService): Promise<{ request: Buffer[]; response: Buffer[] }> {
  const request = await requestFrames(size);
  await using server = new RpcServer({ bind: ANY }).add(BenchDefinition, bench);
  const dealer = new zmq.Dealer();
  try {
    dealer.connect(server.endpoint);
    await dealer.send(request);
    return { request, response: await dealer.receive() };
  } finally {
    dealer.close();
  }
}

/** What a generated client sends for one Echo call, taken by a raw Router standing in for the server (the call itself is abandoned). */
async function requestFrames(size: number): Promise<Buffer[]> {
  const router = new zmq.Router();
  await router.bind(ANY);
  const transport = directTransport(router.lastEndpoint!);
  const abandoned = new AbortController();
  try {
    const call = new BenchClient(transport).echo({ data: new Uint8Array(size) }, { signal: abandoned.signal }).catch(() => {});
    const [, ...frames] = await router.receive();
    abandoned.abort();
    await call;
    return frames;
  } finally {
    await transport.close();
    router.close();
  }
}
