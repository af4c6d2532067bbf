import type { FileRegistry } from "@bufbuild/protobuf";
import { ReflectionClient } from "../builtin/reflection-client.js";
import type { SocketOptions } from "../connection/options.js";
import { RpcError } from "../rpc/status.js";
import { directTransport } from "../rpc/transport.js";
import { askRegistry } from "./instances.js";

/** Where the types of a call are asked for: a server's (or a broker's) endpoint, or the instances of a service the registry knows. */
export type ReflectionTarget = { endpoint: string; broker?: boolean } | { registry: string };

/** What a user without reflection to lean on does instead. */
const PASS_PROTO = "pass --proto DIR (or --descriptor-set FILE) with its definition";

/**
 * The file that defines `service` and the files it imports, as the server that hosts it
 * describes them over `grpc.reflection.v1`: what `dividere call` knows of the types when it is
 * given no --proto. Through the registry, the first instance that answers is asked.
 */
export async function reflectedTypes(target: ReflectionTarget, service: string, timeoutMs: number, security: Pick<SocketOptions, "curve">): Promise<FileRegistry> {
  if ("endpoint" in target) return askAt(target.endpoint, service, timeoutMs, security, target.broker ? " (a broker describes its own services, not its workers')" : "");
  let endpoints: string[];
  try {
    endpoints = (await askRegistry(target.registry, timeoutMs, (registry) => registry.lookup(service))).map((instance) => instance.endpoint);
  } catch (error) {
    throw new RpcError(RpcError.from(error).code, `cannot ask the registry at ${target.registry} for ${service}, to ask it for its types: ${(error as Error).message}`, { cause: error });
  }
  if (endpoints.length === 0) throw new RpcError("UNAVAILABLE", `no instance of ${service} is registered at ${target.registry}`);
  let failure: unknown;
  for (const endpoint of endpoints) {
    try {
      return await askAt(endpoint, service, timeoutMs, security, "");
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

async function askAt(endpoint: string, service: string, timeoutMs: number, security: Pick<SocketOptions, "curve">, note: string): Promise<FileRegistry> {
  const transport = directTransport(endpoint, security);
  try {
    return await new ReflectionClient(transport).fileContainingSymbol(service, { timeoutMs });
  } catch (error) {
    if (RpcError.is(error, "UNIMPLEMENTED")) {
      throw new RpcError("UNIMPLEMENTED", `${endpoint} does not answer reflection (grpc.reflection.v1): it is older than reflection, turns it off, or is no dividere server; ${PASS_PROTO}`, { cause: error });
    }
    if (RpcError.is(error, "NOT_FOUND")) {
      throw new RpcError("NOT_FOUND", `${endpoint} does not describe ${service}${note}: check the name, or ${PASS_PROTO}`, { cause: error });
    }
    const { code, message } = RpcError.from(error);
    throw new RpcError(code, `${endpoint} did not answer its reflection question (asked for the types of ${service}, as no --proto was given): ${message}`, { cause: error });
  } finally {
    await transport.close();
  }
}
