import type { Endpoint } from "../connection/endpoint.js";
import { type SocketOptions, withServerDefaults } from "../connection/options.js";
import type { DividereError } from "../errors.js";
import { RediscoverReqSchema } from "../gen/dividere/MsgLib_pb.js";
import { type Instance, InstancesChangedSchema } from "../gen/dividere/v1/registry_pb.js";
import { debug } from "../log.js";
import { Publisher } from "../messaging/pubsub.js";
import { Router } from "../messaging/routing.js";
import type { MessageContext } from "../reactors/context.js";
import { createDispatch } from "../reactors/dispatch.js";
import { Reactor, type ReactorStats } from "../reactors/reactor.js";
import type { MessagingStats } from "../messaging/socket.js";
import { REGISTRY_PORT, REGISTRY_PUBLISH_PORT, REGISTRY_WATCH_PORT, connectableHere } from "./defaults.js";
import { dividereHandlers, dividereRegistryTypes, dividereRequests } from "./dividere-protocol.js";
import type { RegistryEndpoints, RegistryState } from "./protocol.js";
import { pythonHandlers, pythonRegistryTypes, pythonRequests } from "./python-protocol.js";
import { type RegistryStore, storeFrom } from "./store.js";

/** The messages a registry speaks: Python dividere's (MsgLib) and dividere.v1's. */
export const registryTypes = [...pythonRegistryTypes, RediscoverReqSchema, ...dividereRegistryTypes] as const;

/** What the publish port carries: only what Python dividere services decode, for they listen there to everything. */
export const rediscoveryTypes = [RediscoverReqSchema] as const;
/** What the watch port carries. */
export const watchTypes = [InstancesChangedSchema] as const;

/** The requests a registry answers, by the name of their message type. */
export type RegistryRequestKind = (typeof HANDLERS)[keyof typeof HANDLERS];

/** Counters of a {@link RegistryServer}. */
export interface RegistryServerStats extends ReactorStats {
  /** Requests answered, by kind. */
  answered: Record<RegistryRequestKind, number>;
  /** Registrations answered `ok: false` and not stored: no service name, or an instance without service, id or endpoint. */
  refused: number;
  /** Input that was no request (not an envelope, an unknown type, ...), by reason. */
  dropped: MessagingStats["dropped"];
  /** Connections refused at their handshake, on any of its sockets, because it held `maxConnections`. */
  refusedConnections: number;
  /** Records in its store that hold no instance (on etcd, keys under its root written by something else), left out. */
  unreadableRecords: number;
}

/** Options of a {@link RegistryServer}; the socket options apply to all three of its sockets, with a server's defaults (`withServerDefaults`). */
export interface RegistryServerOptions extends SocketOptions {
  /** Where requests come in; default `tcp://*:5000`, as Python dividere. */
  endpoint?: Endpoint;
  /**
   * Where `RediscoverReq` goes out, and nothing else (Python dividere services decode
   * everything published there); default `tcp://*:5001`, as Python dividere.
   */
  publishEndpoint?: Endpoint;
  /** Where `dividere.v1.InstancesChanged` goes out on every change (the watch); default `tcp://*:5002`. */
  watchEndpoint?: Endpoint;
  /**
   * Where the records are kept: `"memory"` (the default: in this process, for one machine), an
   * etcd cluster as `"etcd://host:2379,host2:2379"` (optionally followed by a key root,
   * `etcd://host:2379/my/root/`), or a {@link RegistryStore} (which stays yours to close).
   * Several registries over one etcd cluster (and root) serve one view; see docs/scale.md.
   */
  store?: string | RegistryStore;
  /** How often expired leases are swept, in ms, by the memory store; default 250. */
  sweepIntervalMs?: number;
  /** For how long after start a new subscriber is sent `RediscoverReq` again, in ms; default 5000. */
  rediscoverWindowMs?: number;
  /** Where failures go (a request of an unknown type, ...); default: a line on stderr. */
  onError?: (error: DividereError) => void;
}

/**
 * The name service: which instances of which service run where. Speaks Python dividere's
 * registry protocol (`RegisterService`, `UnregisterService`, `ServiceLookupReq` on a
 * request/reply port, `RediscoverReq` published at start) and, beyond it, dividere.v1's: several
 * instances per service, leases that expire when an instance stops renewing them, lookups that
 * return every live instance, and `InstancesChanged` published on every change on a port of its
 * own (the watch), so that the publish port carries only what Python services decode. Its
 * records are in its `store`: its memory by default, or an etcd cluster that several
 * registries share (docs/scale.md).
 *
 * ```ts
 * await using registry = new RegistryServer({ endpoint: "tcp://*:5000", publishEndpoint: "tcp://*:5001", watchEndpoint: "tcp://*:5002" });
 * await using client = new RegistryClient({ ...registry.clientEndpoints });
 * ```
 */
export class RegistryServer {
  readonly #store: RegistryStore;
  readonly #ownsStore: boolean;
  readonly #publisher: Publisher<typeof rediscoveryTypes>;
  readonly #watch: Publisher<typeof watchTypes>;
  readonly #reactor: Reactor;
  readonly #rediscoverUntil: number;
  #rediscoverPending: NodeJS.Timeout | undefined;
  readonly #endpoint: string;
  readonly #requests: Router<typeof registryTypes>;
  readonly #answered = Object.fromEntries(Object.values(HANDLERS).map((kind) => [kind, 0])) as Record<RegistryRequestKind, number>;
  #refused = 0;
  readonly #stopChanges: () => void;

  constructor(options: RegistryServerOptions = {}) {
    const {
      endpoint = `tcp://*:${REGISTRY_PORT}`,
      publishEndpoint = `tcp://*:${REGISTRY_PUBLISH_PORT}`,
      watchEndpoint = `tcp://*:${REGISTRY_WATCH_PORT}`,
      store = "memory",
      sweepIntervalMs,
      rediscoverWindowMs,
      onError,
      ...rest
    } = options;
    this.#ownsStore = typeof store === "string";
    this.#store = typeof store === "string" ? storeFrom(store, { sweepIntervalMs }) : store;
    const socketOptions = withServerDefaults(rest);
    // A port that cannot be bound closes again the sockets bound before it.
    const opened: Array<{ close(): Promise<void> }> = [];
    const open = <S extends { close(): Promise<void> }>(socket: S): S => (opened.push(socket), socket);
    let requests: Router<typeof registryTypes>;
    try {
      this.#publisher = open(new Publisher(publishEndpoint, { ...socketOptions, types: rediscoveryTypes, name: "registry publish" }));
      this.#watch = open(new Publisher(watchEndpoint, { ...socketOptions, types: watchTypes, name: "registry watch" }));
      // A Router, not a REP: requests from different clients are answered as each is ready
      // (one waiting on etcd holds up no other); each client's REQ sends one at a time anyway.
      requests = new Router(endpoint, { ...socketOptions, types: registryTypes, name: "registry", requestsOnly: true });
    } catch (error) {
      for (const socket of opened) void socket.close();
      if (this.#ownsStore) void this.#store.close();
      throw error;
    }
    this.#endpoint = requests.endpoint;
    this.#requests = requests;
    this.#reactor = new Reactor(requests, createDispatch(this.#handlers(), HANDLERS), {
      concurrency: CONCURRENT_REQUESTS,
      onError: onError ?? ((error) => console.error(`dividere registry: ${error.message}`)),
    });
    this.#stopChanges = this.#store.onChange((service, why) => this.#changed(service, why));
    // Services that knew the registry before it (re)started re-register when told; they are
    // told when they subscribe, which takes them a moment after a restart. A durable store
    // (etcd) knows them still: nobody is asked.
    this.#rediscoverUntil = this.#store.durable ? 0 : Date.now() + (rediscoverWindowMs ?? 5000);
    this.#publisher.events.on("subscription", ({ subscribed }) => {
      if (subscribed && Date.now() < this.#rediscoverUntil) this.#rediscover();
    });
    if (!this.#store.durable) this.#rediscover();
    debug("registry answering on %s, publishing on %s, watch on %s, records in %s", this.endpoint, this.publishEndpoint, this.watchEndpoint, this.#store.description);
  }

  /** Where the registry answers requests (with the real port). */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Where the registry publishes `RediscoverReq` (with the real port). */
  get publishEndpoint(): string {
    return this.#publisher.endpoint;
  }

  /** Where the registry publishes `InstancesChanged` (with the real port). */
  get watchEndpoint(): string {
    return this.#watch.endpoint;
  }

  /**
   * Where a client on this machine reaches the three sockets, with the real ports (a wildcard
   * host such as `tcp://*:0` given as loopback): `new RegistryClient({ ...registry.clientEndpoints })`.
   * A client on another machine needs this host's name or address instead.
   */
  get clientEndpoints(): RegistryEndpoints {
    return {
      endpoint: connectableHere(this.endpoint),
      publishEndpoint: connectableHere(this.publishEndpoint),
      watchEndpoint: connectableHere(this.watchEndpoint),
    };
  }

  /** Counters of the requests: answered, of no known kind, failed, and input that was no request at all. */
  get stats(): RegistryServerStats {
    return {
      ...this.#reactor.stats,
      answered: { ...this.#answered },
      refused: this.#refused,
      dropped: { ...this.#requests.stats.dropped },
      refusedConnections: this.#requests.connections.refused + this.#publisher.connections.refused + this.#watch.connections.refused,
      unreadableRecords: this.#store.unreadable,
    };
  }

  /** Where the records are kept: `memory`, `etcd://host:port,...`. */
  get store(): string {
    return this.#store.description;
  }

  /** The live instances of a service, as the registry sees them now. */
  lookup(service: string): Instance[] {
    return this.#store.list(service);
  }

  /** Every service with live instances. */
  services(): string[] {
    return this.#store.services();
  }

  /** Resolves once the registry's store can answer (an etcd store: once it read its records); rejects with `UNAVAILABLE` after `timeoutMs` (default 5000). */
  ready(timeoutMs = 5000): Promise<void> {
    return this.#store.ready(Date.now() + timeoutMs);
  }

  /** Stops answering and publishing; the records of a durable store stay where they are. */
  async close(): Promise<void> {
    this.#stopChanges();
    clearTimeout(this.#rediscoverPending);
    await this.#reactor.close();
    await this.#publisher.close();
    await this.#watch.close();
    if (this.#ownsStore) await this.#store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The answers to each kind of request, for the reactor: each protocol's, over the one store. */
  #handlers() {
    const state: RegistryState = {
      store: this.#store,
      // An answer the store cannot give in time is none: the client tries again, or another registry.
      ready: () => this.#store.ready(Date.now() + STORE_WAIT_MS),
      refused: () => this.#refused++,
      endpoints: () => ({ endpoint: this.endpoint, publishEndpoint: this.publishEndpoint, watchEndpoint: this.watchEndpoint }),
    };
    const handlers = { ...pythonHandlers(state), ...dividereHandlers(state) };
    // Each handler answers once when it returns: count it then, by kind.
    for (const kind of Object.keys(handlers) as RegistryRequestKind[]) {
      const handle = handlers[kind] as (request: never, ctx: MessageContext) => Promise<void>;
      (handlers as Record<RegistryRequestKind, unknown>)[kind] = async (request: never, ctx: MessageContext) => {
        await handle(request, ctx);
        this.#answered[kind]++;
      };
    }
    return handlers;
  }

  #changed(service: string, why: string): void {
    debug("registry: %s: %s", service, why);
    this.#watch
      .send(InstancesChangedSchema, { service, instances: this.#store.list(service) })
      .catch((error: unknown) => debug("registry: cannot publish a change: %s", error));
  }

  #rediscover(): void {
    // Subscriptions arrive in bursts when many services reconnect: one announcement per burst.
    this.#rediscoverPending ??= setTimeout(() => {
      this.#rediscoverPending = undefined;
      this.#publisher.send(RediscoverReqSchema, {}).catch((error: unknown) => debug("registry: cannot publish RediscoverReq: %s", error));
    }, 20);
  }
}

/** Requests handled at once: those waiting on the store (etcd) let others be answered meanwhile. */
const CONCURRENT_REQUESTS = 64;

/** How long a request waits for a store that cannot answer yet (etcd down), in ms: less than a client waits for its answer. */
const STORE_WAIT_MS = 2000;

/** Which handler takes which request type. */
const HANDLERS = { ...pythonRequests, ...dividereRequests } as const;
