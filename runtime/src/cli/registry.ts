import { REGISTRY_PORT, REGISTRY_PUBLISH_PORT, REGISTRY_WATCH_PORT } from "../registry/defaults.js";
import { RegistryServer } from "../registry/server.js";
import { importEtcd3 } from "../registry/etcd-client.js";
import { EtcdStore } from "../registry/etcd-store.js";
import { type RegistryStore, storeFrom } from "../registry/store.js";
import { type Command, UsageError, parse, untilStopped } from "./command.js";
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
  --store STORE              where the records are kept: memory (default; they go with the
                             process) or etcd://HOST:PORT[,HOST:PORT...][/ROOT/], an etcd
                             cluster's client addresses: several registries over one cluster
                             serve one view, and a restarted registry knows every instance
                             (needs the etcd3 package: npm install etcd3)
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values } = parse(
      args,
      { endpoint: { type: "string" }, publish: { type: "string" }, watch: { type: "string" }, store: { type: "string" } },
      { min: 0, max: 0, names: "no arguments besides options" },
    );
    // A store named wrong is a mistake in the command line: said before anything is bound.
    let store: RegistryStore | undefined;
    try {
      store = values.store === undefined ? undefined : storeFrom(values.store);
    } catch (error) {
      throw new UsageError(`--store: ${(error as Error).message}`);
    }
    // Said at once, not at the first request: a registry on etcd without its client answers nothing.
    if (store instanceof EtcdStore) await importEtcd3();
    // Listening before saying it runs: whoever reads that line may signal at once.
    const stopped = untilStopped();
    const running = new RegistryServer({
      endpoint: values.endpoint && { bind: values.endpoint },
      publishEndpoint: values.publish && { bind: values.publish },
      watchEndpoint: values.watch && { bind: values.watch },
      store,
      ...curveFromEnvironment(),
    });
    console.log(
      `dividere registry: requests at ${running.endpoint}, publishing at ${running.publishEndpoint}, watch at ${running.watchEndpoint}, records in ${running.store}`,
    );
    await stopped;
    await running.close();
    await store?.close();
    console.log("dividere registry: stopped");
    return 0;
  },
};
