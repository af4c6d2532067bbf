import type { ServingStatus } from "../builtin/health.js";
import { HealthClient } from "../builtin/health-client.js";
import { theRegistries } from "../registry/failover.js";
import { RpcError } from "../rpc/status.js";
import { directTransport } from "../rpc/transport.js";
import { type Command, UsageError, integer, parse } from "./command.js";
import { askEach, askRegistry, unreachable } from "./instances.js";
import { DEFAULT_REGISTRY, SEVERAL_REGISTRIES_USAGE, registriesOf } from "./registry-option.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";

/** The exit codes of `dividere health`, as grpc_health_probe has one per outcome (its numbers differ). */
export const HEALTH_EXIT = {
  SERVING: 0,
  /** NOT_SERVING, or SERVICE_UNKNOWN: the server does not know the service (or the registry knows no instance). */
  UNHEALTHY: 1,
  USAGE: 2,
  /** Nothing answered within --timeout: nothing listens there, or it hangs. */
  UNREACHABLE: 3,
  /** The target answered with an error: it is no dividere server, or one without the health service. */
  FAILED: 4,
} as const;

const exitOf = (status: ServingStatus) => (status === "SERVING" ? HEALTH_EXIT.SERVING : HEALTH_EXIT.UNHEALTHY);

/** The exit code of a failed check, said on stderr. */
function failed(error: unknown, target: string, timeoutMs: number): number {
  if (!(error instanceof RpcError)) throw error;
  if (unreachable(error)) {
    process.stderr.write(`dividere health: no answer from ${target} within ${timeoutMs} ms (${error.code}: ${error.message})\n`);
    return HEALTH_EXIT.UNREACHABLE;
  }
  process.stderr.write(`dividere health: ${target} answered ${error.code}: ${error.message}\n`);
  return HEALTH_EXIT.FAILED;
}

export const health: Command = {
  name: "health",
  summary: "ask a server, a broker or a service's instances whether they serve (exit 0 when they do)",
  usage: `usage: dividere health TARGET [SERVICE] [options]

Asks TARGET whether SERVICE is serving (grpc.health.v1's Check), prints the status
(SERVING, NOT_SERVING or SERVICE_UNKNOWN) and exits with it: for scripts and container probes,
as grpc_health_probe. TARGET is the endpoint of a server, or of a broker's frontend
(tcp://host:port); SERVICE is a service's full name (chat.v1.History), by default "": the server
(or broker) as a whole. A broker says SERVING for a service while one of its workers serves it.

Or TARGET is the full name of a service (no SERVICE then): every instance of it the registry
knows is asked about it, one line each ("ENDPOINT STATUS"); SERVING when one of them is.

exit codes:
  0  SERVING (through the registry: at least one instance is)
  1  NOT_SERVING, or SERVICE_UNKNOWN (the server does not know SERVICE; the registry knows no instance)
  2  usage error
  3  no answer within --timeout: nothing listens there (or the registry), or it hangs
  4  TARGET answered with an error: it is not a dividere server, or one without health

options:
  --registry ENDPOINTS       the registry to find a service TARGET in (default ${DEFAULT_REGISTRY})
${SEVERAL_REGISTRIES_USAGE}
  --timeout MS               how long to wait for the answer (default 1000); with --watch, for the first
  --watch                    print the status now and each change (Watch), until the server ends the
                             watch (it closes) or Ctrl-C; exits with the code of the last status
                             (TARGET an endpoint only)
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      { registry: { type: "string" }, timeout: { type: "string" }, watch: { type: "boolean" } },
      { min: 1, max: 2, names: "TARGET [SERVICE]" },
    );
    const [target, service = ""] = positionals as [string, string | undefined];
    const timeoutMs = integer(values.timeout, "timeout") ?? 1000;
    const byEndpoint = /^[a-z]+:\/\//.test(target);
    if (byEndpoint && values.registry) throw new UsageError(`--registry finds a service by name; TARGET ${target} is an endpoint already`);
    if (!byEndpoint && positionals.length > 1) {
      throw new UsageError(`TARGET ${target} is a service found through the registry, which is what is asked about: leave out SERVICE, or give an endpoint as TARGET`);
    }
    if (!byEndpoint && values.watch) throw new UsageError("--watch watches one server: give its endpoint as TARGET");
    if (!byEndpoint) return checkInstances(target, values.registry ?? DEFAULT_REGISTRY, timeoutMs);
    const transport = directTransport(target, curveFromEnvironment());
    const client = new HealthClient(transport);
    try {
      if (values.watch) return await watch(client, target, service, timeoutMs);
      const status = await client.check(service, { timeoutMs });
      process.stdout.write(`${status}\n`);
      return exitOf(status);
    } catch (error) {
      return failed(error, target, timeoutMs);
    } finally {
      await transport.close();
    }
  },
};

/** Prints each status of a Watch until it ends (or Ctrl-C); the code of the last one. */
async function watch(client: HealthClient, target: string, service: string, timeoutMs: number): Promise<number> {
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
  let last: ServingStatus | undefined;
  try {
    for await (const status of client.watch(service, { timeoutMs, signal: stop.signal })) {
      process.stdout.write(`${(last = status)}\n`);
    }
  } catch (error) {
    // Ctrl-C: the last status said is the answer; anything else ends what the server said.
    if (!stop.signal.aborted) return failed(error, target, timeoutMs);
  }
  return last === undefined ? HEALTH_EXIT.UNHEALTHY : exitOf(last);
}

/** Asks every registered instance of `service` about it: SERVING when one is. */
async function checkInstances(service: string, registry: string, timeoutMs: number): Promise<number> {
  let instances;
  try {
    instances = await askRegistry(registry, timeoutMs, (client) => client.lookup(service));
  } catch (error) {
    return failed(error, theRegistries(registriesOf(registry)), timeoutMs);
  }
  if (instances.length === 0) {
    process.stderr.write(`dividere health: no instance of ${service} is registered at ${registry}\n`);
    process.stdout.write("SERVICE_UNKNOWN\n");
    return HEALTH_EXIT.UNHEALTHY;
  }
  const answers = await askEach(instances, (transport) => new HealthClient(transport).check(service, { timeoutMs }));
  const codes = answers.map(({ instance: { endpoint }, answer, error }) => {
    if (answer !== undefined) {
      process.stdout.write(`${endpoint} ${answer}\n`);
      return exitOf(answer);
    }
    process.stdout.write(`${endpoint} ${unreachable(error) ? "UNREACHABLE" : "FAILED"}\n`);
    return failed(error, endpoint, timeoutMs);
  });
  // One instance serving is enough; an unhealthy answer tells more than a failure, a failure more than silence.
  const best = [HEALTH_EXIT.SERVING, HEALTH_EXIT.UNHEALTHY, HEALTH_EXIT.FAILED].find((code) => codes.includes(code));
  return best ?? HEALTH_EXIT.UNREACHABLE;
}
