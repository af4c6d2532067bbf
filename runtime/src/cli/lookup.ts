import { toJson } from "@bufbuild/protobuf";
import { InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { RegistryClient } from "../registry/client.js";
import { type Command, integer, parse, printJson } from "./command.js";
import { DEFAULT_REGISTRY, SEVERAL_REGISTRIES_USAGE, registriesOf } from "./registry-option.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";

export const lookup: Command = {
  name: "lookup",
  summary: "ask a registry where a service runs",
  usage: `usage: dividere lookup SERVICE [options]

Prints every live instance of SERVICE (its full name, e.g. chat.v1.History) as a line of JSON.
Exits 1 when there is none.

options:
  --registry ENDPOINTS       the registry (default ${DEFAULT_REGISTRY})
${SEVERAL_REGISTRIES_USAGE}
  --python                   speak Python dividere's registry protocol
  --timeout MS               how long to wait for the registry (default 3000; for each of several)
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      { registry: { type: "string" }, python: { type: "boolean" }, timeout: { type: "string" } },
      { min: 1, max: 1, names: "the name of a service" },
    );
    const service = positionals[0]!;
    const endpoint = registriesOf(values.registry);
    await using client = new RegistryClient({
      endpoint,
      protocol: values.python ? "python" : "dividere",
      timeoutMs: integer(values.timeout, "timeout") ?? 3000,
      // Each registry once: the --timeout is the wait for each.
      retries: endpoint.length - 1,
      ...curveFromEnvironment(),
    });
    const instances = await client.lookup(service);
    for (const instance of instances) printJson(toJson(InstanceSchema, instance));
    if (instances.length === 0) {
      process.stderr.write(`dividere lookup: no instance of ${service} is registered at ${client.endpoint}\n`);
      return 1;
    }
    return 0;
  },
};
