import { debug } from "../log.js";
import type { Endpoint } from "./endpoint.js";
import { type SocketOptions, withServerDefaults } from "./options.js";
import { eachUntilClosed } from "./receiver.js";
import { Router } from "./routing.js";
import { PATTERN_HEARTBEAT_MS, ServerQueue, type ServerQueueEvent } from "./server-queue.js";

/** The frame a byte-level server registers with. */
export const REGISTER_FRAME: Buffer = Buffer.from([0x01]);
/** The frame of a byte-level heartbeat, from the broker and echoed by the server. */
export const HEARTBEAT_FRAME: Buffer = Buffer.from([0x02]);

/** Where a {@link LoadBalancingBroker} binds; the socket options apply to both its sockets, with a server's defaults. */
export interface LoadBalancingBrokerOptions extends SocketOptions {
  /** Where clients connect, e.g. `tcp://*:5555`. */
  frontend: Endpoint;
  /** Where servers connect, e.g. `tcp://*:5556`. */
  backend: Endpoint;
  /** Requests that may wait for a free server; more are dropped (and counted refused). Default 1000. */
  maxQueued?: number;
}

/** Counters of a {@link LoadBalancingBroker}. */
export interface LoadBalancingBrokerStats {
  /** Requests handed to a server. */
  dispatched: number;
  /** Replies forwarded to a client. */
  answered: number;
  /** Requests dropped: the queue was full, or the broker was stopping. */
  refused: number;
  /** Servers dropped because they stayed silent for 9 s. */
  serversLost: number;
}

/**
 * The broker of Python dividere's byte-level `connection.LoadBalancingPattern`, wire-compatible
 * with it: clients connect to the frontend, servers to the backend and register with the byte
 * `01`; each request (any frames) goes to the server free longest, which is free again once it
 * says anything (a reply `[clientId, ..., reply]`, or `01`/`02`). Servers silent for 3 s get a `02`
 * heartbeat, which they echo; after 9 s they are dropped. Where Python's broker fails on a
 * request while no server is free, this one queues it (up to `maxQueued`).
 *
 * ```ts
 * await using broker = new connection.LoadBalancingBroker({ frontend: "tcp://*:5555", backend: "tcp://*:5556" });
 * ```
 */
export class LoadBalancingBroker {
  readonly #counts: LoadBalancingBrokerStats = { dispatched: 0, answered: 0, refused: 0, serversLost: 0 };
  readonly #frontend: Router;
  readonly #backend: Router;
  readonly #queue: ServerQueue;
  readonly #loops: Promise<void>[];
  #closing: Promise<void> | undefined;

  /** A snapshot of the counters; see {@link LoadBalancingBrokerStats}. */
  get stats(): LoadBalancingBrokerStats {
    return { ...this.#counts };
  }

  constructor(options: LoadBalancingBrokerOptions) {
    const { frontend, backend, maxQueued = 1000, ...socketOptions } = options;
    this.#frontend = new Router(frontend, { ...withServerDefaults(socketOptions), name: "load-balancing broker frontend" });
    try {
      this.#backend = new Router(backend, { ...withServerDefaults(socketOptions), name: "load-balancing broker backend" });
    } catch (error) {
      void this.#frontend.close();
      throw error;
    }
    const counters: Record<ServerQueueEvent, keyof LoadBalancingBrokerStats> = { dispatched: "dispatched", refused: "refused", lost: "serversLost" };
    this.#queue = new ServerQueue({
      maxQueued,
      toServer: (identity, frames) => this.#toServer(identity, frames),
      heartbeat: () => HEARTBEAT_FRAME,
      count: (event) => this.#counts[counters[event]]++,
      settled: () => undefined,
    });
    this.#loops = [this.#serveClients(), this.#serveServers()];
    debug("load-balancing broker: clients at %s, servers at %s (heartbeat %d ms)", this.frontendEndpoint, this.backendEndpoint, PATTERN_HEARTBEAT_MS);
  }

  /** Where clients connect (with the real port). */
  get frontendEndpoint(): string {
    return this.#frontend.endpoint;
  }

  /** Where servers connect (with the real port). */
  get backendEndpoint(): string {
    return this.#backend.endpoint;
  }

  /** Servers known and free now, and requests waiting for one. */
  get servers(): { known: number; free: number; queued: number } {
    return { ...this.#queue.servers, queued: this.#queue.queued };
  }

  /** Stops: waiting requests are dropped, both sockets close. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#queue.close();
      await Promise.all([this.#frontend.close(), this.#backend.close()]);
      await Promise.all(this.#loops);
      debug("load-balancing broker closed: %j", this.stats);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #serveClients(): Promise<void> {
    return eachUntilClosed(this.#frontend, (frames) => {
      if (frames.length >= 2) this.#queue.request(frames);
    });
  }

  #serveServers(): Promise<void> {
    return eachUntilClosed(this.#backend, (frames) => {
      const [identity, ...rest] = frames;
      // [clientId, ..., reply]; a lone frame (01, 02) has nowhere to go.
      if (rest.length >= 2) {
        this.#counts.answered++;
        this.#frontend.send(rest).catch((error: unknown) => debug("load-balancing broker: cannot answer a client: %s", error));
      }
      this.#queue.heard(identity!);
    });
  }

  #toServer(identity: Buffer, frames: readonly (Uint8Array | string)[]): void {
    this.#backend.send([identity, ...frames]).catch((error: unknown) => debug("load-balancing broker: cannot reach a server: %s", error));
  }
}
