import { setTimeout as sleep } from "node:timers/promises";
import { type DescMessage, type MessageInitShape, create } from "@bufbuild/protobuf";
import type { SocketOptions } from "../connection/options.js";
import { type Limits, within } from "../deadline.js";
import type { MessageOf } from "../envelope/types.js";
import { DividereError } from "../errors.js";
import { RpcError } from "../rpc/status.js";
import { type Instance, InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { debug } from "../log.js";
import { Subscriber } from "../messaging/pubsub.js";
import { Request } from "../messaging/reqrep.js";
import { REGISTRY_PORT } from "./defaults.js";
import { dividereClient } from "./dividere-protocol.js";
import type { Ask, ClientProtocol, RegistryEndpoints, RegistryRequestOptions } from "./protocol.js";
import { pythonClient } from "./python-protocol.js";
import { rediscoveryTypes, registryTypes, watchTypes } from "./server.js";


/** Options of a {@link RegistryClient}; the socket options apply to its sockets, with `linger` 0 unless given. */
export interface RegistryClientOptions extends SocketOptions {
  /** Where the registry answers; default `tcp://localhost:5000`. */
  endpoint?: string;
  /**
   * Where the registry publishes `RediscoverReq` ({@link RegistryClient.onRediscover}). Default:
   * asked of the registry (see {@link RegistryClient.endpoints}); with the Python protocol,
   * whose registry cannot say, the same host and the port after `endpoint`'s, as Python pairs them.
   */
  publishEndpoint?: string;
  /**
   * Where the registry publishes `InstancesChanged` ({@link RegistryClient.onChange},
   * {@link RegistryClient.onConnection}). Default: asked of the registry (see
   * {@link RegistryClient.endpoints}). A Python registry has none.
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
  /** Further attempts after an unanswered request; default 2. */
  retries?: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** A subscription of the client's, once its endpoint is known, and the loop that hands its messages to the listeners. */
interface Watcher {
  subscriber: { close(): Promise<void> } | undefined;
  loop: Promise<void>;
}

/**
 * Talks to a registry: register and unregister instances, look services up, list them all, and watch the
 * instances of services change. Requests are sent one at a time and retried when unanswered
 * (the Lazy Pirate way).
 *
 * ```ts
 * await using registry = new RegistryClient({ endpoint: "tcp://localhost:5000" });
 * const instances = await registry.lookup("chat.v1.History");
 * ```
 */
export class RegistryClient {
  /** Where the registry answers. */
  readonly endpoint: string;
  /** The registry protocol this client speaks; see {@link RegistryClientOptions.protocol}. */
  readonly protocol: "dividere" | "python";
  /** The wire of `protocol`: each request as its messages. */
  readonly #protocol: ClientProtocol;
  /** How the protocol sends a request: through this client's queue, retries and limits. */
  readonly #asker: Ask = (schema, init, options) => this.#ask(schema, init, options);
  readonly #publishEndpoint: string | undefined;
  readonly #watchEndpoint: string | undefined;
  readonly #options: SocketOptions;
  readonly #timeoutMs: number;
  readonly #retries: number;
  #request: Request<typeof registryTypes>;
  #queue: Promise<unknown> = Promise.resolve();
  #rediscovery: Watcher | undefined;
  #watch: Watcher | undefined;
  readonly #changeListeners = new Set<Listener<[string, Instance[]]>>();
  readonly #rediscoverListeners = new Set<Listener<[]>>();
  readonly #connectionListeners = new Set<Listener<[boolean]>>();
  #closed = false;
  /** Wakes a watcher that waits to ask for the endpoints again when the client closes. */
  readonly #closing = new AbortController();
  /** The registry's endpoints, once asked (again after a failure). */
  #endpoints: Promise<RegistryEndpoints> | undefined;

  constructor(options: RegistryClientOptions = {}) {
    const {
      endpoint = `tcp://localhost:${REGISTRY_PORT}`,
      publishEndpoint,
      watchEndpoint,
      protocol = "dividere",
      timeoutMs = 3000,
      retries = 2,
      ...socketOptions
    } = options;
    this.endpoint = endpoint;
    this.#publishEndpoint = publishEndpoint;
    this.#watchEndpoint = watchEndpoint;
    this.protocol = protocol;
    this.#protocol = protocol === "python" ? pythonClient : dividereClient;
    this.#options = { linger: 0, ...socketOptions };
    this.#timeoutMs = timeoutMs;
    this.#retries = retries;
    this.#request = this.#openRequest();
  }

  /**
   * Registers an instance, or renews its lease. With the Python protocol only `service` and the
   * host and port of `endpoint` travel.
   */
  async register(instance: MessageInitShape<typeof InstanceSchema>, options: RegistryRequestOptions = {}): Promise<void> {
    const full = create(InstanceSchema, instance);
    if (!(await this.#protocol.register(this.#asker, full, options))) {
      throw new DividereError("INVALID_ARGUMENT", `the registry at ${this.endpoint} refused ${full.service} at ${full.endpoint}`);
    }
  }

  /** Removes an instance (with the Python protocol, the one at `endpoint`). */
  async unregister(service: string, instanceId: string, endpoint = "", options: RegistryRequestOptions = {}): Promise<void> {
    await this.#protocol.unregister(this.#asker, service, instanceId, endpoint, options);
  }

  /** Every live instance of a service (with the Python protocol, the one the registry names, if any). */
  lookup(service: string, options: RegistryRequestOptions = {}): Promise<Instance[]> {
    return this.#protocol.lookup(this.#asker, service, options);
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
    return this.#protocol.list(this.#asker, this.endpoint, options);
  }

  /**
   * Where the registry answers and publishes. The publish and watch endpoints not given as
   * options are asked of the registry once (`dividere.v1.EndpointsRequest`): it knows its ports,
   * which a client cannot guess when the registry binds free ones; a wildcard host in its answer
   * stands for the host of {@link RegistryClient.endpoint}. With the Python protocol, whose
   * registry cannot be asked, they are the ports after `endpoint`'s, as Python dividere pairs
   * them. Rejects as a request does when the registry does not answer (asked again next time).
   */
  endpoints(options: RegistryRequestOptions = {}): Promise<RegistryEndpoints> {
    const given = { publishEndpoint: this.#publishEndpoint, watchEndpoint: this.#watchEndpoint };
    if (given.publishEndpoint !== undefined && given.watchEndpoint !== undefined) {
      return Promise.resolve({ endpoint: this.endpoint, publishEndpoint: given.publishEndpoint, watchEndpoint: given.watchEndpoint });
    }
    this.#endpoints ??= this.#protocol.endpoints(this.#asker, this.endpoint, options).then((found) => ({
      endpoint: this.endpoint,
      publishEndpoint: given.publishEndpoint ?? found.publishEndpoint,
      watchEndpoint: given.watchEndpoint ?? found.watchEndpoint,
    }));
    this.#endpoints.catch(() => (this.#endpoints = undefined));
    return this.#endpoints;
  }

  /**
   * Calls `listener` with a service's instances whenever they change (the registry's watch, at
   * its `watchEndpoint`, see {@link RegistryClient.endpoints}); returns the way to stop. A Python dividere registry
   * has no watch: with it, `listener` is never called.
   */
  onChange(listener: (service: string, instances: Instance[]) => void): () => void {
    this.#watchChanges();
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /**
   * Calls `listener` when the registry (re)starts and asks every service to register again
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
   * stop. A registry that comes back knows nothing until the services register again.
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
    this.#closing.abort();
    await this.#request.close();
    await this.#queue.catch(() => undefined);
    for (const watcher of [this.#rediscovery, this.#watch]) {
      await watcher?.subscriber?.close();
      await watcher?.loop;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Sends one request and waits for its answer; one at a time, retried when unanswered, and
   * given up (queued or under way) when its `timeoutMs` passes or its signal aborts.
   */
  #ask<S extends (typeof registryTypes)[number]>(schema: S, init: MessageInitShape<S>, options: RegistryRequestOptions): Promise<MessageOf<typeof registryTypes>> {
    const limits: Limits = { deadline: options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs, signal: options.signal };
    const asked = this.#queue.then(() => this.#exchange(schema, init, options.retries ?? this.#retries, limits));
    this.#queue = asked.catch(() => undefined);
    return within(asked, limits, {
      expired: () => this.#noAnswer(schema, `within ${options.timeoutMs} ms`, "TIMEOUT"),
      cancelled: (reason) => new RpcError("CANCELLED", `${schema.typeName} to the registry at ${this.endpoint} was cancelled by its AbortSignal`, { cause: reason }),
    });
  }

  async #exchange<S extends (typeof registryTypes)[number]>(
    schema: S,
    init: MessageInitShape<S>,
    retries: number,
    { deadline, signal }: Limits,
  ): Promise<MessageOf<typeof registryTypes>> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new DividereError("CLOSED", "the registry client is closed");
      // A request whose caller gave up while it waited its turn is not sent.
      const left = deadline === undefined ? this.#timeoutMs : Math.min(this.#timeoutMs, deadline - Date.now());
      if (signal?.aborted || left <= 0) throw this.#noAnswer(schema, "in time", "TIMEOUT");
      try {
        // With no registry to connect to, the send itself waits: its sendTimeout bounds that.
        await this.#request.send(schema, init);
        return await this.#request.recv({ timeoutMs: left, signal });
      } catch (error) {
        const unanswered = DividereError.is(error, "TIMEOUT");
        if (!unanswered && !DividereError.is(error, "CANCELLED")) throw error;
        // A REQ socket that lost its reply is stuck: the Lazy Pirate way is a new socket.
        await this.#request.close();
        if (this.#closed) throw new DividereError("CLOSED", "the registry client is closed");
        this.#request = this.#openRequest();
        if (!unanswered) throw error;
        if (attempt >= retries) {
          const tries = attempt === 0 ? "(1 try)" : `on each of ${attempt + 1} tries`;
          throw this.#noAnswer(schema, `within ${this.#timeoutMs} ms ${tries}`, "UNAVAILABLE");
        }
        debug("registry client: no answer from %s, trying again", this.endpoint);
      }
    }
  }

  #noAnswer(schema: DescMessage, how: string, code: "TIMEOUT" | "UNAVAILABLE"): DividereError {
    const message = `the registry at ${this.endpoint} did not answer ${schema.typeName} ${how}; is it running?`;
    // UNAVAILABLE is how a call ends, so it is an RpcError, as every error of a call is; TIMEOUT is a socket's.
    return code === "UNAVAILABLE" ? new RpcError(code, message) : new DividereError(code, message);
  }

  #openRequest(): Request<typeof registryTypes> {
    return new Request(this.endpoint, {
      ...this.#options,
      sendTimeout: this.#timeoutMs,
      types: registryTypes,
      name: `registry client ${this.endpoint}`,
    });
  }

  /** A subscription to exactly the types a registry socket carries. */
  #subscriber<const T extends readonly DescMessage[]>(endpoint: string, types: T, what: string): Subscriber<T> {
    return new Subscriber(endpoint, { ...this.#options, types, topics: types.map((type) => type.typeName), name: `registry ${what} ${endpoint}` });
  }

  #watchRediscovery(): void {
    if (this.#rediscovery || this.#closed) return;
    this.#rediscovery = this.#watcher("publishEndpoint", rediscoveryTypes, "rediscovery", () => {
      for (const listener of this.#rediscoverListeners) listener();
    });
  }

  #watchChanges(): void {
    if (this.#watch || this.#closed) return;
    this.#watch = this.#watcher(
      "watchEndpoint",
      watchTypes,
      "watch",
      (change) => {
        for (const listener of this.#changeListeners) listener(change.service, change.instances);
      },
      (subscriber) => {
        for (const [event, connected] of [["handshake", true], ["disconnect", false]] as const) {
          subscriber.events.on(event, () => {
            for (const listener of this.#connectionListeners) listener(connected);
          });
        }
      },
    );
  }

  /**
   * Subscribes at the registry's `which` endpoint once it is known (asking again, every
   * `timeoutMs`, while the registry does not answer) and hands each message to `deliver`
   * until the client closes.
   */
  #watcher<const T extends readonly DescMessage[]>(
    which: "publishEndpoint" | "watchEndpoint",
    types: T,
    what: string,
    deliver: (message: MessageOf<T>) => void,
    prepare?: (subscriber: Subscriber<T>) => void,
  ): Watcher {
    const watcher: Watcher = { subscriber: undefined, loop: Promise.resolve() };
    watcher.loop = (async () => {
      let endpoint: string | undefined;
      while (endpoint === undefined) {
        try {
          // One try at a time: a registry that is down must not hold the requests queued behind it for long.
          endpoint = (await this.endpoints({ retries: 0 }))[which];
        } catch (error) {
          if (this.#closed) return;
          debug("registry client: cannot learn the %s of %s yet: %s", which, this.endpoint, error);
          await sleep(this.#timeoutMs, undefined, { signal: this.#closing.signal }).catch(() => undefined);
        }
        if (this.#closed) return;
      }
      const subscriber = this.#subscriber(endpoint, types, what);
      watcher.subscriber = subscriber;
      prepare?.(subscriber);
      for await (const message of subscriber) deliver(message);
    })();
    return watcher;
  }
}
