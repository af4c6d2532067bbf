import { randomUUID } from "node:crypto";
import type { Endpoint } from "../connection/endpoint.js";
import { PATTERN_HEARTBEAT_MS } from "../connection/server-queue.js";
import type { TypeSource, Types } from "../envelope/types.js";
import { HeartbeatSchema } from "../gen/dividere/MsgLib_pb.js";
import { Dealer } from "../messaging/routing.js";
import type { MessagingOptions } from "../messaging/socket.js";
import type { Dispatch } from "../reactors/dispatch.js";
import { Reactor, type ReactorOptions, type ReactorStats } from "../reactors/reactor.js";

/** A Python Server heartbeats when this long passed without one (1.5 × the broker's rate, so the two rarely cross). */
const SERVER_HEARTBEAT_MS = 1.5 * PATTERN_HEARTBEAT_MS;

/** Counters of a {@link LoadBalancingServer}: its reactor's, of requests, and the broker's heartbeats apart. */
export interface LoadBalancingServerStats extends ReactorStats {
  /** Heartbeats from the broker, each answered with one. */
  heartbeats: number;
}

/** Options of a {@link LoadBalancingServer}: the message types it speaks, the socket's options and the reactor's. */
export interface LoadBalancingServerOptions<T extends Types> extends MessagingOptions<T>, Omit<ReactorOptions, "idle" | "idleIntervalMs"> {}

/**
 * A server of Python dividere's `messaging.LoadBalancingPattern`, behind Python's broker or a
 * {@link Broker}: a Dealer whose identity is a uuid4 string, connected to the broker's backend,
 * run by a {@link Reactor} with `dispatch` (a generated `fooDispatch(handlers)`). A request comes
 * to its handler as `(message, ctx)`, and `ctx.reply(...)` answers the client. It heartbeats as
 * Python's Server does: `Heartbeat{id: its identity}` at start, on each heartbeat from the
 * broker, and when 4.5 s passed without one.
 *
 * ```ts
 * const server = new LoadBalancingServer("tcp://localhost:5556", testMsgDispatch(echo), { types: testMsgTypes });
 * ```
 */
export class LoadBalancingServer<const T extends Types> {
  /** The server's identity at the broker, and its heartbeats' id: a uuid4 string, as Python's. */
  readonly id: string = randomUUID();
  readonly #dealer: Dealer<readonly TypeSource[]>;
  readonly #reactor: Reactor;
  #beatAt = 0;
  #heartbeats = 0;

  constructor(backend: Endpoint, dispatch: Dispatch | readonly Dispatch[], options: LoadBalancingServerOptions<T>) {
    const { types, onError, concurrency, ...socketOptions } = options;
    const sources = Array.isArray(types) ? (types as readonly TypeSource[]) : [types as TypeSource];
    this.#dealer = new Dealer(backend, {
      ...socketOptions,
      types: [HeartbeatSchema, ...sources],
      routingId: this.id,
      name: socketOptions.name ?? `load-balancing server ${this.id}`,
    });
    const heartbeats: Dispatch = { handlers: new Map([[HeartbeatSchema.typeName, () => this.#answerHeartbeat()]]) };
    this.#reactor = new Reactor(this.#dealer, [heartbeats, ...(Array.isArray(dispatch) ? dispatch : [dispatch as Dispatch])], {
      onError,
      concurrency,
      idleIntervalMs: 500,
      idle: () => {
        if (Date.now() - this.#beatAt >= SERVER_HEARTBEAT_MS) this.#beat();
      },
    });
    this.#beat();
  }

  /** Requests handled, unhandled and failed, and the broker's heartbeats. */
  get stats(): LoadBalancingServerStats {
    const { handled, unhandled, failed } = this.#reactor.stats;
    return { handled: handled - this.#heartbeats, unhandled, failed, heartbeats: this.#heartbeats };
  }

  /** Where the server is connected. */
  get endpoint(): string {
    return this.#dealer.endpoint;
  }

  /** Stops taking requests, lets those in flight finish, and disconnects. */
  close(): Promise<void> {
    return this.#reactor.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #answerHeartbeat(): void {
    this.#heartbeats++;
    this.#beat();
  }

  #beat(): void {
    this.#beatAt = Date.now();
    this.#dealer.send(HeartbeatSchema, { id: this.id }).catch(() => undefined);
  }
}
