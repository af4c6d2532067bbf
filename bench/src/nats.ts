/**
 * What users would pick instead, part two: NATS (Debian's nats-server, the `nats` npm client),
 * request/reply to a responder process and pub/sub from a publisher process, over loopback TCP,
 * the messages encoded with protobuf-es as everywhere else. Installs nats-server with apt-get if
 * it is not on PATH; when it cannot be had, the rows say why instead of holding a value.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connection } from "@dividere/runtime";
import { connect, type NatsConnection } from "nats";
import { PayloadSchema } from "./gen/bench_pb.js";
import { callFigures, median } from "./measure.js";
import { Process } from "./processes.js";
import type { Row, Suite } from "./rows.js";

const run = promisify(execFile);
const responderProgram = fileURLToPath(new URL("./nats-responder.js", import.meta.url));
const publisherProgram = fileURLToPath(new URL("./nats-publisher.js", import.meta.url));
const PAYLOAD = 64;
const PUBSUB_SIZES = [64, 1024, 65536];
const WARMUP_MS = 300;

interface Measured {
  value: number;
  note?: string;
}

/**
 * The rows this suite gives: request/reply's round trip and rate, then pub/sub's rate per size.
 * A row without a measurement holds NaN, with the failure as its note.
 */
function rows(roundTrip: Measured | undefined, perSecond: Measured | undefined, pubsub: readonly Measured[], failure: string): Row[] {
  const row = (measured: Measured | undefined, fields: Omit<Row, "value" | "note">): Row => {
    const note = measured ? measured.note : failure;
    return { ...fields, value: measured?.value ?? NaN, ...(note === undefined ? {} : { note }) };
  };
  return [
    row(roundTrip, { group: "round trip", name: "nats request/reply", payload: PAYLOAD, unit: "µs" }),
    row(perSecond, { group: "64 in flight", name: "nats request/reply, 64 in flight", payload: PAYLOAD, unit: "req/s" }),
    ...PUBSUB_SIZES.map((size, index) => row(pubsub[index], { group: "pub/sub", name: "nats pub/sub", payload: size, unit: "msgs/s" })),
  ];
}

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

/** Median round trip and calls per second with 64 in flight, request/reply to a responder process. */
async function requestReply(server: NatsServer, nc: NatsConnection, runs: number, durationMs: number): Promise<[Measured, Measured]> {
  const responder = new Process([responderProgram, server.address]);
  try {
    await responder.ready;
    const data = new Uint8Array(PAYLOAD);
    const call = async () => fromBinary(PayloadSchema, (await nc.request("bench.echo", toBinary(PayloadSchema, create(PayloadSchema, { data })), { timeout: 10_000 })).data);
    const { roundTripUs, perSecond } = await callFigures(call, runs, durationMs);
    return [{ value: roundTripUs }, { value: perSecond }];
  } finally {
    await responder.stop();
  }
}

/** Median messages per second a subscriber here takes and decodes from a publisher process. */
async function pubsub(server: NatsServer, size: number, runs: number, durationMs: number): Promise<Measured> {
  const nc = await server.connect();
  let received = 0;
  let failure: string | undefined;
  // A callback subscription handles each message as it is parsed off the socket: no queue
  // builds up here, and a subscriber that falls behind holds the publisher back through TCP.
  nc.subscribe("bench.feed", {
    callback: (error, msg) => {
      if (error) {
        failure ??= message(error);
        return;
      }
      // Messages of an earlier size may still arrive: count only this size's.
      if (fromBinary(PayloadSchema, msg.data).data.byteLength === size) received++;
    },
  });
  await nc.flush();
  const publisher = new Process([publisherProgram, server.address, String(size)]);
  try {
    await publisher.ready;
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
      const [startCount, started] = [received, performance.now()];
      await new Promise((resolve) => setTimeout(resolve, durationMs));
      rates.push(((received - startCount) / (performance.now() - started)) * 1000);
    }
    if (nc.isClosed()) failure ??= "the subscriber's connection was closed (slow consumer?)";
    return failure === undefined ? { value: median(rates) } : { value: median(rates), note: failure };
  } finally {
    await publisher.stop();
    await nc.close();
  }
}

export const natsSuite: Suite = async ({ runs, durationMs }) => {
  const missing = await ensureNatsServer();
  if (missing !== undefined) return rows(undefined, undefined, [], missing);
  let server: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let roundTrip: Measured | undefined;
  let perSecond: Measured | undefined;
  const pubsubs: Measured[] = [];
  let failure = "not measured";
  try {
    server = new NatsServer(await connection.PortManager.acquire({ host: "127.0.0.1" }));
    nc = await server.connect();
    [roundTrip, perSecond] = await requestReply(server, nc, runs, durationMs);
    await nc.close();
    for (const size of PUBSUB_SIZES) pubsubs.push(await pubsub(server, size, runs, durationMs));
  } catch (error) {
    failure = message(error);
  } finally {
    await nc?.close().catch(() => {});
    await server?.stop();
  }
  return rows(roundTrip, perSecond, pubsubs, failure);
};
