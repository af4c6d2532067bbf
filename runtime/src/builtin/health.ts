import { DividereError } from "../errors.js";

/**
 * The health of a service as `grpc.health.v1` reports it: `SERVICE_UNKNOWN` for a name the
 * server does not know (its Check then fails with `NOT_FOUND`; its Watch reports it and goes on).
 */
export type ServingStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/** The name that stands for the server as a whole. */
export const WHOLE_SERVER = "";

/**
 * The health statuses a server reports through its `grpc.health.v1.Health` service, by service
 * full name (`""`: the server as a whole). A server starts `SERVING` as a whole, and each
 * service it hosts is `SERVING` once hosted; the application changes them with {@link set}.
 * A graceful close turns every one `NOT_SERVING` for good before the server stops answering
 * ({@link shutdown}), so that probes and load balancers turn away first.
 *
 * ```ts
 * server.health.set("chat.v1.History", "NOT_SERVING"); // its database is down, say
 * server.health.set("chat.v1.History", "SERVING");
 * ```
 */
export class Health {
  readonly #statuses = new Map<string, Exclude<ServingStatus, "SERVICE_UNKNOWN">>([[WHOLE_SERVER, "SERVING"]]);
  /** Wakes every watcher when a status changes; each looks whether its own did. */
  readonly #watchers = new Set<() => void>();
  #shutDown = false;

  /**
   * Sets the status of `service` (its full name, or `""` for the server as a whole); watchers
   * see the change. Ignored once the server is closing ({@link shutdown}): it stays `NOT_SERVING`.
   */
  set(service: string, status: "SERVING" | "NOT_SERVING"): void {
    if (status !== "SERVING" && status !== "NOT_SERVING") {
      throw new DividereError("INVALID_ARGUMENT", `a health status is "SERVING" or "NOT_SERVING", not ${JSON.stringify(status)}`);
    }
    if (this.#shutDown || this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    this.#changed();
  }

  /** The status of `service` now; `SERVICE_UNKNOWN` for a name never set. */
  check(service: string): ServingStatus {
    return this.#statuses.get(service) ?? "SERVICE_UNKNOWN";
  }

  /** Every status known, `""` (the server as a whole) included. */
  list(): Map<string, ServingStatus> {
    return new Map(this.#statuses);
  }

  /**
   * The status of `service` now, then each change, until `signal` aborts; after a
   * {@link shutdown} it ends with `NOT_SERVING`, since nothing can change any more.
   */
  async *watch(service: string, signal?: AbortSignal): AsyncGenerator<ServingStatus, void, undefined> {
    let last: ServingStatus | undefined;
    let wake: { changed: Promise<void>; stop: () => void } | undefined;
    try {
      while (!signal?.aborted) {
        // Listening before looking: a change while the caller holds a yielded status is not missed.
        wake = this.#nextChange(signal);
        const now = this.check(service);
        if (now !== last) yield (last = now);
        if (this.#shutDown) return;
        await wake.changed;
      }
    } finally {
      wake?.stop();
    }
  }

  /**
   * Turns every status `NOT_SERVING` for good: later {@link set}s are ignored, and watches end
   * after saying so. A server's graceful close does this first; call it before a close that is
   * delayed on purpose (a grace period for load balancers to notice).
   */
  shutdown(): void {
    if (this.#shutDown) return;
    for (const service of this.#statuses.keys()) this.#statuses.set(service, "NOT_SERVING");
    this.#shutDown = true;
    this.#changed();
  }

  /** Whether {@link shutdown} was called. */
  get isShutDown(): boolean {
    return this.#shutDown;
  }

  #changed(): void {
    for (const wake of [...this.#watchers]) wake();
  }

  /** A promise of the next change (or of `signal` aborting), and how to stop waiting for it. */
  #nextChange(signal: AbortSignal | undefined): { changed: Promise<void>; stop: () => void } {
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    const stop = () => {
      this.#watchers.delete(wake);
      signal?.removeEventListener("abort", stop);
      wake();
    };
    this.#watchers.add(stop);
    signal?.addEventListener("abort", stop, { once: true });
    return { changed, stop };
  }
}
