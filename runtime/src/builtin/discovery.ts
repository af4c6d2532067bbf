/**
 * The Discovery service every server hosts beside the application's (proto/dividere/v1/discovery.proto):
 * ping, info and stats, as NATS services answer $SRV.PING, INFO and STATS.
 * @module
 */
import { randomUUID } from "node:crypto";
import { type DescService, create } from "@bufbuild/protobuf";
import { type Discovery, type InstanceIdentity, InstanceIdentitySchema } from "../gen/dividere/v1/discovery_pb.js";
import type { CallStats } from "../rpc/dispatcher.js";
import { type ServiceImpl, methodPath } from "../rpc/types.js";

/** What a server says of itself in Discovery's answers (`info` in the options of RpcServer, serve() and Worker). */
export interface InstanceInfo {
  /** What the instance calls itself; default: the names of the services it hosts. */
  name?: string;
  /** Its version, SemVer say; default: none. */
  version?: string;
  /** What it does, in a sentence. */
  description?: string;
  /** Anything else worth knowing from outside: region, build, owner. */
  metadata?: Record<string, string>;
}

/** Options that carry an {@link InstanceInfo}. */
export interface InstanceInfoOptions {
  /** What Discovery's answers say of this instance. */
  info?: InstanceInfo;
}

/** What the Discovery service reads of the server it belongs to (its CallDispatcher). */
export interface DiscoverySource {
  /** The services hosted, the built-in ones included. */
  readonly descriptors: readonly DescService[];
  /** The full names of the application's services (the built-in ones left out). */
  readonly services: readonly string[];
  /** A snapshot of its counters. */
  readonly stats: CallStats;
  /** Calls running now. */
  readonly inFlight: number;
}

/** The implementation of Discovery for the server `source` describes. */
export function discoveryService(source: DiscoverySource, info: InstanceInfo = {}): ServiceImpl<typeof Discovery> {
  const id = randomUUID();
  const started = new Date().toISOString();
  const instance = (): InstanceIdentity => {
    const name = info.name ?? source.services.join(",");
    return create(InstanceIdentitySchema, { name, id, version: info.version ?? "", metadata: info.metadata ?? {}, started });
  };
  return {
    ping: () => ({ instance: instance() }),
    info: () => ({
      instance: instance(),
      description: info.description ?? "",
      services: [
        ...source.descriptors.map((service) => ({
          name: service.typeName,
          methods: service.methods.map((method) => ({
            path: methodPath(method),
            kind: method.methodKind,
            inputType: method.input.typeName,
            outputType: method.output.typeName,
          })),
        })),
        // Services known by name alone (a broker's, announced by its workers).
        ...source.services.filter((name) => !source.descriptors.some((service) => service.typeName === name)).map((name) => ({ name, methods: [] })),
      ],
    }),
    stats: () => ({
      instance: instance(),
      inFlight: source.inFlight,
      methods: Object.entries(source.stats.methods).map(([path, figures]) => ({
        path,
        ...figures,
        calls: BigInt(figures.calls),
        errors: BigInt(figures.errors),
      })),
    }),
  };
}
