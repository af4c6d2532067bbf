import { setTimeout as sleep } from "node:timers/promises";
import { equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Etcd3, IDuplexStream, IKeyValue, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IWatchResponse, Watcher } from "etcd3";
import { within } from "../deadline.js";
import { DividereError } from "../errors.js";
import { type Instance, InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { debug } from "../log.js";
import { RpcError } from "../rpc/status.js";
import { Changes } from "./changes.js";
import type { RegistryStore } from "./store.js";
import { importEtcd3 } from "./etcd-client.js";
import { InstanceTable } from "./table.js";

/** Options of an {@link EtcdStore}. */
export interface EtcdStoreOptions {
  /** The cluster's client URLs (`http://host:2379`); any one of them answering is enough. */
  hosts: readonly string[];
  /** The keys' root; default `/dividere/registry/v1/`. Registries over one cluster share a view when they share a root. */
  prefix?: string;
  /** How long one etcd request may take before it is tried on another member, in ms; default 1000. */
  requestTimeoutMs?: number;
}

/** The keys' root unless told otherwise. */
export const DEFAULT_ETCD_PREFIX = "/dividere/registry/v1/";
/** etcd's shortest lease at its default election timeout: a shorter one is granted this long. */
const MIN_LEASE_S = 2;
/** How long a write waits for the watch to bring it into the view, in ms; the write is made either way. */
const CATCH_UP_MS = 2000;
/** How long to wait before reading the records again after etcd could not be reached, in ms. */
const RETRY_MS = 500;
/** How long a write may go on trying, in ms: less than a registry client waits for its answer (3000 by default). */
const OPERATION_BUDGET_MS = 2500;
/** The pause between two tries of a write, in ms. */
const RETRY_OPERATION_MS = 100;

/** The keepalive stream, and the renewals waiting for an answer, by lease id. */
interface Renewals {
  stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  waiting: Map<string, Set<(outcome: boolean | Error) => void>>;
}

/**
 * The registry's records on etcd: each instance a key under `prefix` (its value the `Instance`,
 * binary), each lease an etcd lease of the instance's TTL in whole seconds (at least 2, etcd's
 * least), renewed by a keepalive whenever the instance renews it through any registry. The view
 * is one read of every key and then etcd's watch, so every registry over the cluster sees every
 * other's registrations and every lease that ran out; and since the records outlive the
 * registries, a registry that restarts knows every instance at once.
 *
 * Needs the `etcd3` package (an optional peer dependency of `@dividere/runtime`).
 */
export class EtcdStore implements RegistryStore {
  readonly durable = true;
  readonly description: string;
  #unreadable = 0;
  readonly #hosts: readonly string[];
  readonly #prefix: string;
  readonly #requestTimeoutMs: number;
  readonly #view = new InstanceTable();
  /** The etcd lease id of each instance in the view ("0": none), by key. */
  readonly #leases = new Map<string, string>();
  readonly #changes = new Changes();
  /** The last revision the view holds. */
  #revision = 0;
  /** Writes waiting for the view to hold them. */
  readonly #caughtUp = new Set<() => void>();
  #client: Etcd3 | undefined;
  #watcher: Watcher | undefined;
  #renewals: Promise<Renewals> | undefined;
  readonly #loaded: Promise<void>;
  #closed = false;
  readonly #closing = new AbortController();

  constructor(options: EtcdStoreOptions) {
    if (options.hosts.length === 0) throw new DividereError("INVALID_ARGUMENT", "an etcd store needs at least one host (http://host:2379)");
    this.#hosts = options.hosts;
    this.#prefix = options.prefix ?? DEFAULT_ETCD_PREFIX;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 1000;
    this.description = `etcd://${options.hosts.map((host) => host.replace(/^https?:\/\//, "")).join(",")}${this.#prefix === DEFAULT_ETCD_PREFIX ? "" : this.#prefix}`;
    this.#loaded = this.#load();
    this.#loaded.catch(() => undefined);
  }

  ready(deadline: number): Promise<void> {
    return within(this.#loaded, { deadline }, {
      expired: () => new RpcError("UNAVAILABLE", `the registry cannot read its records at ${this.description} yet; is etcd running there?`),
      cancelled: () => new DividereError("CLOSED", "the etcd store is closed"),
    });
  }

  upsert(instance: Instance): Promise<void> {
    return this.#retrying(`registering ${instance.service} ${instance.instanceId}`, async (client) => {
      const key = this.#key(instance.service, instance.instanceId);
      const lease = this.#leases.get(key);
      const same = lease !== undefined && this.#view.list(instance.service).some((seen) => equals(InstanceSchema, seen, instance));
      const value = Buffer.from(toBinary(InstanceSchema, instance));
      let revision: number;
      if (instance.ttlMs <= 0) {
        if (same && lease === "0") return;
        revision = Number((await client.kv.put({ key: Buffer.from(key), value })).header.revision);
      } else if (same && lease !== "0" && (await this.#keepAlive(client, lease))) {
        return; // a renewal: the lease lives on, nothing else changed
      } else {
        // New, changed (a new TTL too), or its lease ran out: a lease of its own, for it alone.
        const ttl = Math.max(MIN_LEASE_S, Math.ceil(instance.ttlMs / 1000));
        const { ID } = await client.leaseClient.leaseGrant({ TTL: ttl });
        const put = await client.kv.put({ key: Buffer.from(key), value, lease: ID, prev_kv: true });
        revision = Number(put.header.revision);
        const replaced = put.prev_kv?.lease;
        if (replaced && replaced !== "0" && replaced !== ID) this.#revoke(client, replaced);
      }
      await this.#viewReaches(revision);
    });
  }

  remove(service: string, instanceId: string): Promise<boolean> {
    return this.#retrying(`unregistering ${service} ${instanceId}`, async (client) => {
      const removed = await client.kv.deleteRange({ key: Buffer.from(this.#key(service, instanceId)), prev_kv: true });
      const lease = removed.prev_kvs[0]?.lease;
      if (lease && lease !== "0") this.#revoke(client, lease);
      await this.#viewReaches(Number(removed.header.revision));
      return Number(removed.deleted) > 0;
    });
  }

  get unreadable(): number {
    return this.#unreadable;
  }

  list(service: string): Instance[] {
    return this.#view.list(service);
  }

  pick(service: string): Instance | undefined {
    return this.#view.pick(service);
  }

  services(): string[] {
    return this.#view.services();
  }

  onChange(listener: (service: string, why: string) => void): () => void {
    return this.#changes.add(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    for (const check of [...this.#caughtUp]) check();
    await this.#watcher?.cancel().catch(() => undefined);
    await this.#renewals?.then((renewals) => renewals.stream.cancel()).catch(() => undefined);
    this.#client?.close();
  }

  /**
   * Runs `operation` once the records are read, again while it fails (a member down, an
   * election under way) for up to {@link OPERATION_BUDGET_MS}: a registry's answer must come
   * within its client's wait, or the client tries again (another registry, if it knows one).
   */
  async #retrying<T>(what: string, operation: (client: Etcd3) => Promise<T>): Promise<T> {
    const until = Date.now() + OPERATION_BUDGET_MS;
    await this.ready(until);
    for (let tries = 1; ; tries++) {
      try {
        return await operation(this.#client!);
      } catch (error) {
        if (this.#closed) throw new DividereError("CLOSED", "the etcd store is closed");
        if (Date.now() + RETRY_OPERATION_MS >= until) {
          throw new RpcError("UNAVAILABLE", `etcd at ${this.description} failed ${what} on each of ${tries} tries: ${(error as Error).message}; is a quorum of its members up?`, {
            cause: error,
          });
        }
        debug("etcd store: %s failed (%s); trying again", what, (error as Error).message);
        await sleep(RETRY_OPERATION_MS, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      }
    }
  }

  /** Reads every record, then follows etcd's watch from the revision read; tries again until etcd answers. */
  async #load(): Promise<void> {
    const { Etcd3 } = await importEtcd3();
    // A deadline on the watch stream would cut it every time it passed: requests only.
    const timeout = this.#requestTimeoutMs;
    this.#client = new Etcd3({ hosts: [...this.#hosts], defaultCallOptions: (call) => (call.isStream ? {} : { deadline: Date.now() + timeout }) });
    for (let tries = 0; ; tries++) {
      if (this.#closed) throw new DividereError("CLOSED", "the etcd store is closed");
      try {
        await this.#follow(this.#client);
        if (tries > 0) debug("etcd store: reached %s after %d tries", this.description, tries + 1);
        return;
      } catch (error) {
        debug("etcd store: cannot read %s yet: %s", this.description, error);
        await sleep(RETRY_MS, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      }
    }
  }

  async #follow(client: Etcd3): Promise<void> {
    const read = await client.getAll().prefix(this.#servicesPrefix()).exec();
    const changed = new Set<string>();
    // Read again after the watch failed: what went meanwhile goes from the view too.
    const present = new Set(read.kvs.map((kv) => kv.key.toString()));
    for (const key of [...this.#leases.keys()]) if (!present.has(key)) this.#delete(Buffer.from(key), changed);
    for (const kv of read.kvs) this.#put(kv, changed);
    this.#revision = Number(read.header.revision);
    const watcher = await client.watch().prefix(this.#servicesPrefix()).startRevision(String(this.#revision + 1)).create();
    watcher.on("data", (response) => this.#watched(response));
    // A watch that falls behind a compaction cannot resume: read everything again.
    watcher.on("error", (error) => {
      debug("etcd store: the watch failed (%s); reading the records again", error.message);
      void watcher.cancel().catch(() => undefined);
      if (!this.#closed) void this.#follow(client).catch((again: unknown) => debug("etcd store: %s", again));
    });
    this.#watcher = watcher;
    for (const service of changed) this.#changes.emit(service, "read from etcd");
  }

  #watched(response: IWatchResponse): void {
    const changed = new Set<string>();
    for (const event of response.events) {
      if (event.type === "Put") this.#put(event.kv, changed);
      else this.#delete(event.kv.key, changed);
    }
    const revision = Number(response.header.revision);
    if (revision > this.#revision) this.#revision = revision;
    for (const service of changed) this.#changes.emit(service, "changed in etcd");
    for (const check of [...this.#caughtUp]) check();
  }

  #put(kv: IKeyValue, changed: Set<string>): void {
    const key = kv.key.toString();
    let instance: Instance;
    try {
      instance = fromBinary(InstanceSchema, kv.value);
    } catch (error) {
      this.#unreadable++;
      debug("etcd store: %s holds no Instance (%s); left out", key, error);
      return;
    }
    const named = this.#named(key);
    if (!named || named.service !== instance.service || named.instanceId !== instance.instanceId) {
      this.#unreadable++;
      debug("etcd store: %s holds %s %s, not the instance its key names; left out", key, instance.service, instance.instanceId);
      return;
    }
    this.#leases.set(key, kv.lease);
    if (this.#view.upsert(instance)) changed.add(instance.service);
  }

  #delete(keyBytes: Buffer, changed: Set<string>): void {
    const key = keyBytes.toString();
    this.#leases.delete(key);
    const named = this.#named(key);
    if (named && this.#view.remove(named.service, named.instanceId)) changed.add(named.service);
  }

  /** Resolves once the view holds `revision` (the watch brought it), or after {@link CATCH_UP_MS}: the write is made either way. */
  #viewReaches(revision: number): Promise<void> {
    if (this.#revision >= revision || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(wake, CATCH_UP_MS);
      const check = () => (this.#revision >= revision || this.#closed) && wake();
      const caughtUp = this.#caughtUp;
      function wake() {
        clearTimeout(timer);
        caughtUp.delete(check);
        resolve();
      }
      caughtUp.add(check);
    });
  }

  /** Renews a lease once; false when it ran out already (etcd answers a TTL of 0). */
  async #keepAlive(client: Etcd3, id: string): Promise<boolean> {
    const opened = this.#renewalStream(client);
    const renewals = await opened;
    return new Promise<boolean>((resolve, reject) => {
      const settle = (outcome: boolean | Error) => {
        clearTimeout(timer);
        renewals.waiting.get(id)?.delete(settle);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const timer = setTimeout(() => {
        settle(new RpcError("UNAVAILABLE", `etcd at ${this.description} did not renew lease ${id} in time`));
        // A stream that stopped answering is not used again.
        if (this.#renewals === opened) this.#renewals = undefined;
        renewals.stream.cancel();
      }, this.#requestTimeoutMs);
      let waiting = renewals.waiting.get(id);
      if (!waiting) renewals.waiting.set(id, (waiting = new Set()));
      waiting.add(settle);
      renewals.stream.write({ ID: id });
    });
  }

  /**
   * One keepalive stream for every renewal (a stream per renewal costs more than the renewal):
   * answers come by lease id; a stream that fails fails its waiters, and the next renewal opens another.
   */
  #renewalStream(client: Etcd3): Promise<Renewals> {
    if (this.#renewals) return this.#renewals;
    const opening = (async (): Promise<Renewals> => {
      const stream = await client.leaseClient.leaseKeepAlive();
      const renewals: Renewals = { stream, waiting: new Map() };
      stream.on("data", (answer) => {
        const waiting = renewals.waiting.get(answer.ID);
        renewals.waiting.delete(answer.ID);
        for (const settle of waiting ?? []) settle(Number(answer.TTL) > 0);
      });
      const failed = (error: Error) => {
        if (this.#renewals === opening) this.#renewals = undefined;
        for (const waiting of renewals.waiting.values()) for (const settle of waiting) settle(error);
        renewals.waiting.clear();
      };
      stream.on("error", failed);
      stream.on("end", () => failed(new RpcError("UNAVAILABLE", `etcd at ${this.description} ended the keepalive stream`)));
      return renewals;
    })();
    this.#renewals = opening;
    opening.catch(() => this.#renewals === opening && (this.#renewals = undefined));
    return opening;
  }

  /** Revokes a lease no key needs any more; one that stays runs out by itself. */
  #revoke(client: Etcd3, id: string): void {
    client.leaseClient.leaseRevoke({ ID: id }).catch((error: unknown) => debug("etcd store: cannot revoke lease %s: %s", id, error));
  }

  #servicesPrefix(): string {
    return `${this.#prefix}services/`;
  }

  /** An instance's key: ids may hold "/", so they are encoded. */
  #key(service: string, instanceId: string): string {
    return `${this.#servicesPrefix()}${service}/${encodeURIComponent(instanceId)}`;
  }

  #named(key: string): { service: string; instanceId: string } | undefined {
    const path = key.slice(this.#servicesPrefix().length);
    const slash = path.indexOf("/");
    return slash > 0 ? { service: path.slice(0, slash), instanceId: decodeURIComponent(path.slice(slash + 1)) } : undefined;
  }
}
