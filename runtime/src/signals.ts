import type { CloseOptions } from "./lifecycle.js";

/** The signals a daemon closes on unless told otherwise: `kill`'s default, and Ctrl-C. */
export const CLOSE_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/** Options of the `closeOnSignals()` methods of `ServiceHost` and `Worker`: the signals, and the `close()` options. */
export interface CloseOnSignalsOptions extends CloseOptions {
  /** The signals that close it; default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
}

/**
 * The signal side of a `closeOnSignals()`: on the first of `signals` it stops listening (so that
 * a second signal does what it does by default, and ends the process at once) and calls `close`;
 * `closed` resolves once the owner says it closed, with the signal, if one asked.
 */
export class SignalClose {
  readonly closed: Promise<NodeJS.Signals | undefined>;
  readonly #signals: readonly NodeJS.Signals[];
  readonly #listener: (signal: NodeJS.Signals) => void;
  #resolve: (signal: NodeJS.Signals | undefined) => void = () => undefined;
  #signal: NodeJS.Signals | undefined;

  constructor(signals: readonly NodeJS.Signals[], close: () => void) {
    this.closed = new Promise((resolve) => (this.#resolve = resolve));
    this.#signals = signals;
    this.#listener = (signal) => {
      this.#signal = signal;
      this.release();
      close();
    };
    for (const signal of signals) process.on(signal, this.#listener);
  }

  /** Stops listening: later signals do what they do by default. */
  release(): void {
    for (const signal of this.#signals) process.off(signal, this.#listener);
  }

  /** The owner closed, asked by a signal or not. */
  finished(): void {
    this.release();
    this.#resolve(this.#signal);
  }
}
