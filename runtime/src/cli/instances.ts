import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import { RegistryClient } from "../registry/client.js";
import { RpcError } from "../rpc/status.js";
import { type Transport, directTransport } from "../rpc/transport.js";
import { registriesOf } from "./registry-option.js";
import { curveFromEnvironment } from "./security.js";

/*
 * What the commands that look at a whole system share (`dividere health SERVICE`, `services`,
 * `stats`): ask the registry once, then every instance it names, all at once, each within the
 * same time, so that one instance that hangs costs the wait of one, not of all.
 */

/** No answer in time, or nothing to send to: the target is not reachable. */
export const unreachable = (error: unknown): boolean => RpcError.is(error, "DEADLINE_EXCEEDED") || RpcError.is(error, "UNAVAILABLE");

/**
 * Asks the registry once, with the environment's CURVE keys: `--registry` (comma-separated
 * registries), each tried once, for `timeoutMs`, until one answers (a single registry is not
 * asked again: the command's --timeout is the whole wait).
 */
export async function askRegistry<T>(registry: string | undefined, timeoutMs: number, ask: (registry: RegistryClient) => Promise<T>): Promise<T> {
  const endpoint = registriesOf(registry);
  await using client = new RegistryClient({ endpoint, timeoutMs, retries: endpoint.length - 1, ...curveFromEnvironment() });
  // Awaited here: the client closes when this returns.
  return await ask(client);
}

/** What one instance answered, or the error its call ended with. */
export type Answer<T> = { instance: Instance; answer: T; error?: undefined } | { instance: Instance; answer?: undefined; error: RpcError };

/**
 * Asks every instance in parallel, each over a transport of its own to its endpoint; an
 * instance whose call fails is an answer too (its error), never a failure of the whole.
 */
export function askEach<T>(instances: readonly Instance[], ask: (transport: Transport, instance: Instance) => Promise<T>): Promise<Answer<T>[]> {
  const security = curveFromEnvironment();
  return Promise.all(
    instances.map(async (instance): Promise<Answer<T>> => {
      const transport = directTransport(instance.endpoint, security);
      try {
        return { instance, answer: await ask(transport, instance) };
      } catch (error) {
        if (!(error instanceof RpcError)) throw error;
        return { instance, error };
      } finally {
        await transport.close();
      }
    }),
  );
}

/** Rows as columns padded to their widest cell, two spaces apart, a line each. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) => `${row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()}\n`).join("");
}
