/**
 * A sensor: `node dist/sensor.js BED REGISTRY [READINGS] [INTERVAL_MS]`.
 *
 * Finds the monitor through the registry (its instance's metadata says where it listens for
 * readings), publishes READINGS readings of its bed there, one every INTERVAL_MS, and stops.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { RegistryClient } from "@dividere/runtime";
import { Monitor } from "./gen/greenhouse/v1/greenhouse_pb.js";
import { GreenhousePublisher } from "./gen/greenhouse/v1/greenhouse_dividere.js";
import { climate } from "./climate.js";

const [bed, registry, readings = "20", intervalMs = "100"] = process.argv.slice(2);
if (!bed || !registry) {
  console.error("usage: node dist/sensor.js BED REGISTRY [READINGS] [INTERVAL_MS]");
  process.exit(2);
}

/** The monitor's readings endpoint, asking the registry until one is registered (for at most 10 s). */
async function findMonitor(): Promise<string> {
  await using client = new RegistryClient({ endpoint: registry });
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(200)) {
    const [monitor] = await client.lookup(Monitor.typeName);
    const endpoint = monitor?.metadata.readings;
    if (endpoint) return endpoint;
  }
  throw new Error(`no ${Monitor.typeName} registered at ${registry} after 10 s`);
}

const monitor = await findMonitor();
await using publisher = new GreenhousePublisher(monitor);
// A publisher that sends before the subscription has arrived loses the message (the late joiner).
await publisher.waitForSubscribers({ timeoutMs: 5000 });
console.log(`publishing ${readings} readings to the monitor at ${monitor}, found through the registry`);
for (let sequence = 1; sequence <= Number(readings); sequence++) {
  await publisher.sendReading({ sensor: bed, sequence, ...climate(bed, sequence) });
  await sleep(Number(intervalMs));
}
console.log("done");
