import { type MethodStats, Discovery } from "../gen/dividere/v1/discovery_pb.js";
import { RpcClient } from "../rpc/client.js";
import type { RpcError } from "../rpc/status.js";
import { type Command, integer, parse, printJson } from "./command.js";
import { askEach, askRegistry, table, unreachable } from "./instances.js";
import { DEFAULT_REGISTRY, SEVERAL_REGISTRIES_USAGE } from "./registry-option.js";
import { SECURITY_USAGE } from "./security.js";

/** One method's figures gathered over the instances that answered. */
interface Gathered {
  path: string;
  instances: number;
  calls: bigint;
  errors: bigint;
  processingTimeMs: number;
  averageProcessingTimeMs: number;
}

export const stats: Command = {
  name: "stats",
  summary: "gather the stats of every instance of a service (calls, errors, processing times)",
  usage: `usage: dividere stats SERVICE [options]

Asks every instance of SERVICE (its full name, e.g. chat.v1.History) the registry knows for its
stats (dividere.v1.Discovery's Stats, all at once), and prints, for each method of SERVICE, a
line per instance and one gathered over all ("all"): calls and errors summed, processing time
summed and its average recomputed from the sums. p50 and p99 are shown per instance only:
percentiles of several instances cannot be averaged into the percentile of all.
An instance that does not answer within --timeout is shown as UNREACHABLE, one that answers
with an error (it has no Discovery service) as FAILED.

exit codes:
  0  at least one instance answered
  1  none answered, or the registry knows no instance of SERVICE, or the registry did not answer
  2  usage error

options:
  --registry ENDPOINTS       the registry (default ${DEFAULT_REGISTRY})
${SEVERAL_REGISTRIES_USAGE}
  --timeout MS               how long to wait for the registry (for each of several), and for
                             each instance (default 1000)
  --json                     one JSON line per instance and method, then one per method gathered
                             ({"instanceId": "all", ...}), and one per instance that did not answer
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      { registry: { type: "string" }, timeout: { type: "string" }, json: { type: "boolean" } },
      { min: 1, max: 1, names: "the name of a service" },
    );
    const service = positionals[0]!;
    const registry = values.registry ?? DEFAULT_REGISTRY;
    const timeoutMs = integer(values.timeout, "timeout") ?? 1000;
    const instances = await askRegistry(registry, timeoutMs, (client) => client.lookup(service));
    if (instances.length === 0) {
      process.stderr.write(`dividere stats: no instance of ${service} is registered at ${registry}\n`);
      return 1;
    }
    // The instance also counts its built-in services' calls (health checks, these stats): only SERVICE's are asked about.
    const prefix = `/${service}/`;
    const answers = await askEach(instances, async (transport) => {
      const reply = await new RpcClient(transport).unary(Discovery.method.stats, {}, { timeoutMs });
      return reply.methods.filter((method) => method.path.startsWith(prefix));
    });
    const answered = answers.flatMap(({ instance, answer }) => (answer ? answer.map((method) => ({ instance, method })) : []));
    const gathered = gather(answered.map(({ method }) => method));
    if (values.json) {
      for (const { instance, method } of answered) printJson({ instanceId: instance.instanceId, endpoint: instance.endpoint, ...figures(method) });
      for (const all of gathered) printJson({ instanceId: "all", ...all, calls: Number(all.calls), errors: Number(all.errors) });
      for (const { instance, error } of answers) {
        if (error) printJson({ instanceId: instance.instanceId, endpoint: instance.endpoint, status: silence(error), error: `${error.code}: ${error.message}` });
      }
    } else {
      const ms = (value: number) => value.toFixed(2);
      const rows = gathered.flatMap((all) => [
        ...answered
          .filter(({ method }) => method.path === all.path)
          .map(({ instance, method }) => [
            method.path,
            instance.instanceId,
            String(method.calls),
            String(method.errors),
            ms(method.processingTimeMs),
            ms(method.averageProcessingTimeMs),
            ms(method.p50Ms),
            ms(method.p99Ms),
            method.lastError,
          ]),
        [all.path, "all", String(all.calls), String(all.errors), ms(all.processingTimeMs), ms(all.averageProcessingTimeMs), "-", "-", ""],
      ]);
      const silent = answers.flatMap(({ instance, error }) => (error ? [[instance.instanceId, instance.endpoint, silence(error), `${error.code}: ${error.message}`]] : []));
      process.stdout.write(table([["METHOD", "INSTANCE", "CALLS", "ERRORS", "TOTAL MS", "AVG MS", "P50 MS", "P99 MS", "LAST ERROR"], ...rows]));
      process.stdout.write(
        gathered.length === 0 ? `no method of ${service} reported\n` : "(p50 and p99 per instance only: percentiles of instances do not combine into one of all)\n",
      );
      if (silent.length) process.stdout.write(`\n${table([["INSTANCE", "ENDPOINT", "STATUS", "WHY"], ...silent])}`);
    }
    return answers.some(({ answer }) => answer !== undefined) ? 0 : 1;
  },
};

/** Why an instance gave no stats: no answer in time, or an error answered. */
const silence = (error: RpcError) => (unreachable(error) ? "UNREACHABLE" : "FAILED");

/** A method's figures as JSON numbers (calls and errors are uint64 on the wire; no instance counts past 2^53). */
function figures(method: MethodStats) {
  const { path, calls, errors, lastError, processingTimeMs, averageProcessingTimeMs, p50Ms, p99Ms } = method;
  return { path, calls: Number(calls), errors: Number(errors), lastError, processingTimeMs, averageProcessingTimeMs, p50Ms, p99Ms };
}

/** Each method's figures summed over the instances, its average recomputed from the sums (an average of averages would weigh a quiet instance as a busy one). */
function gather(methods: readonly MethodStats[]): Gathered[] {
  const byPath = new Map<string, Gathered>();
  for (const method of methods) {
    const all = byPath.get(method.path) ?? { path: method.path, instances: 0, calls: 0n, errors: 0n, processingTimeMs: 0, averageProcessingTimeMs: 0 };
    all.instances++;
    all.calls += method.calls;
    all.errors += method.errors;
    all.processingTimeMs += method.processingTimeMs;
    byPath.set(method.path, all);
  }
  const gathered = [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
  for (const all of gathered) all.averageProcessingTimeMs = all.calls > 0n ? all.processingTimeMs / Number(all.calls) : 0;
  return gathered;
}
