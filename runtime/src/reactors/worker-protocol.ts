import type { Endpoint } from "../connection/endpoint.js";
import type { ErrorCode } from "../errors.js";
import type { ReactorStats } from "./reactor.js";

/** The messaging sockets a worker thread can build for its reactor. */
export type WorkerSocketKind = "Subscriber" | "Response" | "Router" | "Dealer" | "Pull";

/** One socket each worker thread opens: its kind, where, and its (structured-clonable) options. */
export interface WorkerSocketSpec {
  /** The messaging socket the thread builds. */
  kind: WorkerSocketKind;
  /**
   * Where it binds or connects. With more than one thread only a Pull, Router or Response may
   * bind; the reactor then shares it (see `WorkerReactorOptions.sockets`).
   */
  endpoint: Endpoint;
  /**
   * Socket options other than `types` (e.g. `topics` as type names, high-water marks). A
   * `curve` option of a bound socket shared by several threads secures the reactor's shared
   * socket (its `onRefused` stays in this thread); other sockets' options cross to the threads,
   * so they hold no functions.
   */
  options?: Record<string, unknown>;
}

/** What the parent sends a worker thread when it starts. */
export interface WorkerStart {
  module: string;
  sockets: WorkerSocketSpec[];
  data: unknown;
  threadIndex: number;
  idleIntervalMs: number | undefined;
  concurrency: number | undefined;
  /** Every thread's counters, {@link COUNTERS} a thread, which each thread writes and the parent reads. */
  counters: SharedArrayBuffer;
}

/** The counters of a thread in `WorkerStart.counters`: handled, unhandled, failed. */
export const COUNTERS = 3;

/** Thread `threadIndex`'s counters in `buffer`, as reactor stats whose fields read and write the shared memory. */
export function sharedCounts(buffer: SharedArrayBuffer, threadIndex: number): ReactorStats {
  const cells = new BigInt64Array(buffer, threadIndex * COUNTERS * BigInt64Array.BYTES_PER_ELEMENT, COUNTERS);
  // One writer per cell (its thread); Atomics keep a read in another thread from tearing.
  const cell = (index: number) => ({
    get: () => Number(Atomics.load(cells, index)),
    set: (value: number) => void Atomics.store(cells, index, BigInt(value)),
    enumerable: true,
  });
  return Object.defineProperties({} as ReactorStats, { handled: cell(0), unhandled: cell(1), failed: cell(2) });
}

/** What a worker thread tells its parent. */
export type WorkerReport =
  | { type: "ready" }
  | { type: "error"; code: ErrorCode; message: string }
  | { type: "failed"; message: string };

/** What the parent tells a worker thread. */
export type WorkerCommand = { type: "close" };
