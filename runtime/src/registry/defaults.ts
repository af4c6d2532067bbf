import { networkInterfaces } from "node:os";

/** The registry's request port, as in Python dividere. */
export const REGISTRY_PORT = 5000;
/** The registry's publish port (rediscovery, instance changes), as in Python dividere. */
export const REGISTRY_PUBLISH_PORT = 5001;

/** How long an instance's lease lasts unless renewed. */
export const DEFAULT_TTL_MS = 3000;

/**
 * Where a registry publishes, given where it answers: the same host, the next port
 * (`tcp://host:5000` → `tcp://host:5001`), as Python dividere's defaults pair them.
 */
export function publishEndpointOf(requestEndpoint: string): string {
  const match = /^(tcp:\/\/.+):(\d+)$/.exec(requestEndpoint);
  if (!match) throw new Error(`cannot derive the publish endpoint of ${requestEndpoint}; pass it explicitly`);
  return `${match[1]}:${Number(match[2]) + 1}`;
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
