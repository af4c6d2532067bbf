import { createServer } from "node:net";
import { DividereError } from "../errors.js";

/** Options of {@link PortManager.acquire}. */
export interface AcquireOptions {
  /** The interface to probe; default all (`0.0.0.0`). */
  host?: string;
  /** Lowest port to hand out; with `max`, a range is searched instead of asking the OS. */
  min?: number;
  /** Highest port to hand out. */
  max?: number;
}

const handedOut = new Set<number>();

function probe(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : undefined));
    });
  });
}

/**
 * Finds TCP ports that are free now, as Python dividere's `PortManager` does. Prefer
 * binding `tcp://*:0` and reading `socket.endpoint` where you can: a port found free may
 * be taken by another process before you bind it. Within this process, a port is never
 * handed out twice.
 */
export const PortManager = {
  async acquire(options: AcquireOptions = {}): Promise<number> {
    const host = options.host ?? "0.0.0.0";
    if (options.min !== undefined || options.max !== undefined) {
      const min = options.min ?? 1024;
      const max = options.max ?? 65535;
      if (!(Number.isInteger(min) && Number.isInteger(max) && 0 < min && min <= max && max <= 65535)) {
        throw new DividereError("INVALID_ARGUMENT", `port range ${min}-${max} is not valid; use 1 <= min <= max <= 65535`);
      }
      for (let port = min; port <= max; port++) {
        if (!handedOut.has(port) && (await probe(port, host)) === port) {
          handedOut.add(port);
          return port;
        }
      }
      throw new DividereError("BIND_FAILED", `no free port in ${min}-${max} on ${host}`);
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = await probe(0, host);
      if (port !== undefined && !handedOut.has(port)) {
        handedOut.add(port);
        return port;
      }
    }
    throw new DividereError("BIND_FAILED", `the operating system offered no free port on ${host}`);
  },
};
