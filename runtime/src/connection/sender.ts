import { DividereError } from "../errors.js";

/**
 * The send side of one socket: sends are handed to ZeroMQ one at a time and in call
 * order, because zeromq.js allows only one pending send per socket. Callers may fire
 * several sends without awaiting each; a send resolves once ZeroMQ has queued it.
 */
export class Sender<F> {
  readonly #push: (frames: F) => Promise<void>;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed: DividereError | undefined;

  /** `push` performs one send on the underlying socket; it is never called concurrently. */
  constructor(push: (frames: F) => Promise<void>) {
    this.#push = push;
  }

  /** Sends waiting for their turn, plus the one ZeroMQ is working on. */
  get pending(): number {
    return this.#pending;
  }

  send(frames: F): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    const push = () => this.#push(frames);
    // With nothing in flight, hand the frames to ZeroMQ at once; otherwise queue behind the last send.
    const sent = this.#pending === 0 ? invoke(push) : this.#tail.then(push);
    this.#pending++;
    const settled = sent.finally(() => {
      this.#pending--;
    });
    this.#tail = settled.then(
      () => undefined,
      () => undefined,
    );
    return settled;
  }

  /** Resolves when every queued send has been handed over, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#pending === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#tail, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
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

function invoke(push: () => Promise<void>): Promise<void> {
  try {
    return push();
  } catch (error) {
    return Promise.reject(error);
  }
}
