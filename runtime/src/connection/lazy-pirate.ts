import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { Endpoint } from "./endpoint.js";
import type { SocketOptions } from "./options.js";
import { Dealer } from "./routing.js";
import type { Frame } from "./socket.js";

/** Sends after the first, by default: Python dividere's `LoadBalancingPattern.Client` `maxRetries`. */
export const LAZY_PIRATE_RETRIES = 5;
/** How long a try waits for its reply by default, in ms: Python's `retryTimeOutMs`. */
export const LAZY_PIRATE_TIMEOUT_MS = 5000;

/** How long one request waits, and how often it is sent again. */
export interface LazyPirateRequestOptions {
  /** Sends after the first when no reply came in `timeoutMs`; default 5 (Python's `maxRetries`). */
  retries?: number;
  /** How long each try waits for the reply, in ms; default 5000 (Python's `retryTimeOutMs`). */
  timeoutMs?: number;
  /** Gives up with `CANCELLED` when it aborts. */
  signal?: AbortSignal;
}

/** Options of a {@link LazyPirateClient}: the defaults of its requests, and the socket options. */
export interface LazyPirateOptions extends SocketOptions, Omit<LazyPirateRequestOptions, "signal"> {}

/** Counters of a {@link LazyPirateClient}. */
export interface LazyPirateStats {
  /** Requests answered. */
  answered: number;
  /** Sends after a try went unanswered. */
  retries: number;
  /** Requests that got no reply after all their tries. */
  failed: number;
}

/**
 * The ZeroMQ guide's Lazy Pirate client on bytes, in front of a load-balancing broker (ours or
 * Python dividere's): one request at a time, one frame out, one frame back; a try without a
 * reply within `timeoutMs` is sent again, up to `retries` times, then the request fails with
 * `TIMEOUT`. Each retry goes out on a new connection, as the guide's does: a late reply to an
 * abandoned try reaches nobody instead of being taken for the reply of a later request (Python's
 * messaging-level client sends again on the same socket). Requests made at once go out in turn.
 *
 * ```ts
 * await using client = new connection.LazyPirateClient("tcp://localhost:5555", { retries: 3, timeoutMs: 1000 });
 * const reply = await client.request("ping");
 * ```
 */
export class LazyPirateClient {
  readonly #counts: LazyPirateStats = { answered: 0, retries: 0, failed: 0 };
  readonly #frontend: Endpoint;
  readonly #options: LazyPirateOptions;
  #dealer: Dealer | undefined;
  #turn: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** A snapshot of the counters; see {@link LazyPirateStats}. */
  get stats(): LazyPirateStats {
    return { ...this.#counts };
  }

  constructor(frontend: Endpoint, options: LazyPirateOptions = {}) {
    this.#frontend = frontend;
    this.#options = options;
    this.#dealer = this.#connect();
  }

  /** Sends `request` and resolves with the reply's frame, retrying as the options say. */
  request(request: Frame, options: LazyPirateRequestOptions = {}): Promise<Buffer> {
    const turn = this.#turn.then(() => this.#request(request, options));
    this.#turn = turn.catch(() => undefined);
    return turn;
  }

  /** Closes the connection; a request in flight rejects with `CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#dealer?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #request(request: Frame, options: LazyPirateRequestOptions): Promise<Buffer> {
    const retries = options.retries ?? this.#options.retries ?? LAZY_PIRATE_RETRIES;
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs ?? LAZY_PIRATE_TIMEOUT_MS;
    for (let attempt = 0; ; attempt++) {
      const dealer = this.#dealer ?? (this.#dealer = this.#connect());
      await dealer.send(request);
      try {
        const frames = await dealer.recv({ timeoutMs, signal: options.signal });
        this.#counts.answered++;
        return frames[frames.length - 1]!;
      } catch (error) {
        if (!DividereError.is(error, "TIMEOUT")) throw error;
      }
      // A new connection for the next try: what the old one still receives is for a try given up.
      this.#dealer = undefined;
      void dealer.close();
      if (attempt >= retries) {
        this.#counts.failed++;
        throw new DividereError(
          "TIMEOUT",
          `no reply from ${this.#frontend} after ${attempt + 1} tries of ${timeoutMs} ms; ` +
            "check that a server is connected to the broker, or raise retries or timeoutMs for slow ones",
        );
      }
      this.#counts.retries++;
      debug("lazy pirate client: no reply within %d ms; try %d of %d", timeoutMs, attempt + 2, retries + 1);
    }
  }

  #connect(): Dealer {
    if (this.#closed) throw new DividereError("CLOSED", `the lazy pirate client of ${this.#frontend} is closed`);
    return new Dealer(this.#frontend, { ...this.#options, name: this.#options.name ?? `lazy pirate client ${this.#frontend}` });
  }
}
