import { randomUUID } from "node:crypto";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { Endpoint } from "./endpoint.js";
import { HEARTBEAT_FRAME, REGISTER_FRAME } from "./load-balancing-broker.js";
import type { SocketOptions } from "./options.js";
import { Dealer } from "./routing.js";
import type { Frame } from "./socket.js";

/**
 * Answers one request of the byte-level load-balancing pattern: `request` is its last frame,
 * `route` the frames before it (the client's identity, and the empty frame of a REQ client).
 * What it returns goes back to the client; `undefined` answers nothing.
 */
export type ByteRequestHandler = (request: Buffer, route: readonly Buffer[]) => Frame | undefined | Promise<Frame | undefined>;

/** Counters of a byte-level {@link LoadBalancingServer}. */
export interface LoadBalancingServerStats {
  /** Requests answered. */
  served: number;
  /** Requests the handler answered nothing to. */
  unanswered: number;
  /** Requests whose handler threw; nothing went back. */
  failed: number;
}

/**
 * A server of Python dividere's byte-level `connection.LoadBalancingPattern`: a Dealer whose
 * identity is a uuid4 string, as Python's, connected to the broker's backend. It registers with
 * `01`, echoes the broker's `02` heartbeats, and answers each request with what `handler`
 * returns, one request after the other. It works behind a Python broker and behind
 * {@link LoadBalancingBroker}.
 *
 * ```ts
 * await using server = new connection.LoadBalancingServer("tcp://localhost:5556", (request) => request);
 * ```
 */
export class LoadBalancingServer {
  readonly #counts: LoadBalancingServerStats = { served: 0, unanswered: 0, failed: 0 };
  /** The server's identity at the broker: a uuid4 string. */
  readonly id: string = randomUUID();
  readonly #dealer: Dealer;
  readonly #loop: Promise<void>;

  /** A snapshot of the counters; see {@link LoadBalancingServerStats}. */
  get stats(): LoadBalancingServerStats {
    return { ...this.#counts };
  }

  constructor(backend: Endpoint, handler: ByteRequestHandler, options: SocketOptions = {}) {
    this.#dealer = new Dealer(backend, { ...options, routingId: this.id, name: options.name ?? `load-balancing server ${this.id}` });
    this.#dealer.send(REGISTER_FRAME).catch(() => undefined);
    this.#loop = this.#serve(handler);
  }

  /** Stops answering and closes the connection; a request in flight finishes first. */
  async close(): Promise<void> {
    await this.#dealer.close();
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #serve(handler: ByteRequestHandler): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.#dealer.recv();
      } catch (error) {
        if (DividereError.is(error, "CLOSED")) return;
        throw error;
      }
      if (frames.length === 1) {
        if (frames[0]!.equals(HEARTBEAT_FRAME)) this.#dealer.send(HEARTBEAT_FRAME).catch(() => undefined);
        continue;
      }
      const route = frames.slice(0, -1);
      let reply: Frame | undefined;
      try {
        reply = await handler(frames[frames.length - 1]!, route);
      } catch (error) {
        this.#counts.failed++;
        debug("load-balancing server %s: the handler threw: %s", this.id, error);
        continue;
      }
      if (reply === undefined) {
        this.#counts.unanswered++;
        continue;
      }
      this.#counts.served++;
      this.#dealer.send([...route, reply]).catch((error: unknown) => debug("load-balancing server %s: cannot reply: %s", this.id, error));
    }
  }
}
