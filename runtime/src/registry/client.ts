import { type DescMessage, type MessageInitShape, create } from "@bufbuild/protobuf";
import type { SocketOptions } from "../connection/options.js";
import { DividereError } from "../errors.js";
import { type Instance, InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { Subscriber } from "../messaging/pubsub.js";
import { REGISTRY_PORT } from "./defaults.js";
import { dividereClient } from "./dividere-protocol.js";
import { FailoverRequests, defaultRetries } from "./failover.js";
import type { ClientProtocol, RegistryEndpoints, RegistryRequestOptions } from "./protocol.js";
import { pythonClient } from "./python-protocol.js";
import { rediscoveryTypes, watchTypes } from "./server.js";
import { RegistryWatch } from "./watch.js";

/** Options of a {@link RegistryClient}; the socket options apply to its sockets, with `linger` 0 unless given. */
export interface RegistryClientOptions extends SocketOptions {
  /**
   * Where the registry answers; default `tcp://localhost:5000`. Several registries of one view
   * (over one store) in order of preference: requests go to one at a time, and move to the next
   * when it does not answer (see {@link RegistryClient}).
   */
  endpoint?: string | readonly string[];
  /**
   * Where the registry publishes `RediscoverReq` ({@link RegistryClient.onRediscover}). Default:
   * asked of the registry (see {@link RegistryClient.endpoints}); with the Python protocol,
   * whose registry cannot say, the same host and the port after `endpoint`'s, as Python pairs them.
   * Only with one registry: each of several is asked its own (`INVALID_ARGUMENT` otherwise).
   */
  publishEndpoint?: string;
  /**
   * Where the registry publishes `InstancesChanged` ({@link RegistryClient.onChange},
   * {@link RegistryClient.onConnection}). Default: asked of the registry (see
   * {@link RegistryClient.endpoints}). A Python registry has none. Only with one registry, as `publishEndpoint`.
   */
  watchEndpoint?: string;
  /**
   * `"dividere"` (default): this project's registry, with leases and several instances per
   * service. `"python"`: a Python dividere registry, which knows only `RegisterService`,
   * `UnregisterService` and `ServiceLookupReq` (and stops on anything else).
   */
  protocol?: "dividere" | "python";
  /** How long to wait for each answer, in ms; default 3000 (Python's registry takes about 1 s). */
  timeoutMs?: number;
  /**
   * Further attempts after an unanswered request, each at the next registry; default 2 (with
   * more than three registries, one per registry after the first: each is tried once).
   */
  retries?: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/**
 * Talks to a registry: register and unregister instances, look services up, list them all, and watch the
 * instances of services change. Requests are sent one at a time and retried when unanswered
 * (the Lazy Pirate way).
 *
 * Given several registries, the client uses one at a time, the first at start: a try that goes
 * unanswered within `timeoutMs` moves it to the next (wrapping round), and the retry goes
 * there; it stays with a registry that answers. A registry that answers with a refusal is no
 * reason to move. The watches ({@link onChange}, {@link onRediscover}, {@link onConnection})
 * subscribe at every registry at once, so they go on when one dies.
 *
 * ```ts
 * await using registry = new RegistryClient({ endpoint: "tcp://localhost:5000" });
 * const instances = await registry.lookup("chat.v1.History");
 * ```
 */
export class RegistryClient {
  /** Every registry's request endpoint, in order of preference (one, unless given several). */
  readonly registries: readonly string[];
  /** The registry protocol this client speaks; see {@link RegistryClientOptions.protocol}. */
  readonly protocol: "dividere" | "python";
  /** The wire of `protocol`: each request as its messages. */
  readonly #protocol: ClientProtocol;
  readonly #requests: FailoverRequests;
  readonly #publishEndpoint: string | undefined;
  readonly #watchEndpoint: string | undefined;
  readonly #options: SocketOptions;
  readonly #timeoutMs: number;
  readonly #retries: number;
  #rediscovery: RegistryWatch<typeof rediscoveryTypes> | undefined;
  #watch: RegistryWatch<typeof watchTypes> | undefined;
  readonly #changeListeners = new Set<Listener<[string, Instance[]]>>();
  readonly #rediscoverListeners = new Set<Listener<[]>>();
  readonly #connectionListeners = new Set<Listener<[boolean]>>();
  #closed = false;
  /** Each registry's endpoints, once asked (again after a failure). */
  readonly #endpoints = new Map<string, Promise<RegistryEndpoints>>();
  /** The requests asking a registry for its endpoints, each on a socket of its own, closed with the client. */
  readonly #asking = new Set<FailoverRequests>();

  constructor(options: RegistryClientOptions = {}) {
    const {
      endpoint = `tcp://localhost:${REGISTRY_PORT}`,
      publishEndpoint,
      watchEndpoint,
      protocol = "dividere",
      timeoutMs = 3000,
      retries,
      ...socketOptions
    } = options;
    this.registries = [...new Set(typeof endpoint === "string" ? [endpoint] : endpoint)];
    if (this.registries.length > 1 && (publishEndpoint !== undefined || watchEndpoint !== undefined)) {
      throw new DividereError(
        "INVALID_ARGUMENT",
        `publishEndpoint and watchEndpoint name the sockets of one registry, and ${this.registries.length} are given (${this.registries.join(", ")}): ` +
          "leave them out, each registry is asked where it publishes",
      );
    }
    this.#publishEndpoint = publishEndpoint;
    this.#watchEndpoint = watchEndpoint;
    this.protocol = protocol;
    this.#protocol = protocol === "python" ? pythonClient : dividereClient;
    this.#options = { linger: 0, ...socketOptions };
    this.#timeoutMs = timeoutMs;
    this.#retries = retries ?? defaultRetries(this.registries);
    this.#requests = this.#requestsTo(this.registries);
  }

  /** The registry in use: where the next request goes (the first, until one does not answer). */
  get endpoint(): string {
    return this.#requests.endpoint;
  }

  /**
   * Registers an instance, or renews its lease. With the Python protocol only `service` and the
   * host and port of `endpoint` travel.
   */
  async register(instance: MessageInitShape<typeof InstanceSchema>, options: RegistryRequestOptions = {}): Promise<void> {
    const full = create(InstanceSchema, instance);
    if (!(await this.#protocol.register(this.#requests.ask, full, options))) {
      throw new DividereError("INVALID_ARGUMENT", `the registry at ${this.endpoint} refused ${full.service} at ${full.endpoint}`);
    }
  }

  /** Removes an instance (with the Python protocol, the one at `endpoint`). */
  async unregister(service: string, instanceId: string, endpoint = "", options: RegistryRequestOptions = {}): Promise<void> {
    await this.#protocol.unregister(this.#requests.ask, service, instanceId, endpoint, options);
  }

  /** Every live instance of a service (with the Python protocol, the one the registry names, if any). */
  lookup(service: string, options: RegistryRequestOptions = {}): Promise<Instance[]> {
    return this.#protocol.lookup(this.#requests.ask, service, options);
  }

  /**
   * Every service the registry knows, by full name in alphabetical order, with its live
   * instances (`dividere.v1.ListRequest`): what `dividere services` shows. A Python dividere
   * registry has no such request: with the Python protocol this rejects with `UNIMPLEMENTED`,
   * and nothing is sent (it would stop the Python registry).
   *
   * ```ts
   * for (const [service, instances] of await registry.list()) console.log(service, instances.length);
   * ```
   */
  list(options: RegistryRequestOptions = {}): Promise<Map<string, Instance[]>> {
    return this.#protocol.list(this.#requests.ask, this.endpoint, options);
  }

  /**
   * Where the registry in use ({@link endpoint}) answers and publishes. The publish and watch
   * endpoints not given as options are asked of the registry once (`dividere.v1.EndpointsRequest`): it knows its ports,
   * which a client cannot guess when the registry binds free ones; a wildcard host in its answer
   * stands for the host of {@link RegistryClient.endpoint}. With the Python protocol, whose
   * registry cannot be asked, they are the ports after `endpoint`'s, as Python dividere pairs
   * them. Rejects as a request does when the registry does not answer (asked again next time);
   * it is asked on a socket of its own, and does not move the client to another registry.
   */
  endpoints(options: RegistryRequestOptions = {}): Promise<RegistryEndpoints> {
    return this.#endpointsOf(this.endpoint, options);
  }

  /**
   * Calls `listener` with a service's instances whenever they change (each registry's watch, at
   * its `watchEndpoint`, see {@link RegistryClient.endpoints}); returns the way to stop. A Python dividere registry
   * has no watch: with it, `listener` is never called. With several registries, a change each
   * of them publishes is told: the same change twice when they share a store.
   */
  onChange(listener: (service: string, instances: Instance[]) => void): () => void {
    this.#watchChanges();
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /**
   * Calls `listener` when a registry (re)starts and asks every service to register again
   * (`RediscoverReq`, at its `publishEndpoint`, see {@link RegistryClient.endpoints}); returns the way to stop.
   */
  onRediscover(listener: () => void): () => void {
    this.#watchRediscovery();
    this.#rediscoverListeners.add(listener);
    return () => this.#rediscoverListeners.delete(listener);
  }

  /**
   * Calls `listener` with `false` when the connection to the registry's watch drops (the
   * registry stopped or died), and with `true` whenever it is made (again); returns the way to
   * stop. A registry that comes back knows nothing until the services register again. With
   * several registries: `true` when the first of them is connected, `false` when none is.
   */
  onConnection(listener: (connected: boolean) => void): () => void {
    this.#watchChanges();
    this.#connectionListeners.add(listener);
    return () => this.#connectionListeners.delete(listener);
  }

  /**
   * Closes the client at once, and stops watching: the request under way, requests still queued,
   * and later ones reject with `CLOSED`.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#requests, ...this.#asking].map((requests) => requests.close()));
    await Promise.all([this.#rediscovery?.close(), this.#watch?.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #requestsTo(registries: readonly string[]): FailoverRequests {
    return new FailoverRequests({ registries, socketOptions: this.#options, timeoutMs: this.#timeoutMs, retries: this.#retries });
  }

  /** `registry`'s endpoints: given, known, or asked of it alone. */
  #endpointsOf(registry: string, options: RegistryRequestOptions): Promise<RegistryEndpoints> {
    const given = { publishEndpoint: this.#publishEndpoint, watchEndpoint: this.#watchEndpoint };
    if (given.publishEndpoint !== undefined && given.watchEndpoint !== undefined) {
      return Promise.resolve({ endpoint: registry, publishEndpoint: given.publishEndpoint, watchEndpoint: given.watchEndpoint });
    }
    let known = this.#endpoints.get(registry);
    if (!known) {
      known = this.#askEndpoints(registry, options).then((found) => ({
        endpoint: registry,
        publishEndpoint: given.publishEndpoint ?? found.publishEndpoint,
        watchEndpoint: given.watchEndpoint ?? found.watchEndpoint,
      }));
      const asked = known;
      this.#endpoints.set(registry, asked);
      asked.catch(() => this.#endpoints.get(registry) === asked && this.#endpoints.delete(registry));
    }
    return known;
  }

  /** Asks `registry` itself, not whichever is in use: the answer names that registry's sockets. */
  async #askEndpoints(registry: string, options: RegistryRequestOptions): Promise<Omit<RegistryEndpoints, "endpoint">> {
    if (this.#closed) throw new DividereError("CLOSED", "the registry client is closed");
    const requests = this.#requestsTo([registry]);
    this.#asking.add(requests);
    try {
      return await this.#protocol.endpoints(requests.ask, registry, options);
    } finally {
      this.#asking.delete(requests);
      await requests.close();
    }
  }

  /** A subscription to exactly the types a registry socket carries. */
  #subscriber<const T extends readonly DescMessage[]>(endpoint: string, types: T, what: string): Subscriber<T> {
    return new Subscriber(endpoint, { ...this.#options, types, topics: types.map((type) => type.typeName), name: `registry ${what} ${endpoint}` });
  }

  /** What both watches share: every registry, asked one try at a time, again every `timeoutMs`. */
  #watchSetup() {
    return {
      registries: this.registries,
      // One try at a time, so that a registry that is down is asked again soon.
      endpointsOf: (registry: string) => this.#endpointsOf(registry, { retries: 0 }),
      retryMs: this.#timeoutMs,
    };
  }

  #watchRediscovery(): void {
    if (this.#rediscovery || this.#closed) return;
    this.#rediscovery = new RegistryWatch({
      ...this.#watchSetup(),
      which: "publishEndpoint",
      subscribe: (endpoint) => this.#subscriber(endpoint, rediscoveryTypes, "rediscovery"),
      deliver: () => {
        for (const listener of this.#rediscoverListeners) listener();
      },
    });
  }

  #watchChanges(): void {
    if (this.#watch || this.#closed) return;
    this.#watch = new RegistryWatch({
      ...this.#watchSetup(),
      which: "watchEndpoint",
      subscribe: (endpoint) => this.#subscriber(endpoint, watchTypes, "watch"),
      deliver: (change) => {
        for (const listener of this.#changeListeners) listener(change.service, change.instances);
      },
      onConnection: (connected) => {
        for (const listener of this.#connectionListeners) listener(connected);
      },
    });
  }
}
