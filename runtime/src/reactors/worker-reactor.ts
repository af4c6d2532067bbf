import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { resolveEndpoint } from "../connection/endpoint.js";
import type { CurveOptions } from "../connection/curve.js";
import { Proxy } from "../connection/proxy.js";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { ReactorStats } from "./reactor.js";
import { COUNTERS, type WorkerCommand, type WorkerReport, type WorkerSocketSpec, type WorkerStart, sharedCounts } from "./worker-protocol.js";

/** Options of a {@link WorkerReactor}; `D` is the type of `data`. */
export interface WorkerReactorOptions<D = unknown> {
  /** Threads to run; default: one per core (`os.availableParallelism()`). */
  threads?: number;
  /**
   * The sockets every thread opens. A bound Pull, Router or Response is shared: the reactor
   * binds it once and hands its messages to the threads in turn. Connecting sockets are opened
   * by each thread (a connecting Subscriber thus gives every thread every message).
   */
  sockets: readonly WorkerSocketSpec[];
  /** Passed to the handler module's `dispatch` and `initThread` (structured-clonable). */
  data?: D;
  /** The `idle` interval of each thread's reactor. */
  idleIntervalMs?: number;
  /** Messages each thread handles at once per socket. */
  concurrency?: number;
  /** Where the threads' failures go; default: a line on stderr. */
  onError?: (error: DividereError) => void;
}

/** Counters of a WorkerReactor: the sum over its threads, and each thread's own. */
export interface WorkerReactorStats extends ReactorStats {
  /** Each thread's own counters, by thread index. */
  threads: ReactorStats[];
}

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  exited: Promise<void>;
}

const SHARED_KINDS = new Set(["Pull", "Router", "Response"]);

/**
 * A Reactor on several `worker_threads`, to use every core for CPU-heavy handlers: the
 * successor of Python dividere's `MpMsgReactor`. Each thread imports the handler module
 * (compiled JavaScript, `export default defineWorker({...})`), builds its own sockets from the
 * specs, and runs a Reactor.
 *
 * ```ts
 * const workers = new WorkerReactor(new URL("./jobs-worker.js", import.meta.url), {
 *   threads: 2,
 *   sockets: [{ kind: "Pull", endpoint: "tcp://*:5558" }],
 * });
 * await workers.ready;
 * await workers.close();
 * ```
 */
export class WorkerReactor<D = unknown> {
  /** Resolves when every thread has opened its sockets; rejects if one cannot. */
  readonly ready: Promise<void>;
  readonly #threads: Thread[];
  readonly #devices: Proxy[] = [];
  readonly #onError: (error: DividereError) => void;
  /** Each thread's counters, in memory the threads write. */
  readonly #counts: ReactorStats[];
  #closing: Promise<void> | undefined;

  constructor(module: string | URL, options: WorkerReactorOptions<D>) {
    const count = options.threads ?? availableParallelism();
    if (!(Number.isInteger(count) && count >= 1)) {
      throw new DividereError("INVALID_ARGUMENT", `threads must be a whole number of at least 1, got ${count}`);
    }
    this.#onError = options.onError ?? ((error) => console.error(`dividere worker reactor: ${error.message}`));
    let sockets: WorkerSocketSpec[];
    try {
      sockets = count > 1 ? options.sockets.map((spec) => this.#share(spec)) : [...options.sockets];
    } catch (error) {
      for (const device of this.#devices) void device.close();
      throw error;
    }
    const counters = new SharedArrayBuffer(count * COUNTERS * BigInt64Array.BYTES_PER_ELEMENT);
    this.#counts = Array.from({ length: count }, (_, threadIndex) => sharedCounts(counters, threadIndex));
    const href = module instanceof URL ? module.href : module.startsWith("file:") ? module : pathToFileURL(resolve(module)).href;
    this.#threads = Array.from({ length: count }, (_, threadIndex) =>
      this.#spawn({
        module: href,
        sockets,
        data: options.data,
        threadIndex,
        idleIntervalMs: options.idleIntervalMs,
        concurrency: options.concurrency,
        counters,
      }),
    );
    this.ready = Promise.all(this.#threads.map((thread) => thread.ready)).then(() => undefined);
    this.ready.catch(() => undefined);
  }

  /**
   * A snapshot of the counters, summed over the threads and each thread's own, as the threads
   * count them (a handler counts once it has finished); final once `close()` resolved.
   */
  get stats(): WorkerReactorStats {
    const threads = this.#counts.map(({ handled, unhandled, failed }) => ({ handled, unhandled, failed }));
    const sum = (key: keyof ReactorStats) => threads.reduce((total, stats) => total + stats[key], 0);
    return { handled: sum("handled"), unhandled: sum("unhandled"), failed: sum("failed"), threads };
  }

  /**
   * Closes every thread's reactor (each finishes its handlers in flight), then the shared
   * sockets. Later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const { worker } of this.#threads) worker.postMessage({ type: "close" } satisfies WorkerCommand);
      await Promise.all(this.#threads.map((thread) => thread.exited));
      await Promise.all(this.#devices.map((device) => device.close()));
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A spec the threads can all open: a bound Pull, Router or Response gets a device in front. */
  #share(spec: WorkerSocketSpec): WorkerSocketSpec {
    const { bind, connect } = resolveEndpoint(spec.endpoint);
    if (bind.length === 0) return spec;
    if (!SHARED_KINDS.has(spec.kind)) {
      throw new DividereError(
        "INVALID_ARGUMENT",
        `a bound ${spec.kind} cannot be shared by several threads; connect it instead, or bind a Pull, Router or Response`,
      );
    }
    const backend = `inproc://dividere-worker-reactor-${randomUUID()}`;
    // The device's bound socket is the one peers reach, so it is the one CURVE secures; the
    // threads' sockets connect over inproc, where no handshake runs.
    const { curve, ...threadOptions } = spec.options ?? {};
    const device = new Proxy(
      { frontend: { bind }, backend: { bind: backend }, pattern: spec.kind === "Pull" ? "pipeline" : "request-reply" },
      curve ? { curve: curve as CurveOptions } : {},
    );
    device.start();
    this.#devices.push(device);
    debug("worker reactor shares %s %j through %s", spec.kind, bind, backend);
    return { ...spec, endpoint: { connect: [backend, ...connect] }, options: threadOptions };
  }

  #spawn(start: WorkerStart): Thread {
    const worker = new Worker(new URL("./worker-thread.js", import.meta.url), { workerData: start });
    let markReady: () => void;
    let failReady: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    worker.on("message", (report: WorkerReport) => {
      switch (report.type) {
        case "ready":
          markReady();
          break;
        case "error":
          this.#onError(new DividereError(report.code, report.message));
          break;
        case "failed":
          failReady(new DividereError("HANDLER_FAILED", `thread ${start.threadIndex} could not start: ${report.message}`));
          break;
      }
    });
    worker.on("error", (error) => {
      const failure = new DividereError("HANDLER_FAILED", `thread ${start.threadIndex} crashed: ${error.message}`, { cause: error });
      failReady(failure);
      this.#onError(failure);
    });
    const exited = new Promise<void>((resolve) =>
      worker.on("exit", () => {
        failReady(new DividereError("CLOSED", `thread ${start.threadIndex} exited before it was ready`));
        resolve();
      }),
    );
    return { worker, ready, exited };
  }
}
