import { hostname } from "node:os";
import type { Endpoint } from "../connection/endpoint.js";
import type { SocketOptions } from "../connection/options.js";
import { DividereError } from "../errors.js";
import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { debug } from "../log.js";
import { RpcServer } from "../rpc/server.js";
import type { ServiceDefinition } from "../rpc/types.js";
import { STOP_SIGNALS, SignalStop, type StopOnSignalsOptions } from "../signals.js";
import { RegistryClient } from "./client.js";
import { DEFAULT_TTL_MS, advertisedHost, hostAndPort } from "./defaults.js";

/** Options of {@link serve}; the socket options apply to the server's socket. */
export interface ServeOptions extends SocketOptions {
  /** Where to bind; default `tcp://*:0`, a free port. */
  endpoint?: Endpoint;
  /** Bind the first free port of this range instead, as Python dividere's services do (5100-6000). */
  portRange?: readonly [number, number];
  /** The host name or address the registry tells clients; default: this host's first external IPv4 address. */
  host?: string;
  /** Register with this registry: its request endpoint (`tcp://host:5000`), or a client of it. */
  registry?: string | RegistryClient;
  /** `"python"` registers with a Python dividere registry (`RegisterService`, no lease). */
  registryProtocol?: "dividere" | "python";
  /** The instance's lease in ms, renewed every third of it; default 3000. */
  ttlMs?: number;
  /** Key/values the registry keeps with the instance. */
  metadata?: Record<string, string>;
  /** Where registration failures go; default: a line on stderr (the service keeps trying). */
  onError?: (error: DividereError) => void;
}

let instances = 0;

/**
 * A hosted service: its RPC server, and its registration in the registry, renewed while it runs.
 * A service program ends with {@link ServiceHost.stopOnSignals}, so that `kill` and Ctrl-C stop
 * it gracefully.
 */
export class ServiceHost {
  /** The server that answers the calls. */
  readonly server: RpcServer;
  /** Where clients reach it, as registered. */
  readonly endpoint: string;
  readonly #registry: RegistryClient | undefined;
  readonly #ownsRegistry: boolean;
  readonly #instances: Instance[] = [];
  readonly #ttlMs: number;
  readonly #metadata: Record<string, string>;
  readonly #onError: (error: DividereError) => void;
  readonly #renewal: NodeJS.Timeout | undefined;
  readonly #stopRediscovery: (() => void) | undefined;
  #failing = false;
  #registering: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #signalStop: SignalStop | undefined;

  /** @internal use {@link serve} */
  constructor(server: RpcServer, options: ServeOptions) {
    this.server = server;
    const port = hostAndPort(server.endpoint)?.port;
    this.endpoint = port === undefined ? server.endpoint : `tcp://${options.host ?? advertisedHost()}:${port}`;
    this.#ttlMs = options.registryProtocol === "python" ? 0 : (options.ttlMs ?? DEFAULT_TTL_MS);
    this.#metadata = options.metadata ?? {};
    this.#onError = options.onError ?? ((error) => console.error(`dividere service: ${error.message}`));
    if (options.registry !== undefined) {
      this.#ownsRegistry = typeof options.registry === "string";
      this.#registry =
        typeof options.registry === "string"
          ? new RegistryClient({ endpoint: options.registry, protocol: options.registryProtocol })
          : options.registry;
      this.#stopRediscovery = this.#registry.onRediscover(() => void this.#registerAll("the registry asked (RediscoverReq)"));
      if (this.#ttlMs > 0) this.#renewal = setInterval(() => void this.#registerAll("lease renewal"), this.#ttlMs / 3);
    } else {
      this.#ownsRegistry = false;
    }
  }

  /** The registry entries of this host, one per service. */
  get instances(): readonly Instance[] {
    return this.#instances;
  }

  /** Hosts one more service on the same server, and registers it. */
  async add<Impl extends object>(definition: ServiceDefinition<Impl>, implementation: Impl): Promise<void> {
    this.server.add(definition, implementation);
    const instance: Instance = {
      $typeName: "dividere.v1.Instance",
      service: definition.service.typeName,
      instanceId: `${hostname()}/${process.pid}/${++instances}`,
      endpoint: this.endpoint,
      ttlMs: this.#ttlMs,
      metadata: this.#metadata,
    };
    this.#instances.push(instance);
    await this.#register(instance, "start");
  }

  /**
   * Stops gracefully when the process gets SIGTERM or SIGINT (or `signals`): as {@link stop},
   * which unregisters first, then lets the calls in flight finish (up to `graceMs`). Once the
   * host has stopped the process exits by itself, with code 0, unless something else of the
   * program keeps it alive: close that after the promise resolves. Only the first signal is
   * handled; a second one ends the process at once, as it would without this. Resolves once
   * the host stopped, with the signal, or `undefined` when `stop()` was called instead (which
   * also stops the listening). Later calls return the same promise.
   *
   * ```ts
   * const host = await serve(HistoryDefinition, history, { registry: "tcp://localhost:5000" });
   * await host.stopOnSignals();
   * await otherSockets.close();
   * ```
   */
  stopOnSignals(options: StopOnSignalsOptions = {}): Promise<NodeJS.Signals | undefined> {
    if (this.#signalStop) return this.#signalStop.stopped;
    if (this.#stopping) return this.#stopping.then(() => undefined);
    this.#signalStop = new SignalStop(options.signals ?? STOP_SIGNALS, () => void this.stop(options.graceMs));
    return this.#signalStop.stopped;
  }

  /** Unregisters, lets calls in flight finish (up to `graceMs`), closes the server. */
  stop(graceMs?: number): Promise<void> {
    this.#stopping ??= (async () => {
      this.#signalStop?.release();
      clearInterval(this.#renewal);
      this.#stopRediscovery?.();
      if (this.#registry) {
        await this.#registering;
        for (const instance of this.#instances) {
          // One attempt: a registry that does not answer forgets the instance when its lease ends.
          await this.#registry
            .unregister(instance.service, instance.instanceId, instance.endpoint, { retries: 0 })
            .catch((error: unknown) => debug("service: cannot unregister %s: %s", instance.service, error));
        }
      }
      await this.server.close(graceMs);
      if (this.#ownsRegistry) await this.#registry?.close();
    })().finally(() => this.#signalStop?.finished());
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Registers every instance again; a renewal still under way is not doubled (a slow registry would pile them up). */
  #registerAll(why: string): Promise<void> {
    this.#registering ??= (async () => {
      for (const instance of this.#instances) await this.#register(instance, why);
    })().finally(() => (this.#registering = undefined));
    return this.#registering;
  }

  async #register(instance: Instance, why: string): Promise<void> {
    if (!this.#registry || this.#stopping) return;
    try {
      await this.#registry.register(instance);
      if (this.#failing) debug("service %s: registered again", instance.service);
      this.#failing = false;
      debug("service %s registered at %s (%s)", instance.service, instance.endpoint, why);
    } catch (error) {
      if (!this.#failing) {
        this.#onError(
          new DividereError("UNAVAILABLE", `${instance.service} cannot register at ${this.#registry.endpoint}: ${(error as Error).message}; retrying`, {
            cause: error,
          }),
        );
      }
      this.#failing = true;
    }
  }
}

/**
 * Hosts a service implementation: binds a free port (or one of `portRange`), answers calls,
 * and registers under the service's full name when a registry is given, renewing the lease and
 * registering again whenever the registry restarts. The successor of Python dividere's `Service`.
 *
 * ```ts
 * const host = await serve(HistoryDefinition, history, { registry: "tcp://localhost:5000" });
 * await host.stop();
 * ```
 */
export async function serve<Impl extends object>(
  definition: ServiceDefinition<Impl>,
  implementation: Impl,
  options: ServeOptions = {},
): Promise<ServiceHost> {
  const host = new ServiceHost(bindServer(options), options);
  try {
    await host.add(definition, implementation);
  } catch (error) {
    await host.stop();
    throw error;
  }
  return host;
}

function bindServer(options: ServeOptions): RpcServer {
  const { endpoint, portRange, ...socketOptions } = options;
  if (!portRange) return new RpcServer(endpoint ?? "tcp://*:0", socketOptions);
  const [min, max] = portRange;
  for (let port = min; port <= max; port++) {
    try {
      return new RpcServer(`tcp://*:${port}`, socketOptions);
    } catch (error) {
      if (!DividereError.is(error, "BIND_FAILED")) throw error;
    }
  }
  throw new DividereError("BIND_FAILED", `no free port in ${min}-${max} to host the service on`);
}
