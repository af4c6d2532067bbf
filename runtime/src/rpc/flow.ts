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
 * The reader's side of a stream: at most `window` messages that arrived and are not read yet.
 * As they are read it grants the writer credit for as many, in batches of half the window (as
 * HTTP/2 implementations batch their WINDOW_UPDATEs), so a message of credit goes back for every
 * few messages, not each one.
 */
export class Inbox<T> implements AsyncIterable<T> {
  readonly #queue: T[] = [];
  readonly #window: number;
  readonly #grant: (items: number) => void;
  readonly #batch: number;
  readonly #strict: boolean;
  #read = 0;
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  /**
   * `grant` tells the writer it may send `items` more. Not `strict`: a writer may send beyond
   * its credit (a peer from before flow control), and what it sends is kept.
   */
  constructor(window: number, grant: (items: number) => void, { strict = true }: { strict?: boolean } = {}) {
    this.#window = window;
    this.#grant = grant;
    this.#strict = strict;
    this.#batch = Math.max(1, Math.ceil(window / 2));
  }

  /** Messages arrived and not read yet. */
  get unread(): number {
    return this.#queue.length;
  }

  /**
   * A message arrived. Throws `RESOURCE_EXHAUSTED` when the writer sent beyond its credit (the
   * window is full): a peer that ignores flow control must not grow this side's memory.
   */
  push(item: T): void {
    if (this.#ended) return;
    if (this.#strict && this.#queue.length >= this.#window) {
      throw new RpcError("RESOURCE_EXHAUSTED", `the peer sent more than the ${this.#window} messages of its credit: it ignores flow control`);
    }
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

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.#queue.length > 0) {
        const item = this.#queue.shift()!;
        if (!this.#ended && ++this.#read >= this.#batch) {
          this.#grant(this.#read);
          this.#read = 0;
        }
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
