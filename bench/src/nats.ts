/**
 * What users would pick instead, part two: NATS (Debian's nats-server, the `nats` npm client),
 * request/reply to a responder process and pub/sub from a publisher process, over loopback TCP,
 * the messages encoded with protobuf-es as everywhere else; measured in turn with the rows of
 * core.ts. Installs nats-server with apt-get if it is not on PATH; when it cannot be had, the
 * rows say why instead of holding a value.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connection } from "@dividere/runtime";
import { connect, type NatsConnection } from "nats";
import { PayloadSchema } from "./gen/bench_pb.js";
import { type Measurer, countedRate, latency, throughput } from "./measure.js";
import { type Cleanups, started, whileSending } from "./processes.js";
import type { Row } from "./rows.js";

const run = promisify(execFile);
const responderProgram = fileURLToPath(new URL("./nats-responder.js", import.meta.url));
const publisherProgram = fileURLToPath(new URL("./nats-publisher.js", import.meta.url));
const PAYLOAD = 64;
const WARMUP_MS = 300;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 160);

/** Whether nats-server runs from PATH. */
async function present(): Promise<boolean> {
  try {
    await run("nats-server", ["--version"], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** nats-server on PATH, installed with apt-get if need be; undefined, or why it cannot be had. */
async function ensureNatsServer(): Promise<string | undefined> {
  if (await present()) return undefined;
  const root = process.getuid?.() === 0;
  const apt = (args: string[]) =>
    root ? run("apt-get", args, { timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }) : run("sudo", ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args], { timeout: 300_000 });
  console.error("nats-server is not on PATH: apt-get install -y nats-server");
  try {
    await apt(["install", "-y", "nats-server"]);
  } catch (first) {
    // Most often the package lists are missing or stale: update them once and try again.
    try {
      await apt(["update"]);
      await apt(["install", "-y", "nats-server"]);
    } catch {
      return `nats-server is not on PATH and apt-get install -y nats-server failed: ${message(first)}`;
    }
  }
  return (await present()) ? undefined : "apt-get installed nats-server, yet it does not run from PATH";
}

/** A nats-server child on 127.0.0.1:port. */
class NatsServer {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #stderr = "";

  constructor(readonly port: number) {
    this.#child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
    this.#child.stderr!.on("data", (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-2000)));
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", (code) => resolve(code));
      this.#child.once("error", () => resolve(-1));
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A connection, once the server accepts them: retried for up to `timeoutMs`. */
  async connect(timeoutMs = 5000): Promise<NatsConnection> {
    const deadline = performance.now() + timeoutMs;
    let exited = false;
    void this.#exited.then(() => (exited = true));
    for (;;) {
      if (exited) throw new Error(`nats-server exited before it took connections: ${this.#stderr.trim().split("\n").at(-1) ?? ""}`);
      try {
        return await connect({ servers: this.address, reconnect: false, timeout: 500 });
      } catch (error) {
        if (performance.now() > deadline) throw new Error(`nats-server on ${this.address} took no connection in ${timeoutMs} ms: ${message(error)}`);
      }
      // Not listening yet: look again shortly (the loop is bounded by the deadline above).
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the server (SIGTERM) and waits for it. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** A nats-server for a suite, or why there is none. */
export type Nats = { server: NatsServer } | { failure: string };

/** Starts nats-server on an ephemeral port of 127.0.0.1, installing it first if need be. */
export async function startNats(cleanups: Cleanups): Promise<Nats> {
  const missing = await ensureNatsServer();
  if (missing !== undefined) return { failure: missing };
  const server = new NatsServer(await connection.PortManager.acquire({ host: "127.0.0.1" }));
  cleanups.push(() => server.stop());
  return { server };
}

/** Rows that could not be measured: each run NaN, the reason in the note. */
function unmeasured(rows: Omit<Row, "value" | "runs">[], failure: string): Measurer[] {
  return rows.map((row) => ({ row: { ...row, note: failure }, measure: async () => NaN }));
}

/** Round trip and calls per second with 64 in flight, request/reply to a responder process. */
export async function natsRpcMeasurers(nats: Nats, cleanups: Cleanups, durationMs: number): Promise<Measurer[]> {
  const roundTrip: Omit<Row, "value" | "runs"> = { group: "round trip", name: "nats request/reply", payload: PAYLOAD, unit: "µs" };
  const inFlight: Omit<Row, "value" | "runs"> = { group: "64 in flight", name: "nats request/reply, 64 in flight", payload: PAYLOAD, unit: "req/s" };
  if ("failure" in nats) return unmeasured([roundTrip, inFlight], nats.failure);
  try {
    const nc = await nats.server.connect();
    cleanups.push(() => nc.close());
    await started(cleanups, [responderProgram, nats.server.address]);
    const data = new Uint8Array(PAYLOAD);
    const call = async () => fromBinary(PayloadSchema, (await nc.request("bench.echo", toBinary(PayloadSchema, create(PayloadSchema, { data })), { timeout: 10_000 })).data);
    return [
      { row: roundTrip, measure: async () => (await latency(call)).medianUs },
      { row: inFlight, measure: () => throughput(call, 64, durationMs) },
    ];
  } catch (error) {
    return unmeasured([roundTrip, inFlight], message(error));
  }
}

/** Messages per second a subscriber here takes and decodes from a publisher process, one subject and publisher per size. */
export async function natsPubsubMeasurers(nats: Nats, sizes: readonly number[], cleanups: Cleanups, durationMs: number): Promise<Measurer[]> {
  const row = (size: number): Omit<Row, "value" | "runs"> => ({ group: "pub/sub", name: "nats pub/sub", payload: size, unit: "msgs/s" });
  if ("failure" in nats) return unmeasured(sizes.map(row), nats.failure);
  const measurers: Measurer[] = [];
  for (const size of sizes) {
    try {
      const nc = await nats.server.connect();
      cleanups.push(() => nc.close());
      let received = 0;
      let failure: string | undefined;
      // A callback subscription handles each message as it is parsed off the socket: no queue
      // builds up here, and a subscriber that falls behind holds the publisher back through TCP.
      nc.subscribe(`bench.feed.${size}`, {
        callback: (error, msg) => {
          if (error) failure ??= message(error);
          else if (fromBinary(PayloadSchema, msg.data).data.byteLength === size) received++;
        },
      });
      await nc.flush();
      const { process } = await started(cleanups, [publisherProgram, nats.server.address, String(size)]);
      measurers.push({
        row: row(size),
        measure: () =>
          whileSending(process, async () => {
            const rate = await countedRate(() => received, durationMs, WARMUP_MS);
            if (nc.isClosed()) failure ??= "the subscriber's connection was closed (slow consumer?)";
            if (failure !== undefined) throw new Error(`nats pub/sub of ${size} B: ${failure}`);
            return rate;
          }),
      });
    } catch (error) {
      measurers.push(...unmeasured([row(size)], message(error)));
    }
  }
  return measurers;
}
