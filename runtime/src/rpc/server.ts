import type { DescService } from "@bufbuild/protobuf";
import { Health } from "../builtin/health.js";
import type { InstanceInfoOptions } from "../builtin/discovery.js";
import { hostBuiltins } from "../builtin/host.js";
import type { Endpoint } from "../connection/endpoint.js";
import type { ConnectionStats } from "../connection/events.js";
import { eachUntilClosed } from "../connection/receiver.js";
import { type SocketOptions, withServerDefaults } from "../connection/options.js";
import { type CloseOptions, DEFAULT_GRACE_MS } from "../lifecycle.js";
import { debug } from "../log.js";
import { Router } from "../messaging/routing.js";
import { type MessagingStats, sendEnvelope } from "../messaging/socket.js";
import { rpcTypes } from "./channel.js";
import { CallerVerifier } from "./caller-key.js";
import { CallDispatcher, type CallStats, type Respond } from "./dispatcher.js";
import type { ServerInterceptorOptions } from "./interceptor.js";
import type { MetadataLimits } from "./metadata.js";
import { RpcError } from "./status.js";
import type { ServiceImpl } from "./types.js";

/** Counters of an RPC server. */
export interface RpcServerStats extends CallStats {
  /** Input that was no call at all (not an envelope, not an RpcRequest or RpcCancel), by reason. */
  dropped: MessagingStats["dropped"];
  /** Cancels of calls not in flight here: answered already (the cancel crossed the answer), or never made. */
  unmatched: number;
  /** Connections refused at their handshake because the server held `maxConnections` (each retry of a refused caller counts). */
  refusedConnections: number;
}

/**
 * Options of an {@link RpcServer}: its socket's, the bound of a call's metadata, the
 * interceptors around its handlers, and what it says of itself (`info`, see `dividere.v1.Discovery`).
 */
export interface RpcServerOptions extends SocketOptions, MetadataLimits, ServerInterceptorOptions, InstanceInfoOptions {
  /**
   * Whether the server answers `grpc.reflection.v1` with the descriptors of the services it
   * hosts, which lets `dividere call` work without their .proto files; default true. False for
   * a server whose schemas are nobody's business: it answers reflection `UNIMPLEMENTED`.
   */
  reflection?: boolean;
}

/**
 * Hosts service implementations on one Router: every call is answered, an error status where
 * it cannot succeed (unknown method, bad request, a handler that throws), and the server goes on.
 * Hosting through a registry is `serve()`; this is the part that answers calls. It also answers
 * the built-in services every server has: `grpc.health.v1.Health` (see {@link health}),
 * `dividere.v1.Discovery` (ping, info and stats) and `grpc.reflection.v1.ServerReflection`.
 */
export class RpcServer {
  /**
   * The health this server reports through `grpc.health.v1.Health` (Check, Watch, List): the
   * server as a whole (`""`) and each service it hosts are `SERVING` from the start; set them
   * here (`server.health.set("chat.v1.History", "NOT_SERVING")`). A graceful {@link close}
   * turns them all `NOT_SERVING` before it stops taking calls, and answers health checks until
   * the socket closes.
   */
  readonly health = new Health();
  readonly #router: Router<typeof rpcTypes>;
  readonly #calls: CallDispatcher;
  readonly #loop: Promise<void>;
  /** Responses sent to the server: a known type, but not one a server takes. */
  #strayResponses = 0;
  #unmatched = 0;
  #closing: Promise<void> | undefined;

  /**
   * The socket options take a server's defaults ({@link withServerDefaults}): at most 1024
   * connections, requests of at most 4 MiB, heartbeats that drop a silent or stuck caller;
   * and request headers, and response headers and trailers, of at most 8 KiB (`maxHeaderBytes`).
   */
  constructor(endpoint: Endpoint, options: RpcServerOptions = {}) {
    const { maxHeaderBytes, interceptors, info, reflection, ...socketOptions } = options;
    const withDefaults = withServerDefaults(socketOptions);
    // mandatory: a reply to a caller that is gone fails at once instead of vanishing.
    this.#router = new Router(endpoint, { ...withDefaults, mandatory: true, types: rpcTypes });
    // A caller's connection drops a heartbeat timeout after it hangs; checking as often as the heartbeats notices soon after.
    const callerCheckMs = withDefaults.heartbeatInterval || undefined;
    this.#calls = new CallDispatcher(`rpc server ${this.#router.endpoint}`, { maxHeaderBytes, interceptors, callerCheckMs }, CallerVerifier.of(socketOptions.curve));
    hostBuiltins(this.#calls, { health: this.health, info, reflection });
    this.#loop = this.#serve();
  }

  /** Where the server is bound (with the real port). */
  get endpoint(): string {
    return this.#router.endpoint;
  }

  /** A snapshot of the counters: calls answered OK, failed and cancelled, and dropped input. */
  get stats(): RpcServerStats {
    const dropped = this.#router.stats.dropped;
    return {
      ...this.#calls.stats,
      dropped: { ...dropped, UNKNOWN_TYPE: dropped.UNKNOWN_TYPE + this.#strayResponses },
      unmatched: this.#unmatched,
      refusedConnections: this.#router.connections.refused,
    };
  }

  /** The callers' connections open now, and those refused so far because the server held `maxConnections`. */
  get connections(): ConnectionStats {
    return this.#router.connections;
  }

  /**
   * Hosts `implementation` of `service`, a protoc-gen-es descriptor (`History`, or the generated
   * `HistoryDefinition`, which is it), whose methods type the implementation's; methods it lacks
   * answer `UNIMPLEMENTED`. The service is `SERVING` from now on, unless its health was set before.
   */
  add<S extends DescService>(service: S, implementation: NoInfer<ServiceImpl<S>>): this {
    this.#calls.add(service, implementation);
    if (this.health.check(service.typeName) === "SERVICE_UNKNOWN") this.health.set(service.typeName, "SERVING");
    return this;
  }

  /** The full names of the services hosted here (the built-in ones left out). */
  get services(): string[] {
    return this.#calls.services;
  }

  /**
   * Closes gracefully: every health status turns `NOT_SERVING` (watchers are told, and health
   * checks are still answered until the socket closes); no new calls are taken; calls in flight
   * get `graceMs` (default {@link DEFAULT_GRACE_MS}) to finish, their signal aborts after it;
   * then the socket closes. Later calls return the same promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= (async () => {
      this.health.shutdown();
      await this.#calls.drain(options.graceMs ?? DEFAULT_GRACE_MS, "the server is closing");
      await this.#router.close();
      await this.#loop;
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #serve(): Promise<void> {
    return eachUntilClosed(this.#router, ({ route, message }) => {
      const key = `${route[0]!.toString("latin1")}/${"id" in message ? message.id : ""}`;
      const respond: Respond = (envelope) => this.#router[sendEnvelope](route, envelope);
      if (message.$typeName === "dividere.v1.RpcCancel") {
        if (!this.#calls.cancel(key, message.code)) this.#unmatched++;
      } else if (message.$typeName === "dividere.v1.RpcRequestItem") {
        this.#calls.item(key, message); // items of a call that ended meanwhile are dropped
      } else if (message.$typeName === "dividere.v1.RpcCredit") {
        this.#calls.credit(key, message.items);
      } else if (message.$typeName === "dividere.v1.RpcRequest") {
        // Health checks are answered to the end: they are how the world learns the server is going.
        if (this.#closing && !this.#calls.isBuiltin(message.method)) void this.#calls.refuse(message, new RpcError("UNAVAILABLE", "the server is closing; call another instance"), respond);
        else this.#calls.start(key, message, message.caller || route[0]!.toString("hex"), respond);
      } else {
        this.#strayResponses++;
        debug("%s: dropped an %s: a server takes calls, not answers", this.endpoint, message.$typeName);
      }
    });
  }
}
