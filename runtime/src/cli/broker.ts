import { Broker } from "../broker/broker.js";
import { BROKER_BACKEND_PORT, BROKER_FRONTEND_PORT, HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS } from "../broker/protocol.js";
import { DEFAULT_GRACE_MS } from "../lifecycle.js";
import { type Command, integer, parse, untilStopped } from "./command.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";

export const broker: Command = {
  name: "broker",
  summary: "run a load-balancing broker: callers connect to its frontend, workers to its backend",
  usage: `usage: dividere broker [options]

Runs a broker until SIGINT or SIGTERM, then stops cleanly: refuses new calls, lets
the workers answer the calls in flight (up to ${DEFAULT_GRACE_MS} ms), and exits 0. It serves
Python dividere's LoadBalancingPattern servers and clients too, on the same two ports.

options:
  --frontend ENDPOINT        where to bind for callers (default tcp://*:${BROKER_FRONTEND_PORT})
  --backend ENDPOINT         where to bind for workers (default tcp://*:${BROKER_BACKEND_PORT})
  --heartbeat-interval MS    how often broker and workers exchange heartbeats (default ${HEARTBEAT_INTERVAL_MS})
  --liveness N               heartbeats a worker may miss before it is dropped (default ${HEARTBEAT_LIVENESS})
  --max-queued N             calls that may wait per service for a free worker, and Python
                             requests for a free Python server (default 1000)
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values } = parse(
      args,
      {
        frontend: { type: "string" },
        backend: { type: "string" },
        "heartbeat-interval": { type: "string" },
        liveness: { type: "string" },
        "max-queued": { type: "string" },
      },
      { min: 0, max: 0, names: "no arguments besides options" },
    );
    // Listening before saying it runs: whoever reads that line may signal at once.
    const stopped = untilStopped();
    const running = new Broker({
      // A broker binds what it is given, whatever the host: tcp://127.0.0.1:5555 too.
      frontend: values.frontend && { bind: values.frontend },
      backend: values.backend && { bind: values.backend },
      ...curveFromEnvironment(),
      heartbeatIntervalMs: integer(values["heartbeat-interval"], "heartbeat-interval"),
      liveness: integer(values.liveness, "liveness"),
      maxQueued: integer(values["max-queued"], "max-queued"),
    });
    console.log(`dividere broker: callers at ${running.frontendEndpoint}, workers at ${running.backendEndpoint}`);
    await stopped;
    await running.close();
    console.log(`dividere broker: stopped after answering ${running.stats.answered} calls`);
    return 0;
  },
};
