import { DividereError } from "../errors.js";

interface Queued<F> {
  frames: F;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The send side of one socket: sends are handed to ZeroMQ one at a time and in call
 * order, because zeromq.js allows only one pending send per socket. Callers may fire
 * several sends without awaiting each; a send resolves once ZeroMQ has queued it.
 */
export class Sender<F> {
  readonly #push: (frames: F) => Promise<void>;
  readonly #failure: (error: unknown) => unknown;
  readonly #queue: Queued<F>[] = [];
  readonly #idle: (() => void)[] = [];
  #busy = false;
  #sent = 0;
  #closed: DividereError | undefined;

  /**
   * `push` performs one send on the underlying socket; it is never called concurrently.
   * `failure` turns what a failed push threw into the error the caller gets.
   */
  constructor(push: (frames: F) => Promise<void>, failure: (error: unknown) => unknown = (error) => error) {
    this.#push = push;
    this.#failure = failure;
  }

  /** Sends waiting for their turn, plus the one ZeroMQ is working on. */
  get pending(): number {
    return this.#queue.length + (this.#busy ? 1 : 0);
  }

  /** Sends ZeroMQ has taken. */
  get sent(): number {
    return this.#sent;
  }

  send(frames: F): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#busy) return new Promise((resolve, reject) => this.#queue.push({ frames, resolve, reject }));
    // With nothing in flight, hand the frames to ZeroMQ at once.
    this.#busy = true;
    return this.#start(frames);
  }

  #start(frames: F): Promise<void> {
    let pushed: Promise<void>;
    try {
      pushed = this.#push(frames);
    } catch (error) {
      pushed = Promise.reject(error);
    }
    return pushed.then(this.#done, this.#failed);
  }

  readonly #done = (): void => {
    this.#sent++;
    this.#next();
  };

  readonly #failed = (error: unknown): never => {
    this.#next();
    throw this.#failure(error);
  };

  #next(): void {
    const queued = this.#queue.shift();
    if (queued) {
      this.#start(queued.frames).then(queued.resolve, queued.reject);
      return;
    }
    this.#busy = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when every queued send has been handed over, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.#busy) return;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /**
   * Rejects every later send with `error`. Sends already queued still go out in turn (see
   * `drain`); once the socket is closed under them, they fail as the socket's send fails.
   */
  close(error: DividereError): void {
    this.#closed ??= error;
  }
}
