import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { Changes } from "./changes.js";
import type { RegistryStore } from "./store.js";
import { InstanceTable } from "./table.js";

/** Options of a {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** How often expired leases are swept, in ms; default 250. */
  sweepIntervalMs?: number;
}

/**
 * The registry's records in its own memory: the default, for one machine. They go with the
 * process; a registry that restarts asks every service to register again (`RediscoverReq`).
 */
export class MemoryStore implements RegistryStore {
  readonly durable = false;
  readonly description = "memory";
  readonly unreadable = 0;
  readonly #table = new InstanceTable();
  readonly #changes = new Changes();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.#sweeper = setInterval(() => {
      for (const service of this.#table.sweep()) this.#changed(service, "lease expired");
    }, options.sweepIntervalMs ?? 250);
    // A store nobody closed must not hold the process.
    this.#sweeper.unref();
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  async upsert(instance: Instance): Promise<void> {
    if (this.#table.upsert(instance)) this.#changed(instance.service, `registered ${instance.instanceId}`);
  }

  async remove(service: string, instanceId: string): Promise<boolean> {
    const removed = this.#table.remove(service, instanceId);
    if (removed) this.#changed(service, `unregistered ${instanceId}`);
    return removed;
  }

  list(service: string): Instance[] {
    return this.#table.list(service);
  }

  pick(service: string): Instance | undefined {
    return this.#table.pick(service);
  }

  services(): string[] {
    return this.#table.services();
  }

  onChange(listener: (service: string, why: string) => void): () => void {
    return this.#changes.add(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #changed(service: string, why: string): void {
    this.#changes.emit(service, why);
  }
}
