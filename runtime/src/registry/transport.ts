import type { SocketOptions } from "../connection/options.js";
import { within } from "../deadline.js";
import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { debug } from "../log.js";
import { Channel } from "../rpc/channel.js";
import { RpcError } from "../rpc/status.js";
import type { ClientInterceptorOptions, Interceptor } from "../rpc/interceptor.js";
import type { ChannelRequest, Transport } from "../rpc/transport.js";
import type { CallOptions } from "../rpc/types.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";
import { theRegistries } from "./failover.js";

/** Options of {@link registryTransport}; the socket options apply to its connections to the instances. */
export interface RegistryTransportOptions extends SocketOptions, ClientInterceptorOptions {
  /** How the registry is spoken to (see {@link RegistryClientOptions}). */
  registry?: Omit<RegistryClientOptions, keyof SocketOptions>;
  /** Look a service up again after this many ms, besides watching it; default 2000. */
  refreshMs?: number;
  /** How long a new connection to an instance may take before the instance is passed over, in ms; default 1000. */
  connectTimeoutMs?: number;
  /** Options every call over the transport has unless it says otherwise (`timeoutMs`, `retries`, ...). */
  defaults?: CallOptions;
}

/**
 * For how long after the registry comes back its word that an instance is gone is not taken:
 * a restarted registry knows nothing until the services register again, which they do when it
 * asks (RediscoverReq) or when their lease is renewed. The registry's own rediscovery window.
 */
const RESTART_GRACE_MS = 5000;

/** The longest an instance the registry no longer lists keeps its connection for the calls in flight on it. */
const DRAIN_MS = 10_000;

interface Known {
  instance: Instance;
  channel: Channel;
  /** Resolves true once connected; false when it did not connect in time. */
  reachable: Promise<boolean>;
}

interface ServiceState {
  known: Map<string, Known>;
  /** Instances whose connection failed, and until when they are not tried again. */
  shunned: Map<string, number>;
  turn: number;
  lookedAt: number;
  refreshing: Promise<void> | undefined;
}

/**
 * A transport that finds servers by service name through the registry: it spreads calls over
 * the live instances of a service, learns of new and departed instances (the registry's watch,
 * and a lookup every `refreshMs`), and stops using an instance the moment its connection drops.
 * Calls in flight on a lost instance fail with `UNAVAILABLE`, and move to another instance when
 * their `retries` allow; calls in flight on an instance that unregistered (it is stopping) are
 * let finish. Without the registry (it died, it restarts), calls go on to the instances known:
 * lookups happen beside the calls, never in their way, and for a while after the registry is
 * back it can add instances but not take known ones away. Given several registries (or a
 * client of several), lookups move to the next when one stops answering, the watch follows all
 * of them, and a move to another registry is taken as a restart: for a while it can add
 * instances but not take known ones away.
 *
 * ```ts
 * const client = new HistoryClient(registryTransport("tcp://localhost:5000"));
 * const failingOver = new HistoryClient(registryTransport(["tcp://registry-a:5000", "tcp://registry-b:5000"]));
 * ```
 */
export function registryTransport(registry: string | readonly string[] | RegistryClient, options: RegistryTransportOptions = {}): Transport {
  return new RegistryTransport(registry, options);
}

/** @internal The transport behind {@link registryTransport}; the broker transport uses it too (see `lookupAs`). */
export class RegistryTransport implements Transport {
  readonly #client: RegistryClient;
  readonly #ownsClient: boolean;
  readonly #services = new Map<string, ServiceState>();
  readonly defaults: CallOptions | undefined;
  readonly interceptors: readonly Interceptor[] | undefined;
  readonly #options: RegistryTransportOptions;
  /** The options of the connections to the instances. */
  readonly #channelOptions: SocketOptions;
  readonly #stopWatching: () => void;
  /** Channels of instances the registry no longer lists, closing once their calls end. */
  readonly #draining = new Map<Channel, NodeJS.Timeout>();
  #registryLost = false;
  /** The registry the client used when last heard from: another one means the client moved to it. */
  #registryInUse: string;
  /** Until when the registry (back after it was lost) may add instances but not remove them. */
  #addOnlyUntil = 0;
  #closed = false;
  /** The one name every call's servers are looked up under (brokers, whatever the call's service), if any. */
  readonly #lookupAs: string | undefined;

  /** `lookupAs`: look every call's servers up under this one name instead of the call's service. */
  constructor(registry: string | readonly string[] | RegistryClient, options: RegistryTransportOptions, lookupAs?: string) {
    this.#options = options;
    this.#lookupAs = lookupAs;
    const { registry: _registry, refreshMs: _refreshMs, connectTimeoutMs: _connectTimeoutMs, defaults, interceptors, ...channelOptions } = options;
    this.defaults = defaults;
    this.interceptors = interceptors;
    this.#channelOptions = channelOptions;
    this.#ownsClient = !(registry instanceof RegistryClient);
    this.#client = registry instanceof RegistryClient ? registry : new RegistryClient({ ...options.registry, endpoint: registry });
    this.#registryInUse = this.#client.endpoint;
    if (this.#client.protocol === "dividere") {
      const stops = [
        this.#client.onChange((service, instances) => {
          const state = this.#services.get(service);
          if (state) this.#reconcile(service, state, instances);
        }),
        this.#client.onConnection((connected) => {
          if (!connected) this.#registryLost = true;
          else if (this.#registryLost) {
            this.#registryLost = false;
            this.#addOnlyUntil = Date.now() + RESTART_GRACE_MS;
          }
        }),
      ];
      this.#stopWatching = () => stops.forEach((stop) => stop());
    } else {
      this.#stopWatching = () => undefined;
    }
  }

  async channel(callService: string, call: ChannelRequest): Promise<Channel> {
    if (this.#closed) throw new RpcError("UNAVAILABLE", "the transport is closed");
    const service = this.#lookupAs ?? callService;
    let state = this.#services.get(service);
    if (!state) {
      state = { known: new Map(), shunned: new Map(), turn: 0, lookedAt: 0, refreshing: undefined };
      this.#services.set(service, state);
    }
    const { registries } = this.#client;
    const lookup = () =>
      waitFor(this.#refresh(service, state), call, `${service}: ${theRegistries(registries)} did not answer its lookup (${registries.length > 1 ? "are they" : "is it"} running?)`);
    if (state.known.size === 0) await lookup();
    // A registry that is slow or gone must not hold up calls to the instances known.
    else if (Date.now() - state.lookedAt > (this.#options.refreshMs ?? 2000)) this.#refresh(service, state).catch(() => undefined);
    for (let pass = 0; pass < 2; pass++) {
      const candidates = [...state.known.values()];
      const fresh = candidates.filter((known) => !call.avoid.includes(known.channel));
      // Instances already connected first, in turn; a new one only when none is.
      const ordered = rotate(fresh.length > 0 ? fresh : candidates, state.turn++).sort(
        (a, b) => Number(b.channel.connected) - Number(a.channel.connected),
      );
      for (const known of ordered) {
        // Connected: nothing to wait for (no timer, no promise per call on the hot path).
        if (known.channel.connected) return known.channel;
        const why = `${service}: the instance at ${known.instance.endpoint} did not complete its connection (is it hung?)`;
        if (await waitFor(known.reachable, call, why)) return known.channel;
        this.#forget(service, state, known, "it did not connect", true);
      }
      if (pass === 0) await lookup();
    }
    throw new RpcError("UNAVAILABLE", `no reachable instance of ${service} is registered at ${this.#client.endpoint}`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatching();
    const channels = [...this.#services.values()].flatMap((state) => [...state.known.values()].map((known) => known.channel));
    this.#services.clear();
    for (const [channel, timer] of this.#draining) {
      clearInterval(timer);
      channels.push(channel);
    }
    this.#draining.clear();
    await Promise.all(channels.map((channel) => channel.close()));
    if (this.#ownsClient) await this.#client.close();
  }

  #refresh(service: string, state: ServiceState): Promise<void> {
    state.refreshing ??= this.#client
      .lookup(service)
      .then(
        (instances) => {
          state.lookedAt = Date.now();
          this.#reconcile(service, state, instances);
        },
        (error: unknown) => {
          // Without the registry, the instances known so far are the best guess.
          debug("registry transport: cannot look %s up: %s", service, error);
          if (state.known.size === 0) throw new RpcError("UNAVAILABLE", `cannot find ${service}: ${(error as Error).message}`, { cause: error });
        },
      )
      .finally(() => (state.refreshing = undefined));
    return state.refreshing;
  }

  #reconcile(service: string, state: ServiceState, instances: Instance[]): void {
    if (this.#closed) return;
    this.#noticeMove();
    const live = new Set(instances.map((instance) => instance.instanceId));
    if (!this.#registryLost && Date.now() >= this.#addOnlyUntil) {
      for (const known of [...state.known.values()]) {
        if (!live.has(known.instance.instanceId)) this.#forget(service, state, known, "the registry no longer lists it");
      }
    }
    const now = Date.now();
    for (const [instanceId, until] of state.shunned) if (until <= now || !live.has(instanceId)) state.shunned.delete(instanceId);
    for (const instance of instances) {
      if (state.known.has(instance.instanceId) || state.shunned.has(instance.instanceId)) continue;
      const channel = new Channel(instance.endpoint, { ...this.#channelOptions, name: `${service} ${instance.endpoint}` });
      const known: Known = { instance, channel, reachable: channel.whenConnected(this.#options.connectTimeoutMs ?? 1000) };
      channel.onDisconnect(() => this.#forget(service, state, known, "its connection dropped", true));
      state.known.set(instance.instanceId, known);
      debug("registry transport: %s at %s", service, instance.endpoint);
    }
  }

  /**
   * A client that moved to another registry is taken as a registry that restarted: registries
   * that keep their records in memory each know only the instances that registered with them,
   * and the services move over at their next renewal.
   */
  #noticeMove(): void {
    if (this.#client.endpoint === this.#registryInUse) return;
    debug("registry transport: the registry client moved from %s to %s", this.#registryInUse, this.#client.endpoint);
    this.#registryInUse = this.#client.endpoint;
    this.#addOnlyUntil = Date.now() + RESTART_GRACE_MS;
  }

  /**
   * Stops using an instance. One that `failed` is not tried again until its lease would have run
   * out: a dead instance stays listed by the registry until then. One that did not fail (it
   * unregistered: it is stopping, and finishes what it has) keeps its connection until the calls
   * in flight on it end.
   */
  #forget(service: string, state: ServiceState, known: Known, why: string, failed = false): void {
    if (state.known.get(known.instance.instanceId) !== known) return;
    state.known.delete(known.instance.instanceId);
    if (failed) state.shunned.set(known.instance.instanceId, Date.now() + (known.instance.ttlMs || 5000));
    state.lookedAt = 0; // look again before the next call
    debug("registry transport: no longer using %s at %s: %s", service, known.instance.endpoint, why);
    if (failed || known.channel.load + known.channel.waiting === 0) void known.channel.close();
    else this.#drain(known.channel);
  }

  /** Closes `channel` once no call is in flight on it, or after {@link DRAIN_MS}. */
  #drain(channel: Channel): void {
    const until = Date.now() + DRAIN_MS;
    // The channel says nothing when its last call ends: look every few ms.
    const timer = setInterval(() => {
      if (channel.load + channel.waiting > 0 && Date.now() < until) return;
      clearInterval(timer);
      this.#draining.delete(channel);
      void channel.close();
    }, 20);
    this.#draining.set(channel, timer);
  }
}

/** What a call to find a channel waits for (`what` did not happen), within the call's deadline and signal. */
function waitFor<T>(promise: Promise<T>, call: ChannelRequest, what: string): Promise<T> {
  return within(promise, call, {
    expired: () => new RpcError("DEADLINE_EXCEEDED", `${what} within the call's deadline`),
    cancelled: (reason) => new RpcError("CANCELLED", `${what}: the call was cancelled by its AbortSignal`, { cause: reason }),
  });
}

/** `items` starting at position `turn`, wrapping around: round-robin over a changing list. */
function rotate<T>(items: readonly T[], turn: number): T[] {
  if (items.length === 0) return [];
  const start = turn % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}
