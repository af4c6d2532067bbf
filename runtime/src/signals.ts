/** The signals a daemon stops on unless told otherwise: `kill`'s default, and Ctrl-C. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/** Options of the `stopOnSignals()` methods of `ServiceHost` and `Worker`. */
export interface StopOnSignalsOptions {
  /** The signals that stop it; default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /** How long calls in flight get to finish, in ms, as `stop(graceMs)`'s; default 5000. */
  graceMs?: number;
}

/**
 * The signal side of a `stopOnSignals()`: on the first of `signals` it stops listening (so that
 * a second signal does what it does by default, and ends the process at once) and calls `stop`;
 * `stopped` resolves once the owner says it stopped, with the signal, if one asked.
 */
export class SignalStop {
  readonly stopped: Promise<NodeJS.Signals | undefined>;
  readonly #signals: readonly NodeJS.Signals[];
  readonly #listener: (signal: NodeJS.Signals) => void;
  #resolve: (signal: NodeJS.Signals | undefined) => void = () => undefined;
  #signal: NodeJS.Signals | undefined;

  constructor(signals: readonly NodeJS.Signals[], stop: () => void) {
    this.stopped = new Promise((resolve) => (this.#resolve = resolve));
    this.#signals = signals;
    this.#listener = (signal) => {
      this.#signal = signal;
      this.release();
      stop();
    };
    for (const signal of signals) process.on(signal, this.#listener);
  }

  /** Stops listening: later signals do what they do by default. */
  release(): void {
    for (const signal of this.#signals) process.off(signal, this.#listener);
  }

  /** The owner stopped, asked by a signal or not. */
  finished(): void {
    this.release();
    this.#resolve(this.#signal);
  }
}
