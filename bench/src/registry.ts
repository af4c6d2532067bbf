/**
 * The registry's latency on each store: lookups, registrations of new instances and renewals of
 * a lease, one at a time from a client here, against a `dividere registry` process keeping its
 * records in memory, and one keeping them on a 3-member etcd cluster (each a process of its own).
 * An etcd registration is a lease grant and a put, each agreed by a quorum; a renewal one
 * keepalive; a lookup is answered from the registry's view (etcd's watch keeps it current).
 */
import { createRequire } from "node:module";
import { RegistryClient } from "@dividere/runtime";
import { startEtcd } from "./etcd.js";
import { type Measurer, interleaved, latency } from "./measure.js";
import { type Cleanups, started, stopAll } from "./processes.js";
import type { Row, Suite } from "./rows.js";

const dividere = createRequire(import.meta.url).resolve("@dividere/runtime/bin/dividere.js");
const SERVICE = "bench.v1.Looked";
const CALLS = 400;
/** Clients registering at once, for the throughput row. */
const CLIENTS = 32;

/** The row names of the two stores. */
export const STORES = { memory: "in-memory store", etcd: "etcd store, 3 members" } as const;

/** Requests per second with `slots` clients each asking one after another for `durationMs`. */
async function rate(slots: number, durationMs: number, ask: (slot: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const until = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: slots }, async (_, slot) => {
      while (performance.now() < until) {
        await ask(slot);
        done++;
      }
    }),
  );
  return (done / (performance.now() - started)) * 1000;
}

export const registrySuite: Suite = async ({ rounds, durationMs }) => {
  const cleanups: Cleanups = [];
  try {
    const etcd = await startEtcd(cleanups);
    const measurers: Measurer[] = [];
    for (const [store, name] of Object.entries(STORES)) {
      const rows: Omit<Row, "value" | "runs">[] = [
        ...(["registry lookup", "registry registration", "registry renewal"] as const).map((group) => ({ group, name, unit: "µs" })),
        { group: "registry registrations, 32 clients", name, unit: "regs/s" },
      ];
      if (store === "etcd" && "failure" in etcd) {
        measurers.push(...rows.map((row) => ({ row: { ...row, note: etcd.failure }, measure: async () => NaN })));
        continue;
      }
      const args = [dividere, "registry", "--endpoint", "tcp://127.0.0.1:*", "--publish", "tcp://127.0.0.1:*", "--watch", "tcp://127.0.0.1:*"];
      if (store === "etcd" && "store" in etcd) args.push("--store", etcd.store);
      const { ready } = await started(cleanups, args);
      const endpoint = /requests at (\S+),/.exec(ready)?.[1];
      if (!endpoint) throw new Error(`the registry said: ${ready}`);
      const client = new RegistryClient({ endpoint, publishEndpoint: endpoint, watchEndpoint: endpoint });
      cleanups.push(() => client.close());
      for (let i = 0; i < 3; i++) await client.register({ service: SERVICE, instanceId: `i${i}`, endpoint: `tcp://127.0.0.1:${7000 + i}`, ttlMs: 60_000 });
      let registered = 0;
      const [lookup, registration, renewal] = [
        () => client.lookup(SERVICE),
        () => client.register({ service: `${SERVICE}.New`, instanceId: `n${registered++}`, endpoint: "tcp://127.0.0.1:7100", ttlMs: 60_000 }),
        () => client.register({ service: SERVICE, instanceId: "i0", endpoint: "tcp://127.0.0.1:7000", ttlMs: 60_000 }),
      ];
      const many = Array.from({ length: CLIENTS }, () => new RegistryClient({ endpoint, publishEndpoint: endpoint, watchEndpoint: endpoint }));
      cleanups.push(() => Promise.all(many.map((one) => one.close())));
      let next = 0;
      const concurrent = () =>
        rate(CLIENTS, durationMs, (slot) => many[slot]!.register({ service: `${SERVICE}.Many`, instanceId: `m${next++}`, endpoint: "tcp://127.0.0.1:7200", ttlMs: 60_000 }));
      measurers.push(
        ...[lookup, registration, renewal].map((call, index) => ({ row: rows[index]!, measure: async () => (await latency(call, CALLS, 40)).medianUs })),
        { row: rows[3]!, measure: concurrent },
      );
    }
    return await interleaved(measurers, rounds);
  } finally {
    await stopAll(cleanups);
  }
};
