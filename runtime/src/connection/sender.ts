import { DividereError } from "../errors.js";
import { sendAgainWhenRoom } from "./send-again.js";

interface Queued<F> {
  frames: F;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Sends in a row a Sender with a {@link Sender.whenFull} policy hands to ZeroMQ before it lets
 * the event loop in: zeromq.js's own count (`max_sync_operations`) for sends that may wait,
 * which it does not apply to a socket with `sendTimeout` 0, whose sends all settle at once.
 */
const SENDS_BETWEEN_YIELDS = 512;

/**
 * What a Sender does with a send ZeroMQ refuses because a queue is full (`EAGAIN`): fail it
 * (ZeroMQ's own behaviour), drop it (resolve it and count it `unsent`), or block (try again
 * until it goes out, or until a time limit makes it fail).
 */
export type FullPolicy = "fail" | "drop" | "block";

/**
 * The send side of one socket: sends are handed to ZeroMQ one at a time and in call
 * order, because zeromq.js allows only one pending send per socket. Callers may fire
 * several sends without awaiting each; a send resolves once ZeroMQ has queued it.
 *
 * The queue is not bounded here: it holds sends whose promises the callers still hold, so a
 * caller that awaits its sends (or bounds its own sends in flight, as the RPC channel does with
 * `maxInFlight`) bounds it. Below it, ZeroMQ's `sendHighWaterMark` bounds what is queued per peer.
 */
export class Sender<F> {
  readonly #push: (frames: F) => Promise<void>;
  readonly #failure: (error: unknown) => unknown;
  readonly #queue: Queued<F>[] = [];
  readonly #idle: (() => void)[] = [];
  #busy = false;
  #sent = 0;
  #unsent = 0;
  #full: FullPolicy = "fail";
  /** How long a blocked send may wait, in ms; -1: for ever. */
  #blockMs = -1;
  /** Sends since the last yield to the event loop; counted only under a {@link FullPolicy} other than "fail". */
  #inARow = 0;
  /** The frames ZeroMQ is working on, kept only to try a blocked send again. */
  #current: F | undefined;
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

  /** Sends ZeroMQ refused because a queue was full, resolved as dropped (policy `"drop"`). */
  get unsent(): number {
    return this.#unsent;
  }

  /**
   * From now on, a send ZeroMQ refuses because a queue is full (`EAGAIN`) is dropped (resolved,
   * and counted in {@link unsent}) or blocks (tried again every few ms until it goes out, see
   * connection/send-again.ts; after
   * `timeoutMs`, if given, it fails as ZeroMQ failed it). For a socket whose native sends never
   * wait (`sendTimeout` 0): such a send settles at once, so zeromq.js never defers one, and this
   * Sender lets the event loop in every 512 sends, or a loop of awaited sends would starve
   * timers and I/O.
   */
  whenFull(policy: FullPolicy, timeoutMs?: number): void {
    this.#full = policy;
    this.#blockMs = timeoutMs !== undefined && timeoutMs >= 0 ? timeoutMs : -1;
  }

  send(frames: F): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#busy) return new Promise((resolve, reject) => this.#queue.push({ frames, resolve, reject }));
    // With nothing in flight, hand the frames to ZeroMQ at once.
    this.#busy = true;
    return this.#start(frames);
  }

  #start(frames: F): Promise<void> {
    if (this.#full !== "fail" && ++this.#inARow >= SENDS_BETWEEN_YIELDS) {
      this.#inARow = 0;
      return new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#hand(frames));
    }
    return this.#hand(frames);
  }

  #hand(frames: F): Promise<void> {
    // Kept for a blocked send to try again; a field, not a closure per send: a publisher sending
    // flat out would otherwise allocate one per message, and V8 grow its young generation for them.
    this.#current = frames;
    return this.#pushed(frames).then(this.#done, this.#failed);
  }

  #pushed(frames: F): Promise<void> {
    try {
      return this.#push(frames);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readonly #done = (): void => {
    this.#sent++;
    this.#next();
  };

  readonly #failed = (error: unknown): void | Promise<void> => {
    // Under a policy, the native send never waits, so EAGAIN means a full queue, never a timeout.
    const full = this.#full !== "fail" && isFull(error);
    if (full && this.#full === "block") {
      const frames = this.#current!;
      const until = this.#blockMs < 0 ? undefined : Date.now() + this.#blockMs;
      return sendAgainWhenRoom(() => this.#pushed(frames), error, { full: isFull, until, stopped: () => this.#closed !== undefined }).then(this.#done, (last: unknown) => {
        this.#next();
        throw this.#failure(last);
      });
    }
    if (full) this.#unsent++;
    this.#next();
    if (!full) throw this.#failure(error);
  };

  #next(): void {
    this.#current = undefined;
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

function isFull(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === "EAGAIN";
}
