import { Broker } from "../broker/broker.js";
import { BROKER_BACKEND_PORT, BROKER_FRONTEND_PORT, BROKER_SERVICE, HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS } from "../broker/protocol.js";
import { DEFAULT_GRACE_MS } from "../lifecycle.js";
import { DEFAULT_TTL_MS } from "../registry/defaults.js";
import { type Command, UsageError, integer, parse, untilStopped } from "./command.js";
import { SEVERAL_REGISTRIES_USAGE, registriesOf } from "./registry-option.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";

export const broker: Command = {
  name: "broker",
  summary: "run a load-balancing broker: callers connect to its frontend, workers to its backend",
  usage: `usage: dividere broker [options]

Runs a broker until SIGINT or SIGTERM, then stops cleanly: refuses new calls, lets
the workers answer the calls in flight (up to ${DEFAULT_GRACE_MS} ms), and exits 0. It serves
Python dividere's LoadBalancingPattern servers and clients too, on the same two ports.
With --registry it registers its frontend while it runs (a line says when the registry
took it), and unregisters when it stops.

options:
  --frontend ENDPOINT        where to bind for callers (default tcp://*:${BROKER_FRONTEND_PORT})
  --backend ENDPOINT         where to bind for workers (default tcp://*:${BROKER_BACKEND_PORT})
  --heartbeat-interval MS    how often broker and workers exchange heartbeats (default ${HEARTBEAT_INTERVAL_MS})
  --liveness N               heartbeats a worker may miss before it is dropped (default ${HEARTBEAT_LIVENESS})
  --max-queued N             calls that may wait per service for a free worker, and Python
                             requests for a free Python server (default 1000)
  --registry ENDPOINTS       register the frontend with this registry while running, so that
                             brokerTransport({ registry }) finds this broker
${SEVERAL_REGISTRIES_USAGE}
  --register-as NAME         the name to register under (default ${BROKER_SERVICE})
  --host HOST                the host the registry tells callers (default: the frontend's
                             address, or for a wildcard this host's first external IPv4 address)
  --ttl MS                   the lease of the registration, renewed every third of it (default ${DEFAULT_TTL_MS})
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
        registry: { type: "string" },
        "register-as": { type: "string" },
        host: { type: "string" },
        ttl: { type: "string" },
      },
      { min: 0, max: 0, names: "no arguments besides options" },
    );
    if (values.registry === undefined && (values["register-as"] ?? values.host ?? values.ttl) !== undefined) {
      throw new UsageError("--register-as, --host and --ttl say how the broker registers: give --registry too");
    }
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
      registry: values.registry === undefined ? undefined : registriesOf(values.registry),
      registerAs: values["register-as"],
      host: values.host,
      ttlMs: integer(values.ttl, "ttl"),
    });
    console.log(`dividere broker: callers at ${running.frontendEndpoint}, workers at ${running.backendEndpoint}`);
    // A line of its own once the registry took the entry: whoever starts brokers can wait for it.
    const entry = running.instance;
    if (entry) {
      running.waitForRegistration().then(
        () => console.log(`dividere broker: registered as ${entry.service} at ${entry.endpoint} with ${values.registry}`),
        () => undefined,
      );
    }
    await stopped;
    await running.close();
    console.log(`dividere broker: stopped after answering ${running.stats.answered} calls`);
    return 0;
  },
};
