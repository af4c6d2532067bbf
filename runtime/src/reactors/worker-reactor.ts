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
import type { WorkerCommand, WorkerReport, WorkerSocketSpec, WorkerStart } from "./worker-protocol.js";

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
  /** Each thread's own counters, by thread index (zeros for a thread that ended without reporting). */
  threads: ReactorStats[];
}

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  stopped: Promise<ReactorStats | undefined>;
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
 * await workers.stop();
 * ```
 */
export class WorkerReactor<D = unknown> {
  /** Resolves when every thread has opened its sockets; rejects if one cannot. */
  readonly ready: Promise<void>;
  readonly #threads: Thread[];
  readonly #devices: Proxy[] = [];
  readonly #onError: (error: DividereError) => void;
  #stopping: Promise<WorkerReactorStats> | undefined;

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
      for (const device of this.#devices) void device.stop();
      throw error;
    }
    const href = module instanceof URL ? module.href : module.startsWith("file:") ? module : pathToFileURL(resolve(module)).href;
    this.#threads = Array.from({ length: count }, (_, threadIndex) =>
      this.#spawn({
        module: href,
        sockets,
        data: options.data,
        threadIndex,
        idleIntervalMs: options.idleIntervalMs,
        concurrency: options.concurrency,
      }),
    );
    this.ready = Promise.all(this.#threads.map((thread) => thread.ready)).then(() => undefined);
    this.ready.catch(() => undefined);
  }

  /** Stops every thread's reactor (each finishes its handlers in flight), then the shared sockets. */
  stop(): Promise<WorkerReactorStats> {
    this.#stopping ??= (async () => {
      for (const { worker } of this.#threads) worker.postMessage({ type: "stop" } satisfies WorkerCommand);
      const perThread = await Promise.all(this.#threads.map((thread) => thread.stopped));
      await Promise.all(this.#devices.map((device) => device.stop()));
      const threads = perThread.map((stats) => stats ?? { handled: 0, unhandled: 0, failed: 0 });
      const sum = (key: keyof ReactorStats) => threads.reduce((total, stats) => total + stats[key], 0);
      return { handled: sum("handled"), unhandled: sum("unhandled"), failed: sum("failed"), threads };
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
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
    let stats: ReactorStats | undefined;
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
        case "stopped":
          stats = report.stats;
          break;
      }
    });
    worker.on("error", (error) => {
      const failure = new DividereError("HANDLER_FAILED", `thread ${start.threadIndex} crashed: ${error.message}`, { cause: error });
      failReady(failure);
      this.#onError(failure);
    });
    const stopped = new Promise<ReactorStats | undefined>((resolve) =>
      worker.on("exit", () => {
        failReady(new DividereError("CLOSED", `thread ${start.threadIndex} exited before it was ready`));
        resolve(stats);
      }),
    );
    return { worker, ready, stopped };
  }
}
