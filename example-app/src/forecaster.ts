/**
 * A forecaster: `node dist/forecaster.js NAME BROKER_BACKEND`.
 *
 * A broker worker serving the Forecaster service: the broker hands it calls while it has a free
 * slot, heartbeats tell each side the other is alive. Stops cleanly on SIGTERM/SIGINT: tells the
 * broker, finishes the forecast in flight, leaves.
 */
import { RpcError, Worker } from "@dividere/runtime";
import { type ForecastRequest, Forecaster } from "./gen/greenhouse/v1/greenhouse_pb.js";
import { ForecasterDefinition } from "./gen/greenhouse/v1/greenhouse_dividere.js";

const [name, backend] = process.argv.slice(2);
if (!name || !backend) {
  console.error("usage: node dist/forecaster.js NAME BROKER_BACKEND");
  process.exit(2);
}

/** A least-squares line through the temperatures, carried `steps` steps ahead. */
function extrapolate({ celsius, steps }: ForecastRequest): number[] {
  const n = celsius.length;
  const meanX = (n - 1) / 2;
  const meanY = celsius.reduce((sum, y) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  celsius.forEach((y, x) => {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  });
  const slope = variance ? covariance / variance : 0;
  return Array.from({ length: steps }, (_, step) => Math.round((meanY + slope * (n + step - meanX)) * 10) / 10);
}

let forecasts = 0;
const worker = new Worker(backend, { workerId: name })
  .add(ForecasterDefinition, {
    forecast(request) {
      if (request.celsius.length === 0) throw new RpcError("INVALID_ARGUMENT", "no temperatures to forecast from");
      forecasts++;
      return { sensor: request.sensor, celsius: extrapolate(request), forecaster: name };
    },
  })
  .start();
console.log(`serving ${Forecaster.typeName} behind the broker at ${backend}`);

await worker.closeOnSignals();
console.log(`stopped after ${forecasts} forecast${forecasts === 1 ? "" : "s"}`);
