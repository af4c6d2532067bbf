import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { Endpoint } from "./endpoint.js";
import { type SocketOptions, openSocket } from "./options.js";
import { ReadableSocket, WritableSocket } from "./socket.js";

/** A subscription topic: a prefix of the messages to receive, as bytes or a UTF-8 string. */
export type Topic = Uint8Array | string;

/**
 * What a {@link Publisher}'s send does when a subscriber the message is for has a full queue
 * (`sendHighWaterMark` messages waiting for it): see {@link PublisherOptions.whenFull}.
 */
export type WhenFull = "drop" | "block";

/** Options of a {@link Publisher}. */
export interface PublisherOptions extends SocketOptions {
  /**
   * What a send does when a subscriber the message is for has a full queue (`sendHighWaterMark`
   * messages waiting for it; a subscriber that reads slower than the publisher sends gets there).
   * Both modes set ZMQ_XPUB_NODROP, so a message goes to every matching subscriber or to none:
   *
   * - `"drop"` (default): the message is sent to none of them, the send resolves at once (the
   *   caller is not failed, nor kept waiting), and {@link PublisherStats.unsent} counts it. Loss is
   *   counted exactly, never hidden; the price is that one slow subscriber costs the others the
   *   messages it cannot take. Give a slow consumer its own feed (another Publisher), let it
   *   subscribe with `conflate` if only the newest message matters, or raise `sendHighWaterMark`
   *   to ride out bursts. `sendTimeout` is ignored (always 0).
   * - `"block"`: the send waits until every matching subscriber has room, so nothing is lost and
   *   the slowest subscriber sets the pace. With `sendTimeout`, a send that waited that long fails
   *   with `TIMEOUT` and the message is not sent. ZeroMQ does not say when room appears, so a
   *   waiting send tries again every few ms (at most 8 ms apart).
   *
   * Without subscribers, or without a matching one, a send succeeds and the message goes nowhere
   * (pub/sub's late joiner; see {@link Publisher.waitForSubscribers}).
   */
  whenFull?: WhenFull;
}

/** Counters of a {@link Publisher}. */
export interface PublisherStats {
  /** Messages handed to ZeroMQ for the matching subscribers (every one of them gets it). */
  readonly sent: number;
  /**
   * Messages not sent to anybody because a subscriber they were for had a full queue
   * (`whenFull: "drop"`). `sent + unsent` is every send that resolved.
   */
  readonly unsent: number;
}

/** Options of {@link Publisher.waitForSubscribers}. */
export interface WaitForSubscribersOptions {
  /** The topic the subscribers must receive; default: any subscription at all. */
  topic?: Topic;
  /** How many matching subscriptions to wait for; default 1. */
  count?: number;
  /** Give up with `TIMEOUT` after this many ms; default: wait for ever. */
  timeoutMs?: number;
}

/**
 * The publishing end of pub/sub. It sees its subscribers' subscriptions, so a program can
 * wait until a subscriber is listening instead of sleeping against the late-joiner problem.
 *
 * ```ts
 * await using pub = new connection.Publisher("tcp://*:5555");
 * await pub.waitForSubscribers({ timeoutMs: 2000 });
 * await pub.send("hello");
 * ```
 */
export class Publisher extends WritableSocket {
  /** Active subscriptions, keyed by topic bytes (as latin1), counted per subscriber. */
  readonly #subscriptions = new Map<string, number>();
  #changed: Array<() => void> = [];

  constructor(endpoint: Endpoint, options: PublisherOptions = {}) {
    const whenFull = options.whenFull ?? "drop";
    if (whenFull !== "drop" && whenFull !== "block") {
      throw new DividereError("INVALID_ARGUMENT", `whenFull must be "drop" or "block", got ${JSON.stringify(whenFull)}`);
    }
    const socket = openSocket(zmq.XPublisher, "pub", options, {
      // Without NODROP, libzmq drops a full subscriber's copy silently; with it, the send fails and is counted.
      noDrop: true,
      // An XPUB always polls writable, so zeromq.js never waits for room: the Sender does (see whenFull).
      sendTimeout: 0,
      verbosity: "allSubsUnsubs",
    });
    super("pub", socket, endpoint, options);
    this.sender.whenFull(whenFull, options.sendTimeout);
    void this.#track();
  }

  /** A snapshot of the counters: messages sent, and messages dropped for a full subscriber queue (see {@link PublisherOptions.whenFull}). */
  get stats(): PublisherStats {
    return { sent: this.sender.sent, unsent: this.sender.unsent };
  }

  /**
   * How many subscriptions would deliver a message with this topic (each subscriber's
   * subscription counts once); without a topic, all subscriptions.
   */
  subscriberCount(topic?: Topic): number {
    let count = 0;
    const key = topic === undefined ? undefined : toKey(topic);
    for (const [prefix, n] of this.#subscriptions) {
      if (key === undefined || key.startsWith(prefix)) count += n;
    }
    return count;
  }

  /** Resolves once `count` subscriptions cover `topic`; rejects with `TIMEOUT` or `CLOSED`. */
  waitForSubscribers(options: WaitForSubscribersOptions = {}): Promise<void> {
    const { topic, count = 1, timeoutMs } = options;
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        if (this.closed) {
          finish();
          reject(new DividereError("CLOSED", `${this.name} closed while waiting for subscribers`));
        } else if (this.subscriberCount(topic) >= count) {
          finish();
          resolve();
        }
      };
      const finish = () => {
        if (timer) clearTimeout(timer);
        this.#changed = this.#changed.filter((fn) => fn !== check);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          finish();
          reject(
            new DividereError(
              "TIMEOUT",
              `${this.name}: ${this.subscriberCount(topic)} of ${count} subscriber(s) after ${timeoutMs} ms; ` +
                `check that subscribers connect to ${this.endpoint} and subscribe to this topic.`,
            ),
          );
        }, timeoutMs);
      }
      this.#changed.push(check);
      check();
    });
  }

  protected override beforeClose(): void {
    for (const check of [...this.#changed]) check();
  }

  async #track(): Promise<void> {
    while (!this.closed) {
      let frame: Buffer | undefined;
      try {
        [frame] = await this.receiveOnce();
      } catch (error) {
        if (!this.closed) debug("%s stopped reading subscriptions: %s", this.name, error);
        return;
      }
      if (!frame || frame.length === 0 || (frame[0] !== 0 && frame[0] !== 1)) continue;
      const key = frame.toString("latin1", 1);
      const n = (this.#subscriptions.get(key) ?? 0) + (frame[0] === 1 ? 1 : -1);
      if (n > 0) this.#subscriptions.set(key, n);
      else this.#subscriptions.delete(key);
      debug("%s %s %j", this.name, frame[0] === 1 ? "subscribe" : "unsubscribe", key);
      for (const check of [...this.#changed]) check();
      this.events.emit("subscription", { subscribed: frame[0] === 1, topic: frame.subarray(1) });
    }
  }
}

/** Options of a {@link Subscriber}. */
export interface SubscriberOptions extends SocketOptions {
  /** Topics (message prefixes) to receive; absent or empty: everything. */
  topics?: readonly Topic[];
  /** Keep only the newest message (ZMQ_CONFLATE). */
  conflate?: boolean;
}

/**
 * The receiving end of pub/sub: receives the messages whose first frame starts with
 * one of its topics.
 *
 * ```ts
 * await using sub = new connection.Subscriber("tcp://localhost:5555", { topics: ["weather."] });
 * for await (const [frame] of sub) console.log(frame.toString());
 * ```
 */
export class Subscriber extends ReadableSocket {
  readonly #zmq: zmq.Subscriber;

  constructor(endpoint: Endpoint, options: SubscriberOptions = {}) {
    const socket = openSocket(zmq.Subscriber, "sub", options, { conflate: options.conflate });
    super("sub", socket, endpoint, options);
    this.#zmq = socket;
    const topics = options.topics ?? [];
    this.subscribe(...(topics.length > 0 ? topics : [""]));
    if (this.keepsReceiving) void this.receiver; // start reading now; see keepsReceiving
  }

  protected override get keepsReceiving(): boolean {
    return this.endpoints.bound.length > 0;
  }

  /** Starts receiving messages that begin with any of `topics` (`""`: everything). */
  subscribe(...topics: Topic[]): void {
    this.#zmq.subscribe(...topics.map(toNative));
  }

  /** Stops receiving what an earlier `subscribe` with the same topic asked for. */
  unsubscribe(...topics: Topic[]): void {
    this.#zmq.unsubscribe(...topics.map(toNative));
  }
}

function toNative(topic: Topic): string | Buffer {
  return typeof topic === "string" ? topic : Buffer.from(topic.buffer, topic.byteOffset, topic.byteLength);
}

function toKey(topic: Topic): string {
  return Buffer.from(typeof topic === "string" ? Buffer.from(topic, "utf8") : topic).toString("latin1");
}
