/**
 * The one way this runtime treats a send that cannot go out yet: ZeroMQ refuses a send whose
 * peer's queue is full (EAGAIN; a mandatory Router's `TIMEOUT`), and tells nobody when there is
 * room again (a socket stays "writable" while one peer's queue is full), so the send is tried
 * again after a short pause, doubling from 1 ms to 8 ms, for as long as it is wanted. Streams
 * rarely meet it: their writers wait for the reader's credit first (rpc/flow.ts). What is left is
 * a queue filled by many calls at once, a peer from before flow control, and a publisher whose
 * subscriber is slow under `whenFull: "block"`.
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";

/** The first pause before a refused send is tried again, in ms. */
const FIRST_PAUSE_MS = 1;
/** The longest pause between two tries, in ms: how late a send may notice room. */
const LONGEST_PAUSE_MS = 8;

/** When a refused send is tried again, and for how long. */
export interface SendAgainOptions {
  /** Whether an error says the queue is full (and not that the peer is gone, or the socket closed). */
  full(error: unknown): boolean;
  /** Until when (`Date.now()` ms) it is tried; none: for as long as `stopped` says no. */
  until?: number;
  /** True once the send is no longer wanted (its call ended, the socket closes). */
  stopped?(): boolean;
}

/**
 * After `send` failed with `error`: while the error is a full queue and the send is wanted,
 * waits and tries again. Resolves once it went; rejects with the last error when it is not a
 * full queue, time is up, or it is no longer wanted.
 */
export async function sendAgainWhenRoom(send: () => Promise<void>, error: unknown, options: SendAgainOptions): Promise<void> {
  const { full, until = Number.POSITIVE_INFINITY, stopped } = options;
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(2 * pause, LONGEST_PAUSE_MS)) {
    const left = until - Date.now();
    if (!full(error) || left <= 0 || stopped?.()) throw error;
    await sleep(Math.min(pause, left));
    try {
      return await send();
    } catch (next) {
      error = next;
    }
  }
}
