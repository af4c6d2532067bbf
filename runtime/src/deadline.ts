/**
 * Waiting against a deadline (ms since the epoch) and an AbortSignal: what every call, lookup,
 * connect and registration of the runtime does while it waits for another process.
 */

/** The longest delay a Node timer holds: a longer one fires after 1 ms (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fire` once `at` (ms since the epoch) has come, however far away it is: a deadline 25 days
 * or more ahead (an RPC's `timeout_ms` goes up to 2^32 - 1) is waited for in steps. Returns the
 * way to cancel it. The timer does not keep the process alive longer than what waits on it.
 */
export function timerAt(at: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const wait = at - Date.now();
    timer = wait > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fire, Math.max(0, wait));
  };
  arm();
  return () => clearTimeout(timer);
}

/** When a wait must end: a deadline (ms since the epoch), an AbortSignal, both, or neither. */
export interface Limits {
  readonly deadline?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** The errors a wait ends with when its limits end it first. */
export interface LimitErrors {
  /** The deadline passed first. */
  expired(): Error;
  /** The signal aborted first; `reason` is the signal's. */
  cancelled(reason: unknown): Error;
}

/**
 * Settles as `promise` does, unless the deadline passes or the signal aborts first: then it
 * rejects with the matching error of `errors` at once, and `promise` goes on unobserved (a
 * shared lookup, say, that other waits still need). Without limits it is `promise` itself.
 */
export function within<T>(promise: Promise<T>, limits: Limits, errors: LimitErrors): Promise<T> {
  const { deadline, signal } = limits;
  if (deadline === undefined && signal === undefined) return promise;
  if (signal?.aborted) return Promise.reject(errors.cancelled(signal.reason));
  if (deadline !== undefined && deadline <= Date.now()) return Promise.reject(errors.expired());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => finish(() => reject(errors.cancelled(signal!.reason)));
    const cancelTimer = deadline === undefined ? undefined : timerAt(deadline, () => finish(() => reject(errors.expired())));
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      cancelTimer?.();
      signal?.removeEventListener("abort", onAbort);
      settle();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** The earlier of two deadlines; `undefined` is no deadline. */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
