/**
 * What a broker sends through one of its Routers, per peer: in order, and waiting for room.
 *
 * A Router's queue to one peer holds `sendHighWaterMark` messages; past it ZeroMQ drops what a
 * plain Router is given, without a word, and refuses it from a mandatory one (`TIMEOUT`), where
 * it can be tried again. Trying again is not enough: the socket's sends are handed to ZeroMQ in
 * turn, so a frame sent after a refused one could get in before it once there is room, and a
 * stream would have a hole. So each peer has its own line: one of its messages at a time goes
 * to the socket, and the rest wait behind it, in the broker, up to a bound.
 * @module
 */
import { sendAgainWhenRoom } from "../connection/send-again.js";
import type { Router } from "../connection/routing.js";
import { DividereError } from "../errors.js";

/** What each waiting message counts against its peer's bound beyond its bytes: its arrays and buffers. */
const MESSAGE_OVERHEAD_BYTES = 256;

/**
 * The default bound of what waits per peer: 32 MiB (counting {@link MESSAGE_OVERHEAD_BYTES} per
 * message). A well-behaved peer never comes near it: what flows to it is bounded by its calls'
 * stream windows (256 KiB each) and, for a worker, by its capacity.
 */
export const DEFAULT_MAX_BACKLOG_BYTES = 32 * 1024 * 1024;

/** Options of {@link PeerQueues}. */
export interface PeerQueuesOptions<Tag> {
  /** The most bytes that may wait per peer (a first message always may); see {@link DEFAULT_MAX_BACKLOG_BYTES}. */
  maxBacklogBytes: number;
  /** True once nothing more should go out (the broker closed): what waits is dropped. */
  stopped(): boolean;
  /**
   * A peer took no more (gone: `UNROUTABLE`; or the socket closed): what waited for it was
   * dropped; `tags` are those of the dropped messages that had one, the failed one first.
   */
  undelivered(identity: Buffer, tags: Tag[], error: unknown): void;
}

interface Waiting<Tag> {
  frames: Uint8Array[];
  bytes: number;
  tag: Tag | undefined;
}

interface Line<Tag> {
  identity: Buffer;
  /** The message the socket is working on first, then those waiting behind it. */
  queue: Waiting<Tag>[];
  bytes: number;
  /** Dropped: its messages are no longer wanted. */
  dropped: boolean;
}

/**
 * A Router's sends, per peer, in order: a peer's message goes to the socket once the one before
 * it went; one that meets the peer's full queue is tried again (connection/send-again.ts) while
 * the rest wait behind it. What waits is bounded per peer ({@link PeerQueuesOptions.maxBacklogBytes}):
 * a message beyond it is not taken, and its sender decides what fails. The Router must be
 * `mandatory`, or ZeroMQ would drop what does not fit instead of refusing it.
 */
export class PeerQueues<Tag = never> {
  readonly #router: Router;
  readonly #options: PeerQueuesOptions<Tag>;
  readonly #lines = new Map<string, Line<Tag>>();

  constructor(router: Router, options: PeerQueuesOptions<Tag>) {
    this.#router = router;
    this.#options = options;
  }

  /**
   * Sends `frames` to the peer after what waits for it. `bounded` (the default) takes it only
   * if it fits the peer's bound, and returns false, sending nothing, if not; control messages
   * that are small and few per call (a cancel, a heartbeat, a call's error end) pass
   * `bounded: false`. `tag` names what it belongs to, for {@link PeerQueuesOptions.undelivered}.
   */
  send(identity: Buffer, frames: Uint8Array[], options: { bounded?: boolean; tag?: Tag } = {}): boolean {
    const key = identity.toString("latin1");
    const bytes = frames.reduce((total, frame) => total + frame.byteLength, MESSAGE_OVERHEAD_BYTES);
    const message: Waiting<Tag> = { frames, bytes, tag: options.tag };
    const line = this.#lines.get(key);
    if (line) {
      if (options.bounded !== false && line.bytes + bytes > this.#options.maxBacklogBytes) return false;
      line.queue.push(message);
      line.bytes += bytes;
      return true;
    }
    const fresh: Line<Tag> = { identity, queue: [message], bytes, dropped: false };
    this.#lines.set(key, fresh);
    this.#next(key, fresh);
    return true;
  }

  /** What waits for all peers now, in messages and bytes (with their overhead). */
  get waiting(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const line of this.#lines.values()) {
      messages += line.queue.length;
      bytes += line.bytes;
    }
    return { messages, bytes };
  }

  /** Forgets what waits for a peer (it was lost); nothing of it is reported undelivered. */
  drop(identity: Buffer): void {
    const key = identity.toString("latin1");
    const line = this.#lines.get(key);
    if (!line) return;
    line.dropped = true;
    this.#lines.delete(key);
  }

  #next(key: string, line: Line<Tag>): void {
    const head = line.queue[0]!;
    const message = [line.identity, ...head.frames];
    const send = () => this.#router.send(message);
    send()
      .catch((error: unknown) =>
        sendAgainWhenRoom(send, error, { full: (e) => DividereError.is(e, "TIMEOUT"), stopped: () => line.dropped || this.#options.stopped() }),
      )
      .then(
        () => {
          if (line.dropped) return;
          line.queue.shift();
          line.bytes -= head.bytes;
          if (line.queue.length > 0) this.#next(key, line);
          else this.#lines.delete(key);
        },
        (error: unknown) => {
          if (line.dropped) return;
          this.drop(line.identity);
          const tags = line.queue.flatMap((waiting) => (waiting.tag === undefined ? [] : [waiting.tag]));
          this.#options.undelivered(line.identity, tags, error);
        },
      );
  }
}
