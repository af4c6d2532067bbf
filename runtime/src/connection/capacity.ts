import { debug } from "../log.js";
import type { ConnectionCount, SocketEvents } from "./events.js";

/** How long ZeroMQ's report of a refusal may take to arrive before the refusal is forgotten, in ms (it takes well under one). */
const REPORT_MS = 1000;

/**
 * A socket's `maxConnections`, as the ZAP handler keeps it: it answers each connection's ZAP
 * request, after the handshake's first steps and before any message.
 *
 * ZeroMQ's monitor events name no connection, so which connections are admitted is not known
 * one by one. What is known exactly is how many are open (accepted or made, not yet ended),
 * how many of those asked the handler and wait for its answer, and how many it refused and
 * ZeroMQ is closing. The others are admitted, or still in the steps before they ask: counting
 * them all as admitted, the limit is never exceeded, at the cost of refusing a connection
 * while others are still shaking hands and the socket is near its limit.
 */
export class Capacity {
  readonly max: number;
  readonly #count: ConnectionCount;
  readonly #socket: string;
  /** ZAP requests received and not yet answered. */
  #asking = 0;
  /** When each refusal ZeroMQ has not reported yet was answered (its connection is still open). */
  readonly #closing: number[] = [];

  constructor(max: number, count: ConnectionCount, events: SocketEvents, socket: string) {
    this.max = max;
    this.#count = count;
    this.#socket = socket;
    // ZeroMQ reports each refusal just before the connection's disconnect.
    events.on("handshake:error:auth", () => void this.#closing.shift());
    // A refused connection the peer closed first is never reported as refused; but those closing
    // are among those open, so fewer open means fewer of them (the count has seen this disconnect).
    events.on("disconnect", () => {
      while (this.#closing.length > this.#count.open) this.#closing.shift();
    });
  }

  /** A connection asked; it is answered by {@link admits} or {@link refusing}. */
  asked(): void {
    this.#asking++;
  }

  /** The connection that asked is refused for another reason (an allow list). */
  refusing(): void {
    this.#asking--;
    this.#closing.push(Date.now());
  }

  /** Whether the connection that asked may in; a refusal is counted and logged. */
  admits(address: string): boolean {
    this.#asking--;
    const now = Date.now();
    // A refused connection that ended before ZeroMQ read the answer is never reported.
    while (this.#closing.length > 0 && now - this.#closing[0]! > REPORT_MS) this.#closing.shift();
    // `open` counts this connection too: ZeroMQ reports its accept before it asks.
    const held = this.#count.open - 1 - this.#asking - this.#closing.length;
    if (held < this.max) return true;
    this.#count.refused++;
    this.#closing.push(now);
    debug("%s refused a connection from %s: it holds %d connections (maxConnections %d)", this.#socket, address, held, this.max);
    return false;
  }
}
