import { Discovery } from "../gen/dividere/v1/discovery_pb.js";
import type { CallDispatcher } from "../rpc/dispatcher.js";
import { type DiscoverySource, type InstanceInfo, discoveryService } from "./discovery.js";
import type { Health } from "./health.js";
import { HealthService, healthService } from "./health-service.js";
import { ServerReflection, reflectionService } from "./reflection-service.js";

/** What the built-in services of a server answer from. */
export interface Builtins {
  /** The statuses `grpc.health.v1.Health` reports. */
  readonly health: Health;
  /** What `dividere.v1.Discovery` says of the instance. */
  readonly info?: InstanceInfo | undefined;
  /** What Discovery answers from, when it is not the dispatcher's own (a broker's calls). */
  readonly discovery?: DiscoverySource;
  /** Whether `grpc.reflection.v1` is answered; default true. */
  readonly reflection?: boolean | undefined;
}

/**
 * Hosts the services every server answers of itself, beside the application's, on the
 * dispatcher of its calls: the one place a built-in service is added. An RpcServer (and so every
 * `serve()` host) and a Broker call it; a Worker does not, since its broker answers them for the
 * services behind it. A closing server still answers them (see `AddOptions.builtin`).
 */
export function hostBuiltins(dispatcher: CallDispatcher, builtins: Builtins): void {
  dispatcher.add(HealthService, healthService(builtins.health), { builtin: true });
  dispatcher.add(Discovery, discoveryService(builtins.discovery ?? dispatcher, builtins.info), { builtin: true });
  if (builtins.reflection !== false) dispatcher.add(ServerReflection, reflectionService(dispatcher), { builtin: true });
}
