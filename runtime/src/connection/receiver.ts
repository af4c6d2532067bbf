import { DividereError } from "../errors.js";

/** Options of every receive call. */
export interface RecvOptions {
  /** Give up after this many milliseconds with a `TIMEOUT` error. Default: wait for ever. */
  timeoutMs?: number;
  /** Give up when this signal aborts, with a `CANCELLED` error. */
  signal?: AbortSignal;
}

type Item<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** What an `accept` function returns for input that yields no item (dropped, counted by the caller). */
export const SKIP: unique symbol = Symbol("dividere.skip");

/** Turns what a receive pulled into an item, or {@link SKIP}s it; a throw becomes the item's error. */
export type Accept<Raw, T> = (raw: Raw) => T | typeof SKIP;

interface Waiter<T> {
  /** A peek (from `wait`) resolves true without taking the item. */
  peek: boolean;
  resolve(value: T | boolean): void;
  reject(error: unknown): void;
  cleanup(): void;
}

/**
 * The receive side of one socket: any number of callers may `recv()`, `wait()` and
 * iterate at once, while exactly one receive is pending on the underlying socket
 * (zeromq.js allows only one). Items are pulled only when somebody is waiting, so
 * ZeroMQ's high-water marks keep applying; a caller that times out loses nothing:
 * the item it would have had goes to the next caller.
 */
export class Receiver<Raw, T = Raw> {
  readonly #pull: () => Promise<Raw>;
  readonly #eager: boolean;
  #accept: Accept<Raw, T> | undefined;
  readonly #buffer: Item<T>[] = [];
  readonly #waiters: Waiter<T>[] = [];
  #pulling = false;
  #closed: DividereError | undefined;

  /**
   * `pull` performs one receive on the underlying socket; it is never called concurrently.
   * An `eager` receiver keeps one receive pending (and at most one item buffered) even when
   * nobody waits, for sockets that must keep reading to make progress (see `Socket.keepsReceiving`).
   */
  constructor(pull: () => Promise<Raw>, options: { eager?: boolean } = {}) {
    this.#pull = pull;
    this.#eager = options.eager ?? false;
    if (this.#eager) this.#serve();
  }

  /**
   * From now on, every pulled value goes through `accept` before anyone gets it: how a layer
   * above (a messaging socket decoding envelopes) takes over this receive path instead of
   * queueing behind it. Only before anything has been received.
   */
  acceptWith<U>(accept: Accept<Raw, U>): Receiver<Raw, U> {
    if (this.#buffer.length > 0 || this.#waiters.length > 0) throw new Error("Receiver.acceptWith: items were already received");
    const receiver = this as unknown as Receiver<Raw, U>;
    receiver.#accept = accept;
    return receiver;
  }

  /** The next item; rejects with `TIMEOUT`, `CANCELLED` or `CLOSED`. */
  recv(options?: RecvOptions): Promise<T> {
    const first = this.#buffer.length > 0 && this.#waiters.length === 0 ? this.#buffer.shift() : undefined;
    if (first) return first.ok ? Promise.resolve(first.value) : Promise.reject(first.error);
    return this.#enqueue(false, options) as Promise<T>;
  }

  /** Resolves true once an item is ready for `recv()`, false after `timeoutMs` (default: for ever). */
  wait(timeoutMs?: number): Promise<boolean> {
    if (this.#buffer.length > 0) return Promise.resolve(true);
    if (this.#closed) return Promise.reject(this.#closed);
    return this.#enqueue(true, timeoutMs === undefined ? undefined : { timeoutMs }) as Promise<boolean>;
  }

  /** Yields items until the socket is closed. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return untilClosed(this);
  }

  /** Rejects every waiting caller and all later calls with `error`. */
  close(error: DividereError): void {
    if (this.#closed) return;
    this.#closed = error;
    this.#buffer.length = 0;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(error);
    }
  }

  #enqueue(peek: boolean, options: RecvOptions | undefined): Promise<T | boolean> {
    if (this.#closed) return Promise.reject(this.#closed);
    const { timeoutMs, signal } = options ?? {};
    if (signal?.aborted) return Promise.reject(cancelled(signal));
    if (timeoutMs === undefined && signal === undefined) {
      return new Promise<T | boolean>((resolve, reject) => {
        this.#waiters.push({ peek, resolve, reject, cleanup: noCleanup });
        this.#serve();
      });
    }
    return new Promise<T | boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.#remove(waiter);
        reject(cancelled(signal!));
      };
      const waiter: Waiter<T> = {
        peek,
        resolve,
        reject,
        cleanup() {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      if (timeoutMs !== undefined && timeoutMs >= 0 && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.#remove(waiter);
          if (peek) resolve(false);
          else reject(new DividereError("TIMEOUT", `nothing received within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#serve();
    });
  }

  #remove(waiter: Waiter<T>): void {
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
    waiter.cleanup();
  }

  #serve(): void {
    while (this.#buffer.length > 0 && this.#waiters.length > 0) {
      const waiter = this.#waiters.shift()!;
      waiter.cleanup();
      if (waiter.peek) {
        waiter.resolve(true);
        continue;
      }
      const item = this.#buffer.shift()!;
      if (item.ok) waiter.resolve(item.value);
      else waiter.reject(item.error);
    }
    if ((this.#waiters.length > 0 || this.#eager) && this.#buffer.length === 0 && !this.#pulling && !this.#closed) {
      this.#pulling = true;
      this.#pull().then(this.#pulled, this.#failed);
    }
  }

  readonly #pulled = (raw: Raw): void => {
    let value: T | typeof SKIP;
    try {
      value = this.#accept ? this.#accept(raw) : (raw as unknown as T);
    } catch (error) {
      this.#arrived({ ok: false, error });
      return;
    }
    if (value === SKIP) {
      this.#pulling = false;
      if (!this.#closed) this.#serve();
    } else {
      this.#arrived({ ok: true, value });
    }
  };

  readonly #failed = (error: unknown): void => this.#arrived({ ok: false, error });

  #arrived(item: Item<T>): void {
    this.#pulling = false;
    if (this.#closed) return;
    this.#buffer.push(item);
    this.#serve();
  }
}

function noCleanup(): void {}

function cancelled(signal: AbortSignal): DividereError {
  return new DividereError("CANCELLED", "receive cancelled by the caller's AbortSignal", { cause: signal.reason });
}

/** Iterates `source.recv()` until it rejects with `CLOSED`; other errors end the loop by throwing. */
export async function* untilClosed<T>(source: { recv(): Promise<T> }): AsyncGenerator<T, void, undefined> {
  for (;;) {
    let value: T;
    try {
      value = await source.recv();
    } catch (error) {
      if (DividereError.is(error, "CLOSED")) return;
      throw error;
    }
    yield value;
  }
}

/**
 * Hands each item of `source.recv()` to `handle` until it rejects with `CLOSED`; other errors
 * reject. What `for await` does, without an async generator's promises per item: the loop
 * of the runtime's own servers.
 */
export async function eachUntilClosed<T>(source: { recv(): Promise<T> }, handle: (item: T) => void): Promise<void> {
  for (;;) {
    let item: T;
    try {
      item = await source.recv();
    } catch (error) {
      if (DividereError.is(error, "CLOSED")) return;
      throw error;
    }
    handle(item);
  }
}
