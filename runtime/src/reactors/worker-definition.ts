import type { Types } from "../envelope/types.js";
import type { Dispatch } from "./dispatch.js";

/** What a worker thread's setup functions get: the `data` given to the WorkerReactor, and which thread this is. */
export interface WorkerContext<D = unknown> {
  /** The WorkerReactor's `data`, structured-cloned: each thread has its own copy. */
  readonly data: D;
  /** 0 to threads - 1. */
  readonly threadIndex: number;
}

/**
 * The handler module a WorkerReactor runs on each thread; its default export. Each thread
 * imports the module, calls `initThread` (Python's `initThread()`), builds its sockets from the
 * reactor's socket specs with `types`, dispatches with `dispatch()`, and on close calls
 * `finishThread` once its reactor has closed. A thread ends when nothing is left open in it.
 */
export interface WorkerDefinition<D = unknown> {
  /** The message types the thread's sockets speak. */
  readonly types: Types;
  /** The dispatch table(s) of the thread: typically a generated `fooDispatch(handlers)`. */
  dispatch(context: WorkerContext<D>): Dispatch | readonly Dispatch[];
  /** Prepares the thread before its sockets open (open files, sockets of its own, ...). */
  initThread?(context: WorkerContext<D>): void | Promise<void>;
  /** Releases what `initThread` took, after the thread's reactor has closed. */
  finishThread?(context: WorkerContext<D>): void | Promise<void>;
  /** Called between messages at the reactor's idle interval. */
  idle?(context: WorkerContext<D>): void | Promise<void>;
}

/**
 * Declares the handler module of a WorkerReactor; `export default defineWorker({ ... })`.
 *
 * ```ts
 * // jobs-worker.ts
 * export default defineWorker({
 *   types: jobsTypes,
 *   dispatch: () => jobsDispatch({ async handleJob(job, ctx) { await ctx.reply(DoneSchema, work(job)); } }),
 * });
 * ```
 */
export function defineWorker<D = unknown>(definition: WorkerDefinition<D>): WorkerDefinition<D> {
  return definition;
}
