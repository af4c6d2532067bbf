/**
 * How long a graceful `close()` lets the calls in flight finish, in ms, unless its
 * {@link CloseOptions.graceMs} says otherwise.
 */
export const DEFAULT_GRACE_MS = 5000;

/**
 * Options of the `close()` of what answers calls (`RpcServer`, `ServiceHost`, `Broker`,
 * `Worker`): it drains before it closes. Everything else closes at once and takes none.
 */
export interface CloseOptions {
  /**
   * How long the calls in flight get to finish, in ms; default {@link DEFAULT_GRACE_MS}. Those
   * still running then are aborted (their `signal` fires); 0 aborts them at once.
   */
  graceMs?: number;
}
