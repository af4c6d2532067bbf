/**
 * `npm run demo`: a greenhouse, run end to end on this machine.
 *
 * The demo starts every process of a small distributed system, tells what each does as it goes,
 * acts as the dashboard (it watches alerts, asks for statistics and forecasts), then stops every
 * process and exits 0 when each stopped cleanly.
 *
 *   sensors ──readings──▶ monitor (Reactor) ──alerts──▶ dashboard
 *                            │ Monitor service            │ found through the registry
 *   registry ◀── registers ──┘                            │
 *   broker ◀── forecasters (workers) ◀── Forecaster calls ┘
 */
import { fileURLToPath } from "node:url";
import { RegistryClient, brokerServices, brokerTransport, registryTransport } from "@dividere/runtime";
import { Forecaster, Monitor, type SensorStats } from "./gen/greenhouse/v1/greenhouse_pb.js";
import { AlertTopic, ForecasterClient, GreenhouseSubscriber, MonitorClient } from "./gen/greenhouse/v1/greenhouse_dividere.js";
import { Program } from "./programs.js";

const LIMIT_MS = 60_000;
const BEDS = ["bed-1", "bed-2", "bed-3"];
const READINGS = 20;
const EPHEMERAL = "tcp://127.0.0.1:*";

const dividere = fileURLToPath(import.meta.resolve("@dividere/runtime/bin/dividere.js"));
const program = (name: string) => fileURLToPath(new URL(`./${name}.js`, import.meta.url));
const running: Program[] = [];
const start = (name: string, ...args: string[]) => {
  const started = new Program(name, args);
  running.push(started);
  return started;
};
const step = (text: string) => console.log(`\n${text}`);
const say = (text: string) => console.log(`  ${text}`);

async function main(): Promise<void> {
  console.log("greenhouse demo: sensors, a monitor, forecasters, a registry and a broker, each its own process");

  step("1. The name service and the broker, run with the dividere command");
  const registryProgram = start("registry", dividere, "registry", "--endpoint", EPHEMERAL, "--publish", EPHEMERAL, "--watch", EPHEMERAL);
  const [, registry] = await registryProgram.waitFor(/requests at (\S+), publishing at \S+, watch at \S+,/);
  const brokerProgram = start("broker", dividere, "broker", "--frontend", EPHEMERAL, "--backend", EPHEMERAL);
  const [, frontend, backend] = await brokerProgram.waitFor(/callers at (\S+), workers at (\S+)$/);

  step("2. The monitor: a Reactor over the readings, and the Monitor service, registered in the registry");
  const monitorProgram = start("monitor", program("monitor"), registry!);
  await monitorProgram.waitFor(/registered at/);
  say(`$ dividere lookup ${Monitor.typeName} --registry ${registry}`);
  const lookup = start("lookup", dividere, "lookup", Monitor.typeName, "--registry", registry!);
  if ((await lookup.exited) !== 0) throw new Error("dividere lookup did not find the monitor");

  step("3. Two forecasters: workers behind the broker");
  for (const name of ["forecaster-1", "forecaster-2"]) start(name, program("forecaster"), name, backend!);
  const forecasts = brokerTransport(frontend!);
  await until(async () => (await brokerServices(forecasts)).find((service) => service.name === Forecaster.typeName)?.workers === 2);
  say(`the broker has 2 workers for ${Forecaster.typeName}`);

  step(`4. Three sensors find the monitor through the registry and publish ${READINGS} readings each;`);
  say("the dashboard (this program) subscribes to the monitor's alerts, found the same way");
  await using registryClient = new RegistryClient({ endpoint: registry! });
  const [monitor] = await registryClient.lookup(Monitor.typeName);
  await using alerts = new GreenhouseSubscriber(monitor!.metadata.alerts!, { topics: [AlertTopic] });
  const alertsSeen: string[] = [];
  const watching = (async () => {
    for await (const alert of alerts) {
      if (alert.$typeName !== "greenhouse.v1.Alert") continue;
      const what = alert.problem ? `${alert.sensor} is ${alert.problem}` : `${alert.sensor} is fine again`;
      alertsSeen.push(what);
      say(`dashboard: ALERT ${what} (${alert.reading?.celsius} °C, ${alert.reading?.humidity} %)`);
    }
  })();
  const sensorPrograms = BEDS.map((bed) => start(bed, program("sensor"), bed, registry!, String(READINGS), "100"));
  for (const sensor of sensorPrograms) if ((await sensor.exited) !== 0) throw new Error(`${sensor.name} failed`);

  step("5. Statistics from the Monitor service, called through the registry");
  // The transport asks the registry where its watch is: on free ports, nobody could guess it.
  const monitors = registryTransport(registry!);
  const monitorClient = new MonitorClient(monitors);
  // The last readings may still be on their way to the monitor when the sensors exit.
  const { sensors } = await until(async () => {
    const reply = await monitorClient.getStats({}, { timeoutMs: 1000 });
    return reply.sensors.reduce((sum, bed) => sum + bed.readings, 0) === BEDS.length * READINGS && reply;
  });
  const stats = sensors.sort((a, b) => a.sensor.localeCompare(b.sensor));
  printStats(stats);

  step("6. Forecasts for the next 5 readings, from the forecasters through the broker");
  const forecaster = new ForecasterClient(forecasts);
  const replies = await Promise.all(stats.map((bed) => forecaster.forecast({ sensor: bed.sensor, celsius: bed.recentCelsius, steps: 5 }, { timeoutMs: 5000 })));
  for (const reply of replies) say(`${reply.sensor}: ${reply.celsius.map((c) => `${c} °C`).join(" → ")}   (by ${reply.forecaster})`);

  step("7. What the registry knows, each instance with its health");
  say(`$ dividere services --registry ${registry}`);
  const services = start("services", dividere, "services", "--registry", registry!);
  if ((await services.exited) !== 0) throw new Error("dividere services failed");

  step("8. Stopping every process with SIGTERM; each finishes what it was doing and exits 0");
  await alerts.close();
  await watching;
  for (const name of ["forecaster-1", "forecaster-2", "monitor", "broker", "registry"]) await running.find((p) => p.name === name)!.stop();
  await forecasts.close();
  await monitors.close();

  const expected = stats.reduce((sum, bed) => sum + bed.alerts, 0);
  if (alertsSeen.filter((alert) => !alert.endsWith("fine again")).length !== expected) {
    throw new Error(`the dashboard saw ${alertsSeen.length} alerts, the monitor raised ${expected}`);
  }
  step(`demo finished: ${BEDS.length * READINGS} readings, ${expected} alerts, ${replies.length} forecasts; every process exited 0.`);
}

/** Polls `check` every 100 ms until it returns something truthy; fails after 10 s. */
async function until<T>(check: () => Promise<T | false | undefined>): Promise<T> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const result = await check();
    if (result) return result;
  }
  throw new Error("gave up waiting after 10 s");
}

function printStats(stats: SensorStats[]): void {
  say("sensor   readings   min °C   max °C   humidity   alerts");
  for (const bed of stats) {
    const columns = [bed.sensor.padEnd(8), String(bed.readings).padStart(8), bed.minCelsius.toFixed(1).padStart(8), bed.maxCelsius.toFixed(1).padStart(8)];
    say(`${columns.join(" ")} ${`${bed.meanHumidity.toFixed(0)} %`.padStart(10)} ${String(bed.alerts).padStart(8)}`);
  }
}

const watchdog = setTimeout(() => {
  console.error(`demo: not finished after ${LIMIT_MS / 1000} s; giving up`);
  for (const started of running) started.kill();
  process.exit(1);
}, LIMIT_MS);
watchdog.unref();

main().catch((error: unknown) => {
  console.error("demo failed:", error);
  for (const started of running) started.kill();
  process.exitCode = 1;
});
