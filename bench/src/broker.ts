/**
 * Round trip and throughput of generated service calls through the broker, beside the same
 * calls made directly (a Dealer to the server's Router), measured in the same run. Client,
 * broker and server are three processes, over loopback TCP.
 */
import { fileURLToPath } from "node:url";
import { brokerTransport, connection, directTransport, type Transport } from "@dividere/runtime";
import { BenchClient } from "./gen/bench_dividere.js";
import { latency, median, throughput } from "./measure.js";
import { Process } from "./processes.js";

const server = fileURLToPath(new URL("./server.js", import.meta.url));
const cli = fileURLToPath(new URL("../../runtime/bin/dividere.js", import.meta.url));
const port = () => connection.PortManager.acquire({ host: "127.0.0.1" });

export interface Row {
  name: string;
  /** Median round trip of sequential calls, µs. */
  roundTripUs: number;
  /** Calls per second with 64 in flight. */
  perSecond: number;
}

async function measure(name: string, transport: Transport, runs: number): Promise<Row> {
  const client = new BenchClient(transport);
  const payload = { data: new Uint8Array(64) };
  const call = () => client.echo(payload, { timeoutMs: 10_000 });
  const roundTrips: number[] = [];
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    roundTrips.push((await latency(call)).medianUs);
    rates.push(await throughput(call, 64));
  }
  return { name, roundTripUs: median(roundTrips), perSecond: median(rates) };
}

export async function brokerBenchmark(runs = 3): Promise<Row[]> {
  const directAt = `tcp://127.0.0.1:${await port()}`;
  const [frontend, backend] = [`tcp://127.0.0.1:${await port()}`, `tcp://127.0.0.1:${await port()}`];
  const processes = [
    new Process([server, "direct", directAt]),
    new Process([cli, "broker", "--frontend", frontend, "--backend", backend]),
    new Process([server, "worker", backend, "64"]),
  ];
  try {
    await Promise.all(processes.map((child) => child.ready));
    const direct = directTransport(directAt);
    const brokered = brokerTransport(frontend);
    try {
      return [await measure("generated client → server (Dealer/Router)", direct, runs), await measure("generated client → broker → worker", brokered, runs)];
    } finally {
      await Promise.all([direct.close(), brokered.close()]);
    }
  } finally {
    await Promise.all(processes.map((child) => child.stop()));
  }
}
