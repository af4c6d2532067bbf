/**
 * The monitor: `node dist/monitor.js REGISTRY`.
 *
 * A Reactor takes the sensors' readings, keeps statistics per bed, and publishes an Alert when a
 * bed leaves its safe range (and when it comes back). The Monitor service answers questions about
 * what it has seen; it is registered in the registry with where sensors send readings and where
 * alerts are published, so nobody needs to be told an address. Stops cleanly on SIGTERM/SIGINT.
 */
import { Reactor, serve } from "@dividere/runtime";
import { Monitor, type Reading, type SensorStats } from "./gen/greenhouse/v1/greenhouse_pb.js";
import { GreenhousePublisher, GreenhouseSubscriber, MonitorDefinition, ReadingTopic, greenhouseDispatch } from "./gen/greenhouse/v1/greenhouse_dividere.js";
import { problemOf } from "./climate.js";

const registry = process.argv[2];
if (!registry) {
  console.error("usage: node dist/monitor.js REGISTRY");
  process.exit(2);
}

const RECENT = 10;

/** What the monitor knows of one bed. */
interface Bed {
  stats: Omit<SensorStats, "$typeName" | "meanHumidity">;
  humiditySum: number;
  problem: string;
}

const beds = new Map<string, Bed>();
const alerts = new GreenhousePublisher({ bind: "tcp://127.0.0.1:0" });

async function handleReading(reading: Reading): Promise<void> {
  let bed = beds.get(reading.sensor);
  if (!bed) {
    const stats = { sensor: reading.sensor, readings: 0, minCelsius: Infinity, maxCelsius: -Infinity, alerts: 0, recentCelsius: [] };
    beds.set(reading.sensor, (bed = { stats, humiditySum: 0, problem: "" }));
  }
  const { stats } = bed;
  stats.readings++;
  stats.minCelsius = Math.min(stats.minCelsius, reading.celsius);
  stats.maxCelsius = Math.max(stats.maxCelsius, reading.celsius);
  stats.recentCelsius = [...stats.recentCelsius, reading.celsius].slice(-RECENT);
  bed.humiditySum += reading.humidity;

  const problem = problemOf(reading);
  if (problem === bed.problem) return;
  bed.problem = problem;
  if (problem) stats.alerts++;
  console.log(`${reading.sensor} ${problem ? `is ${problem}` : "is back in range"}: ${reading.celsius} °C, ${reading.humidity} % (reading ${reading.sequence})`);
  await alerts.sendAlert({ sensor: reading.sensor, problem, reading });
}

const readings = new GreenhouseSubscriber({ bind: "tcp://127.0.0.1:0" }, { topics: [ReadingTopic] });
const reactor = new Reactor([readings], greenhouseDispatch({ handleReading }));

const host = await serve(
  MonitorDefinition,
  {
    getStats({ sensor }) {
      const chosen = [...beds.values()].filter((bed) => !sensor || bed.stats.sensor === sensor);
      return { sensors: chosen.map((bed) => ({ ...bed.stats, meanHumidity: bed.humiditySum / bed.stats.readings })) };
    },
  },
  { registry, host: "127.0.0.1", metadata: { readings: readings.endpoint, alerts: alerts.endpoint } },
);
// serve() answers calls at once and registers in the background; the sensors look the monitor up next.
await host.waitForRegistration({ timeoutMs: 10_000 });
console.log(`listening for readings at ${readings.endpoint}, publishing alerts at ${alerts.endpoint}`);
console.log(`${Monitor.typeName} answers at ${host.endpoint}, registered at ${registry}`);

await host.closeOnSignals(); // on SIGTERM/SIGINT: unregisters, then lets calls in flight finish
await reactor.close(); // lets the handler in flight finish, closes the readings socket
await alerts.close();
console.log(`stopped after ${reactor.stats.handled} readings; unregistered`);
