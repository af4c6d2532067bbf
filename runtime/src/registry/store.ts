import { DividereError } from "../errors.js";
import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { DEFAULT_ETCD_PREFIX, EtcdStore } from "./etcd-store.js";
import { MemoryStore, type MemoryStoreOptions } from "./memory-store.js";

/**
 * Where a registry keeps its records: the live instances of every service and their leases.
 * The registry answers lookups from the store's view, which the store keeps current (the memory
 * store by its own writes and sweeps; the etcd store by etcd's watch, so that every registry over
 * one cluster sees every other's writes), and publishes each change the store reports.
 */
export interface RegistryStore {
  /**
   * True when the records outlive the registry process (etcd): a registry that starts over such a
   * store knows every instance already, and asks no service to register again.
   */
  readonly durable: boolean;
  /** Where the records are, for messages: `memory`, `etcd://host:port,...`. */
  readonly description: string;
  /** Records found that hold no instance (written there by something else), left out of the view. */
  readonly unreadable: number;
  /**
   * Resolves once the store can answer (the etcd store: once it has read its records); a store
   * that cannot reach its records rejects with `UNAVAILABLE` when `deadline` (ms since the epoch) passes.
   */
  ready(deadline: number): Promise<void>;
  /** Adds an instance, or renews its lease (`ttlMs` 0: no lease, kept until removed). */
  upsert(instance: Instance): Promise<void>;
  /** Removes an instance; resolves true when it was there. */
  remove(service: string, instanceId: string): Promise<boolean>;
  /** The live instances of a service, as the store sees them now, oldest registration first. */
  list(service: string): Instance[];
  /** One live instance of a service, in turn (the Python lookup answers one). */
  pick(service: string): Instance | undefined;
  /** Every service with live instances. */
  services(): string[];
  /** Calls `listener` whenever a service's instances change, whoever changed them, and why; returns the way to stop. */
  onChange(listener: (service: string, why: string) => void): () => void;
  /** Stops: timers, watches, connections. The records of a durable store stay where they are. */
  close(): Promise<void>;
}

/**
 * The store a registry's `store` option names: `memory`, or `etcd://host:port[,host:port...][/root/]`
 * (each host a member's client address, http; the root a key prefix, default
 * {@link DEFAULT_ETCD_PREFIX}).
 */
export function storeFrom(spec: string, options: MemoryStoreOptions = {}): RegistryStore {
  if (spec === "memory") return new MemoryStore(options);
  if (!spec.startsWith(ETCD_SCHEME)) {
    throw new DividereError("INVALID_ARGUMENT", `unknown registry store "${spec}": give "memory" or etcd://host:port[,host:port...]`);
  }
  const rest = spec.slice(ETCD_SCHEME.length);
  const slash = rest.indexOf("/");
  const members = (slash < 0 ? rest : rest.slice(0, slash)).split(",");
  const root = slash < 0 ? undefined : rest.slice(slash).replace(/\/?$/, "/");
  const hosts = members.map((member) => {
    const port = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(member)?.[1];
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
      throw new DividereError("INVALID_ARGUMENT", `"${member}" in the registry store "${spec}" is no host:port of an etcd member (etcd://host:2379,host2:2379)`);
    }
    return `http://${member}`;
  });
  return new EtcdStore({ hosts, prefix: root });
}

const ETCD_SCHEME = "etcd://";
