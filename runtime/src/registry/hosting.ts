import type { DescService } from "@bufbuild/protobuf";
import { hostname } from "node:os";
import type { Health } from "../builtin/health.js";
import type { Endpoint } from "../connection/endpoint.js";
import { DividereError } from "../errors.js";
import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { type CloseOptions, DEFAULT_GRACE_MS } from "../lifecycle.js";
import { RpcServer, type RpcServerOptions } from "../rpc/server.js";
import type { ServiceImpl } from "../rpc/types.js";
import { CLOSE_SIGNALS, type CloseOnSignalsOptions, SignalClose } from "../signals.js";
import { RegistryClient } from "./client.js";
import { DEFAULT_TTL_MS, advertisedEndpoint } from "./defaults.js";
import { Registration, type WaitForRegistrationOptions } from "./registration.js";

export type { WaitForRegistrationOptions } from "./registration.js";

/** Options of {@link serve}; the socket options and `maxHeaderBytes` apply to the server. */
export interface ServeOptions extends RpcServerOptions {
  /** Where to bind; default `tcp://*:0`, a free port. */
  endpoint?: Endpoint;
  /** Bind the first free port of this range instead, as Python dividere's services do (5100-6000). */
  portRange?: readonly [number, number];
  /**
   * The host name or address the registry tells clients. Default: the address the server is
   * bound to (`tcp://127.0.0.1:0` → `127.0.0.1`), or for a wildcard (`tcp://*:0`, the default
   * endpoint) this host's first external IPv4 address.
   */
  host?: string;
  /**
   * Register with this registry: its request endpoint (`tcp://host:5000`), several registries
   * of one view in order of preference (registrations and renewals move to the next when one
   * stops answering), or a client of it.
   */
  registry?: string | readonly string[] | RegistryClient;
  /**
   * `"python"` registers with a Python dividere registry (`RegisterService`, no lease). With a
   * `RegistryClient` as `registry`, the client's `protocol` is used: leave this out, or give
   * the same (another is `INVALID_ARGUMENT`).
   */
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
 * A service program ends with {@link ServiceHost.closeOnSignals}, so that `kill` and Ctrl-C close
 * it gracefully.
 */
export class ServiceHost {
  /** The server that answers the calls. */
  readonly server: RpcServer;
  /** Where clients reach it, as registered. */
  readonly endpoint: string;
  /** The entries of the services: kept in the registry when there is one, else only listed. */
  readonly #registration: Registration | undefined;
  readonly #instances: Instance[] = [];
  readonly #ttlMs: number;
  readonly #metadata: Record<string, string>;
  #closing: Promise<void> | undefined;
  #signalClose: SignalClose | undefined;

  /** @internal use {@link serve} */
  constructor(server: RpcServer, options: ServeOptions) {
    this.server = server;
    this.endpoint = advertisedEndpoint(server.endpoint, options.host);
    const protocol = registryProtocolOf(options);
    this.#ttlMs = protocol === "python" ? 0 : (options.ttlMs ?? DEFAULT_TTL_MS);
    this.#metadata = options.metadata ?? {};
    if (options.registry !== undefined) {
      this.#registration = new Registration(options.registry, {
        ttlMs: this.#ttlMs,
        protocol,
        holder: "service",
        onError: options.onError ?? ((error) => console.error(`dividere service: ${error.message}`)),
      });
    }
  }

  /**
   * The health the host's server reports through `grpc.health.v1.Health`: each hosted service
   * is `SERVING` once added; `host.health.set("chat.v1.History", "NOT_SERVING")` changes it.
   * {@link close} turns every status `NOT_SERVING` first, before it unregisters.
   */
  get health(): Health {
    return this.server.health;
  }

  /** The registry entries of this host, one per service. */
  get instances(): readonly Instance[] {
    return this.#instances;
  }

  /**
   * Hosts one more service on the same server, and registers it in the background (see
   * {@link waitForRegistration}): a registry that is down does not hold the service up.
   */
  async add<S extends DescService>(service: S, implementation: NoInfer<ServiceImpl<S>>): Promise<void> {
    this.server.add(service, implementation);
    const instance: Instance = {
      $typeName: "dividere.v1.Instance",
      service: service.typeName,
      instanceId: `${hostname()}/${process.pid}/${++instances}`,
      endpoint: this.endpoint,
      ttlMs: this.#ttlMs,
      metadata: this.#metadata,
    };
    this.#instances.push(instance);
    this.#registration?.add(instance);
  }

  /**
   * Resolves once the registry has acknowledged every service of this host (at once without a
   * registry). `serve()` does not wait for the registry: a service answers calls as soon as it
   * is bound, and registers in the background, trying again until the registry answers. Rejects
   * with `TIMEOUT` (saying why registering fails), `CANCELLED`, or `CLOSED` when the host closes.
   *
   * ```ts
   * const host = await serve(HistoryDefinition, history, { registry: "tcp://localhost:5000" });
   * await host.waitForRegistration({ timeoutMs: 5000 });
   * ```
   */
  waitForRegistration(options: WaitForRegistrationOptions = {}): Promise<void> {
    return this.#registration?.waitForRegistration(options) ?? Promise.resolve();
  }

  /**
   * Closes gracefully when the process gets SIGTERM or SIGINT (or `signals`): as {@link close},
   * which unregisters first, then lets the calls in flight finish (up to `graceMs`). Once the
   * host has closed the process exits by itself, with code 0, unless something else of the
   * program keeps it alive: close that after the promise resolves. Only the first signal is
   * handled; a second one ends the process at once, as it would without this. Resolves once
   * the host closed, with the signal, or `undefined` when `close()` was called instead (which
   * also stops the listening). Later calls return the same promise.
   *
   * ```ts
   * const host = await serve(HistoryDefinition, history, { registry: "tcp://localhost:5000" });
   * await host.closeOnSignals();
   * await otherSockets.close();
   * ```
   */
  closeOnSignals(options: CloseOnSignalsOptions = {}): Promise<NodeJS.Signals | undefined> {
    if (this.#signalClose) return this.#signalClose.closed;
    if (this.#closing) return this.#closing.then(() => undefined);
    this.#signalClose = new SignalClose(options.signals ?? CLOSE_SIGNALS, () => void this.close(options));
    return this.#signalClose.closed;
  }

  /**
   * Closes gracefully: reports every service `NOT_SERVING`, unregisters, lets calls in flight
   * finish, closes the server, all within `graceMs` (default {@link DEFAULT_GRACE_MS}). A registry that does not answer is not waited
   * for beyond the grace; it forgets the instance when its lease runs out. Later calls return
   * the same promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= (async () => {
      const until = Date.now() + (options.graceMs ?? DEFAULT_GRACE_MS);
      this.server.health.shutdown();
      this.#signalClose?.release();
      await this.#registration?.close(until);
      await this.server.close({ graceMs: Math.max(0, until - Date.now()) });
    })().finally(() => this.#signalClose?.finished());
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Hosts an implementation of `service`, a protoc-gen-es descriptor (`History`, or the generated
 * `HistoryDefinition`, which is it) whose methods type the implementation's: binds a free port
 * (or one of `portRange`), answers calls, and registers under the service's full name when a
 * registry is given, renewing the lease and registering again whenever the registry restarts. The successor of Python dividere's `Service`.
 * It resolves once the server is bound: registration goes on in the background, retried until
 * the registry answers (failures go to `onError`); {@link ServiceHost.waitForRegistration}
 * waits for it.
 *
 * ```ts
 * const host = await serve(HistoryDefinition, history, { registry: "tcp://localhost:5000" });
 * await host.close();
 * ```
 */
export async function serve<S extends DescService>(
  service: S,
  implementation: NoInfer<ServiceImpl<S>>,
  options: ServeOptions = {},
): Promise<ServiceHost> {
  registryProtocolOf(options); // before binding: a contradiction leaves nothing open
  const host = new ServiceHost(bindServer(options), options);
  try {
    await host.add(service, implementation);
  } catch (error) {
    await host.close();
    throw error;
  }
  return host;
}

/**
 * The registry protocol a host speaks: its client's, when given one (a host that registered
 * with a lease over a Python client would re-send RegisterService every second; one without a
 * lease over a dividere client would register for ever), else `registryProtocol`.
 */
function registryProtocolOf({ registry, registryProtocol }: ServeOptions): "dividere" | "python" {
  if (!(registry instanceof RegistryClient)) return registryProtocol ?? "dividere";
  if (registryProtocol !== undefined && registryProtocol !== registry.protocol) {
    throw new DividereError(
      "INVALID_ARGUMENT",
      `registryProtocol "${registryProtocol}" contradicts the protocol of the RegistryClient given as registry ("${registry.protocol}"): ` +
        "leave registryProtocol out, a client's own protocol is used",
    );
  }
  return registry.protocol;
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
