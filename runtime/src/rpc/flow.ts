/**
 * Flow control of streams, by credit the reader grants (as HTTP/2's WINDOW_UPDATE): a writer
 * sends a message only while it holds credit, a reader holds at most its window of unread
 * messages and grants more as they are read. Both sides of a call, both directions.
 */
import { RpcError } from "./status.js";

/**
 * Request items a caller may send before the server grants more: fixed by the protocol, so the
 * first items go out with the request, without waiting a round trip for a grant.
 */
export const INITIAL_REQUEST_WINDOW = 16;

/** Replies a caller takes before it grants more; it says so in the request (`response_window`). */
export const DEFAULT_RESPONSE_WINDOW = 16;

/**
 * What a reader lets one stream hold unread, in bytes of messages: once it has seen their size,
 * its window is as many messages as fit (at least the initial 16, at most
 * {@link MAX_STREAM_WINDOW}). A window of 16 small messages kept a stream waiting for credit
 * every few messages, at a quarter of pub/sub's rate; one of 64 KiB messages holds 1 MiB.
 */
export const STREAM_WINDOW_BYTES = 256 * 1024;

/**
 * The most messages a reader's window counts, however small they are: below ZeroMQ's default
 * high-water mark (1000 messages per peer), so that one stream's window fits in the queue a
 * broker forwards it through, and seldom waits there for room (broker/peer-queues.ts; before
 * the broker waited, a window of 1024 lost items through it, its backend Router dropping what
 * a worker's full queue could not take).
 */
export const MAX_STREAM_WINDOW = 512;

/** The writer's side of a stream: how many messages it may still send. */
export class Credit {
  #items: number;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(items = 0) {
    this.#items = items;
  }

  /** The reader lets the writer send `items` more. */
  grant(items: number): void {
    this.#items += items;
    this.#wake?.();
  }

  /**
   * Resolves true once one message may go, and counts it against the credit; false once the
   * stream ended (its call ended or was given up), and nothing more may go.
   */
  async take(): Promise<boolean> {
    while (this.#items === 0 && !this.#ended) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
    if (this.#ended) return false;
    this.#items--;
    return true;
  }

  /** Nothing more may go: a writer waiting for credit stops waiting. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
}

/**
 * The reader's side of a stream: at most a window of messages that arrived and are not read
 * yet. The window starts at what the writer was first given and grows to as many messages as
 * {@link STREAM_WINDOW_BYTES} holds at their average size (shrinking again if they grow). As
 * messages are read it grants the writer credit up to the window, in batches of at least half
 * of it (as HTTP/2 implementations batch their WINDOW_UPDATEs), so a message of credit goes
 * back for many messages, not each one.
 */
export class Inbox<T> implements AsyncIterable<T> {
  readonly #queue: T[] = [];
  readonly #initial: number;
  readonly #grant: (items: number) => void;
  readonly #strict: boolean;
  /** Credit the writer has had, in messages, from the start. */
  #granted: number;
  #received = 0;
  #read = 0;
  /** The messages' size, a moving average; 0 before the first. */
  #averageBytes = 0;
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  /**
   * `window` is the writer's first credit; `grant` tells the writer it may send `items` more.
   * Not `strict`: a writer may send beyond its credit (a peer from before flow control), and
   * what it sends is kept.
   */
  constructor(window: number, grant: (items: number) => void, { strict = true }: { strict?: boolean } = {}) {
    this.#initial = window;
    this.#granted = window;
    this.#grant = grant;
    this.#strict = strict;
  }

  /** Messages arrived and not read yet. */
  get unread(): number {
    return this.#queue.length;
  }

  /** How many messages the writer may have sent and this side not read: the initial window, then as many as {@link STREAM_WINDOW_BYTES} holds. */
  get window(): number {
    if (this.#averageBytes === 0) return this.#initial;
    return Math.min(MAX_STREAM_WINDOW, Math.max(this.#initial, Math.floor(STREAM_WINDOW_BYTES / this.#averageBytes)));
  }

  /**
   * A message of `bytes` bytes arrived. Throws `RESOURCE_EXHAUSTED` when the writer sent
   * beyond its credit: a peer that ignores flow control must not grow this side's memory.
   */
  push(item: T, bytes: number): void {
    if (this.#ended) return;
    if (this.#strict && this.#received >= this.#granted) {
      throw new RpcError("RESOURCE_EXHAUSTED", `the peer sent more than the ${this.#granted} messages of its credit: it ignores flow control`);
    }
    this.#received++;
    // An average over the last few (1/8 each): a stream whose messages grow gets a smaller window soon.
    const size = Math.max(1, bytes);
    this.#averageBytes = this.#averageBytes === 0 ? size : this.#averageBytes + (size - this.#averageBytes) / 8;
    this.#queue.push(item);
    this.#wake?.();
  }

  /** No more messages: the stream ended, or failed with `error`, which reading throws once the messages before it are read. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#wake?.();
  }

  /** The stream failed (cancelled, say): what is unread is dropped, reading throws `error` now. */
  abort(error: unknown): void {
    this.#queue.length = 0;
    this.#ended = false;
    this.end(error);
  }

  /** Credit up to the window past what was read, once there is at least half a window of it to give. */
  #replenish(): void {
    const window = this.window;
    const room = this.#read + window - this.#granted;
    if (room >= Math.max(1, Math.ceil(window / 2))) {
      this.#granted += room;
      this.#grant(room);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.#queue.length > 0) {
        const item = this.#queue.shift()!;
        this.#read++;
        if (!this.#ended) this.#replenish();
        yield item;
      } else if (this.#ended) {
        if (this.#error !== undefined) throw this.#error;
        return;
      } else {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    }
  }
}
