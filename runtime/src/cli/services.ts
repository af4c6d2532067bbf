import type { ServingStatus } from "../builtin/health.js";
import { HealthClient } from "../builtin/health-client.js";
import { type Command, integer, parse, printJson } from "./command.js";
import { askEach, askRegistry, table, unreachable } from "./instances.js";
import { DEFAULT_REGISTRY, SEVERAL_REGISTRIES_USAGE } from "./registry-option.js";
import { SECURITY_USAGE } from "./security.js";

/** An instance's health as `dividere services` shows it: its status, or why there is none. */
type Shown = ServingStatus | "UNREACHABLE" | "FAILED";

export const services: Command = {
  name: "services",
  summary: "list every service and instance the registry knows, with their health",
  usage: `usage: dividere services [options]

Lists every service the registry knows and each of its instances, with the instance's health:
its answer to grpc.health.v1's Check for the service, asked of every instance at once.
  SERVING, NOT_SERVING, SERVICE_UNKNOWN   what the instance answered
  UNREACHABLE                             no answer within --timeout (stopped, hung, gone)
  FAILED                                  it answered with an error: no health service there
An instance that does not answer is shown, not a failure: the command exits 0 when the
registry answered (1 when it did not, 2 on a usage error).

options:
  --registry ENDPOINTS       the registry (default ${DEFAULT_REGISTRY})
${SEVERAL_REGISTRIES_USAGE}
  --timeout MS               how long to wait for the registry (for each of several), and for
                             each instance (default 1000)
  --json                     one JSON line per instance instead of a table:
                             {"service","instanceId","endpoint","health","metadata"[,"error"]}
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values } = parse(args, { registry: { type: "string" }, timeout: { type: "string" }, json: { type: "boolean" } }, { min: 0, max: 0, names: "no arguments (only options)" });
    const registry = values.registry ?? DEFAULT_REGISTRY;
    const timeoutMs = integer(values.timeout, "timeout") ?? 1000;
    const listed = await askRegistry(registry, timeoutMs, (client) => client.list());
    if (listed.size === 0) {
      process.stderr.write(`dividere services: no service is registered at ${registry}\n`);
      return 0;
    }
    const instances = [...listed.values()].flat();
    const answers = await askEach(instances, (transport, { service }) => new HealthClient(transport).check(service, { timeoutMs }));
    const shown = answers.map(({ instance, answer, error }) => {
      const health: Shown = answer ?? (unreachable(error) ? "UNREACHABLE" : "FAILED");
      return { instance, health, error: error && `${error.code}: ${error.message}` };
    });
    if (values.json) {
      for (const { instance: { service, instanceId, endpoint, metadata }, health, error } of shown) {
        printJson({ service, instanceId, endpoint, health, metadata, ...(error === undefined ? {} : { error }) });
      }
      return 0;
    }
    const rows = shown.map(({ instance: { service, instanceId, endpoint }, health }) => [service, instanceId, endpoint, health]);
    process.stdout.write(table([["SERVICE", "INSTANCE", "ENDPOINT", "HEALTH"], ...rows]));
    return 0;
  },
};
