/**
 * Keeping entries in the registry while their holder runs: a service host's services, a
 * publisher's entry, a broker's frontend. One piece, so that each holder renews, retries,
 * answers a restarted registry and unregisters the same way.
 * @module
 */
import { within } from "../deadline.js";
import { DividereError } from "../errors.js";
import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { debug } from "../log.js";
import { RpcError } from "../rpc/status.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";
import { registrationTimeoutMs } from "./defaults.js";
import { theRegistries } from "./failover.js";

/** How often entries without a lease (the Python protocol) are tried again while one is not registered. */
const RETRY_MS = 1000;

/** Options of a {@link Registration}. */
export interface RegistrationOptions {
  /**
   * The lease of the entries in ms, renewed every third of it (which also retries a
   * registration that failed); 0: none (a Python registry), and only an entry not registered
   * yet is tried again, every second.
   */
  ttlMs: number;
  /** Where a failure to register goes: once, when registering starts to fail, again only after it worked. */
  onError(error: DividereError): void;
  /** What holds the entries, for logs ("service", "publisher", "broker"). */
  holder: string;
  /** The protocol of the client made for a registry given by its endpoints; default `"dividere"`. */
  protocol?: "dividere" | "python";
}

/** Options of {@link Registration.waitForRegistration}. */
export interface WaitForRegistrationOptions {
  /** Give up after this many ms with `TIMEOUT`; default: wait for ever. */
  timeoutMs?: number;
  /** Give up when this signal aborts, with `CANCELLED`. */
  signal?: AbortSignal;
}

/**
 * Entries kept in a registry: each registered in the background as it is added, renewed every
 * third of its lease, registered again when the registry asks (`RediscoverReq`: it restarted),
 * and unregistered by {@link close}. A registry that is down holds nothing up: registering goes
 * on until it answers. The registry client stays its owner's.
 */
export class Registration {
  readonly #registry: RegistryClient;
  readonly #ownsRegistry: boolean;
  readonly #options: RegistrationOptions;
  readonly #entries: Instance[] = [];
  /** Entries the registry has not acknowledged yet, and who waits for that. */
  readonly #unregistered = new Set<Instance>();
  readonly #waiters = new Set<(error?: DividereError) => void>();
  readonly #renewal: NodeJS.Timeout;
  readonly #stopRediscovery: () => void;
  /** Why the last registration failed, while registering keeps failing. */
  #lastFailure: Error | undefined;
  #registering: Promise<void> | undefined;
  /** Entries whose registration is under way: it may land, so close() takes them away too. */
  readonly #sending = new Set<Instance>();
  #closing: Promise<void> | undefined;

  /**
   * `registry`: a client, which stays its owner's; or the endpoints of one registry or several, for
   * a client of the registration's own, closed with it, that waits a third of the lease for each
   * answer ({@link registrationTimeoutMs}) so that a renewal finding its registry dead moves on in time.
   */
  constructor(registry: RegistryClient | NonNullable<RegistryClientOptions["endpoint"]>, options: RegistrationOptions) {
    this.#ownsRegistry = !(registry instanceof RegistryClient);
    this.#registry =
      registry instanceof RegistryClient
        ? registry
        : new RegistryClient({ endpoint: registry, protocol: options.protocol, timeoutMs: registrationTimeoutMs(options.ttlMs) });
    this.#options = options;
    this.#stopRediscovery = this.#registry.onRediscover(() => void this.#registerAll("the registry asked (RediscoverReq)"));
    // The holder's own sockets keep the process alive; its lease alone must not.
    this.#renewal = (
      options.ttlMs > 0
        ? setInterval(() => void this.#registerAll("lease renewal"), options.ttlMs / 3)
        : setInterval(() => this.#unregistered.size > 0 && void this.#registerAll("retrying"), RETRY_MS)
    ).unref();
  }

  /** The entries, as registered. */
  get entries(): readonly Instance[] {
    return this.#entries;
  }

  /** Keeps one more entry, registering it now in the background. */
  add(entry: Instance): void {
    this.#entries.push(entry);
    this.#unregistered.add(entry);
    void this.#register(entry, "start");
  }

  /**
   * Resolves once the registry has acknowledged every entry. Rejects with `TIMEOUT` (saying why
   * registering fails), `CANCELLED`, or `CLOSED` when the registration closes first.
   */
  waitForRegistration(options: WaitForRegistrationOptions = {}): Promise<void> {
    if (this.#unregistered.size === 0) return Promise.resolve();
    if (this.#closing) return Promise.reject(new DividereError("CLOSED", `the ${this.#options.holder} is closing`));
    let wake: (error?: DividereError) => void = () => undefined;
    const registered = new Promise<void>((resolve, reject) => this.#waiters.add((wake = (error) => (error ? reject(error) : resolve()))));
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const waiting = within(registered, { deadline, signal: options.signal }, {
      expired: () =>
        new DividereError(
          "TIMEOUT",
          `${this.#pendingNames()} not registered with ${theRegistries(this.#registry.registries)} within ${options.timeoutMs} ms` +
            (this.#lastFailure ? `: ${this.#lastFailure.message}` : "; the registry has not answered yet"),
        ),
      cancelled: (reason) => new RpcError("CANCELLED", "waiting for the registration was cancelled by its AbortSignal", { cause: reason }),
    });
    return waiting.finally(() => this.#waiters.delete(wake));
  }

  /**
   * Stops renewing and takes the registered entries away, waiting for the registry until
   * `until` (`Date.now()` ms) at most; while registering fails the registry is not answering,
   * and is not waited for: it forgets the entries when their leases run out. A registration
   * still under way lands first (the client asks one request at a time), so the entry does not
   * come back after it left. Later calls return the same promise.
   */
  close(until: number): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#renewal);
      this.#stopRediscovery();
      for (const wake of this.#waiters) wake(new DividereError("CLOSED", `the ${this.#options.holder} closed before it was registered`));
      if (!this.#lastFailure) await this.#unregisterAll(until);
      if (this.#ownsRegistry) await this.#registry.close();
    })();
    return this.#closing;
  }

  /** Takes every entry the registry may hold away, within `until`. */
  async #unregisterAll(until: number): Promise<void> {
    await Promise.all(
      this.#entries
        .filter((entry) => !this.#unregistered.has(entry) || this.#sending.has(entry))
        .map((entry) =>
          this.#registry
            .unregister(entry.service, entry.instanceId, entry.endpoint, { retries: 0, timeoutMs: Math.max(0, until - Date.now()) })
            .catch((error: unknown) => debug("%s: cannot unregister %s: %s", this.#options.holder, entry.service, error)),
        ),
    );
  }

  /** The entries not registered yet, for messages. */
  #pendingNames(): string {
    return [...this.#unregistered].map((entry) => entry.service).join(", ");
  }

  /** Registers every entry again; a renewal still under way is not doubled (a slow registry would pile them up). */
  #registerAll(why: string): Promise<void> {
    this.#registering ??= (async () => {
      for (const entry of this.#entries) await this.#register(entry, why);
    })().finally(() => (this.#registering = undefined));
    return this.#registering;
  }

  async #register(entry: Instance, why: string): Promise<void> {
    if (this.#closing) return;
    try {
      this.#sending.add(entry);
      await this.#registry.register(entry).finally(() => this.#sending.delete(entry));
      if (this.#lastFailure) debug("%s %s: registered again", this.#options.holder, entry.service);
      this.#lastFailure = undefined;
      if (this.#unregistered.delete(entry) && this.#unregistered.size === 0) for (const wake of this.#waiters) wake();
      debug("%s %s registered at %s (%s)", this.#options.holder, entry.service, entry.endpoint, why);
    } catch (error) {
      if (this.#closing) return;
      if (!this.#lastFailure) {
        // The error names the registries tried; the client has moved on from them already.
        this.#options.onError(new RpcError("UNAVAILABLE", `${entry.service} cannot register: ${(error as Error).message}; retrying`, { cause: error }));
      }
      this.#lastFailure = error as Error;
    }
  }
}
