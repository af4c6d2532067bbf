import { REGISTRY_PORT, REGISTRY_PUBLISH_PORT, REGISTRY_WATCH_PORT } from "../registry/defaults.js";
import { RegistryServer } from "../registry/server.js";
import { type Command, parse, untilStopped } from "./command.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";

export const registry: Command = {
  name: "registry",
  summary: "run the name service, compatible with Python dividere's registry",
  usage: `usage: dividere registry [options]

Runs the name service until SIGINT or SIGTERM, then stops cleanly.

options:
  --endpoint ENDPOINT        where to bind for requests (default tcp://*:${REGISTRY_PORT})
  --publish ENDPOINT         where to bind for rediscovery, RediscoverReq only: Python
                             dividere services listen there (default tcp://*:${REGISTRY_PUBLISH_PORT})
  --watch ENDPOINT           where to bind for the watch, InstancesChanged on every change
                             (default tcp://*:${REGISTRY_WATCH_PORT})
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values } = parse(
      args,
      { endpoint: { type: "string" }, publish: { type: "string" }, watch: { type: "string" } },
      { min: 0, max: 0, names: "no arguments besides options" },
    );
    // Listening before saying it runs: whoever reads that line may signal at once.
    const stopped = untilStopped();
    const running = new RegistryServer({
      endpoint: values.endpoint && { bind: values.endpoint },
      publishEndpoint: values.publish && { bind: values.publish },
      watchEndpoint: values.watch && { bind: values.watch },
      ...curveFromEnvironment(),
    });
    console.log(`dividere registry: requests at ${running.endpoint}, publishing at ${running.publishEndpoint}, watch at ${running.watchEndpoint}`);
    await stopped;
    await running.close();
    console.log("dividere registry: stopped");
    return 0;
  },
};
