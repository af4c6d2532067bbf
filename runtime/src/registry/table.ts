import { type Instance, InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { create } from "@bufbuild/protobuf";

interface Entry {
  instance: Instance;
  /** When the lease runs out (ms since the epoch); Infinity for instances without a lease. */
  expiresAt: number;
}

/** The registry's memory: the live instances of every service, with their leases. */
export class InstanceTable {
  readonly #services = new Map<string, Map<string, Entry>>();
  #turn = 0;

  /** Adds or renews an instance; true when the service's instances changed (not a mere renewal). */
  upsert(instance: Instance, now = Date.now()): boolean {
    let entries = this.#services.get(instance.service);
    if (!entries) this.#services.set(instance.service, (entries = new Map()));
    const known = entries.get(instance.instanceId);
    const changed = !known || known.instance.endpoint !== instance.endpoint;
    entries.set(instance.instanceId, {
      instance: create(InstanceSchema, instance),
      expiresAt: instance.ttlMs > 0 ? now + instance.ttlMs : Number.POSITIVE_INFINITY,
    });
    return changed;
  }

  /** Removes an instance; true when it was there. */
  remove(service: string, instanceId: string): boolean {
    const entries = this.#services.get(service);
    const removed = entries?.delete(instanceId) ?? false;
    if (entries?.size === 0) this.#services.delete(service);
    return removed;
  }

  /** The live instances of a service, oldest registration first. */
  list(service: string): Instance[] {
    return [...(this.#services.get(service)?.values() ?? [])].map((entry) => entry.instance);
  }

  /** One instance of a service, in turn (for the Python lookup, which answers one). */
  pick(service: string): Instance | undefined {
    const instances = this.list(service);
    return instances.length ? instances[this.#turn++ % instances.length] : undefined;
  }

  /** Every service name with instances. */
  services(): string[] {
    return [...this.#services.keys()];
  }

  /** Drops instances whose lease ran out; returns the services that changed. */
  sweep(now = Date.now()): string[] {
    const changed: string[] = [];
    for (const [service, entries] of this.#services) {
      for (const [id, entry] of entries) {
        if (entry.expiresAt <= now) {
          entries.delete(id);
          if (!changed.includes(service)) changed.push(service);
        }
      }
      if (entries.size === 0) this.#services.delete(service);
    }
    return changed;
  }
}
