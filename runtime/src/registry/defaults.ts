import { networkInterfaces } from "node:os";
import { DividereError } from "../errors.js";

/** The registry's request port, as in Python dividere. */
export const REGISTRY_PORT = 5000;
/** The registry's publish port, as in Python dividere: `RediscoverReq` only, which Python services decode. */
export const REGISTRY_PUBLISH_PORT = 5001;
/**
 * The registry's watch port: `dividere.v1.InstancesChanged`, on a port of its own because a
 * Python dividere service subscribes to everything on the publish port and stops re-registering
 * at the first message it cannot decode. Python services bind 5100-6000, so 5002 is free of them.
 */
export const REGISTRY_WATCH_PORT = 5002;

/** How long an instance's lease lasts unless renewed. */
export const DEFAULT_TTL_MS = 3000;

/**
 * How long a leased registration waits for a registry's answer before it tries the next
 * registry: a third of the lease (at least 500 ms, at most a client's default of 3000), so that
 * a renewal that finds its registry dead is answered by another before the lease runs out. A
 * registration without a lease (the Python protocol) waits the client's default.
 */
export function registrationTimeoutMs(ttlMs: number): number | undefined {
  return ttlMs > 0 ? Math.min(3000, Math.max(500, Math.round(ttlMs / 3))) : undefined;
}

/**
 * Where a registry publishes, given where it answers: the same host, the next port
 * (`tcp://host:5000` → `tcp://host:5001`), as Python dividere's defaults pair them.
 */
export function publishEndpointOf(requestEndpoint: string): string {
  return portAfter(requestEndpoint, REGISTRY_PUBLISH_PORT - REGISTRY_PORT, "publishEndpoint");
}

/** Where a registry's watch is, given where it answers: the same host, two ports on (`tcp://host:5000` → `tcp://host:5002`). */
export function watchEndpointOf(requestEndpoint: string): string {
  return portAfter(requestEndpoint, REGISTRY_WATCH_PORT - REGISTRY_PORT, "watchEndpoint");
}

function portAfter(requestEndpoint: string, offset: number, option: string): string {
  const match = /^(tcp:\/\/.+):(\d+)$/.exec(requestEndpoint);
  if (!match) throw new DividereError("INVALID_ARGUMENT", `cannot derive the ${option} of the registry at ${requestEndpoint} (not tcp://host:port); pass ${option} explicitly`);
  return `${match[1]}:${Number(match[2]) + offset}`;
}

/** A bound endpoint as a client on this machine connects to it: a wildcard host (`0.0.0.0`, `[::]`) becomes loopback. */
export function connectableHere(bound: string): string {
  return bound.replace(/^tcp:\/\/0\.0\.0\.0:/, "tcp://127.0.0.1:").replace(/^tcp:\/\/\[::\]:/, "tcp://[::1]:");
}

/**
 * Where clients are told to reach a server bound at `bound` (with its real port): on `host`
 * when given; else on the address it is bound to, unless that is a wildcard (`0.0.0.0`,
 * `[::]`), which becomes this host's {@link advertisedHost}. A server bound to 127.0.0.1 is
 * reachable on 127.0.0.1 only, so that is what it must say. `ipc://` and `inproc://` stay as
 * they are.
 */
export function advertisedEndpoint(bound: string, host?: string): string {
  const parts = hostAndPort(bound);
  if (!parts) return bound;
  const wildcard = parts.host === "0.0.0.0" || parts.host === "[::]";
  return `tcp://${host ?? (wildcard ? advertisedHost() : parts.host)}:${parts.port}`;
}

/** The address others reach this host at: its first external IPv4 address, else loopback. */
export function advertisedHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === "IPv4" && !address.internal) return address.address;
    }
  }
  return "127.0.0.1";
}

/** `tcp://host:port` → { host, port }, for the Python protocol's server/port fields. */
export function hostAndPort(endpoint: string): { host: string; port: number } | undefined {
  const match = /^tcp:\/\/(.+):(\d+)$/.exec(endpoint);
  return match ? { host: match[1]!, port: Number(match[2]) } : undefined;
}
