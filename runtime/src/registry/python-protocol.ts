import { create, isMessage } from "@bufbuild/protobuf";
import { DividereError } from "../errors.js";
import {
  type RegisterService,
  RegisterServiceSchema,
  ServiceLookupRepSchema,
  type ServiceLookupReq,
  ServiceLookupReqSchema,
  type UnregisterService,
  UnregisterServiceSchema,
  ackSchema,
} from "../gen/dividere/MsgLib_pb.js";
import { InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { hostAndPort, publishEndpointOf, watchEndpointOf } from "./defaults.js";
import type { ClientProtocol, RegistryState, RequestHandler } from "./protocol.js";

/*
 * Python dividere's registry protocol: `RegisterService`, `UnregisterService` and
 * `ServiceLookupReq` on the request port, each answered (`ack`, `ServiceLookupRep`), an instance
 * named by its host and port, no leases, one instance per lookup, and no watch. Its registry
 * publishes `RediscoverReq` on the port after the request port's, and ends its thread on a
 * request of any other type: a client of this protocol sends nothing else.
 */

/** The messages of Python dividere's registry protocol (package-less, as Python's). */
export const pythonRegistryTypes = [RegisterServiceSchema, UnregisterServiceSchema, ServiceLookupReqSchema, ServiceLookupRepSchema, ackSchema] as const;

/** The client's side. */
export const pythonClient: ClientProtocol = {
  async register(ask, instance, options) {
    const ack = await ask(RegisterServiceSchema, { serviceName: instance.service, ...address(instance.endpoint) }, options);
    return isMessage(ack, ackSchema) && ack.ok;
  },

  async unregister(ask, service, _instanceId, endpoint, options) {
    await ask(UnregisterServiceSchema, { serviceName: service, ...address(endpoint) }, options);
  },

  async lookup(ask, service, options) {
    const reply = await ask(ServiceLookupReqSchema, { serviceName: service }, options);
    if (!isMessage(reply, ServiceLookupRepSchema) || reply.server === "unavailable" || reply.port === 0) return [];
    const endpoint = `tcp://${reply.server}:${reply.port}`;
    return [create(InstanceSchema, { service, instanceId: `${reply.server}:${reply.port}`, endpoint })];
  },

  // Its registry has no such request, and would stop on one it does not know: nothing is sent.
  async list(_ask, endpoint) {
    throw new DividereError(
      "UNIMPLEMENTED",
      `a Python dividere registry (${endpoint}) cannot list its services; look each one up by name (lookup), or run a dividere registry`,
    );
  },

  // Its registry cannot be asked: Python dividere pairs the ports.
  async endpoints(_ask, endpoint) {
    return { publishEndpoint: publishEndpointOf(endpoint), watchEndpoint: watchEndpointOf(endpoint) };
  },
};

/** The request types the server answers for this protocol, and the handler of each. */
export const pythonRequests = {
  RegisterService: "RegisterService",
  UnregisterService: "UnregisterService",
  ServiceLookupReq: "ServiceLookupReq",
} as const;

/** The server's side: the answers to each request, over the registry's store. */
export function pythonHandlers({ store, ready, refused }: RegistryState) {
  const RegisterService: RequestHandler<RegisterService> = async (request, ctx) => {
    if (!request.serviceName) {
      refused();
      await ctx.reply(ackSchema, { ok: false });
      return;
    }
    const instanceId = `${request.server}:${request.port}`;
    const instance = create(InstanceSchema, {
      service: request.serviceName,
      instanceId,
      endpoint: `tcp://${request.server}:${request.port}`,
      metadata: { protocol: "python" },
    });
    await ready();
    await store.upsert(instance);
    await ctx.reply(ackSchema, { ok: true });
  };
  const UnregisterService: RequestHandler<UnregisterService> = async (request, ctx) => {
    await ready();
    await store.remove(request.serviceName, `${request.server}:${request.port}`);
    await ctx.reply(ackSchema, { ok: true });
  };
  const ServiceLookupReq: RequestHandler<ServiceLookupReq> = async (request, ctx) => {
    await ready();
    const where = store.pick(request.serviceName);
    // A port the Python reply cannot carry (it is a uint32; a TCP port fits in 16 bits) made the reply fail to encode.
    const reachable = where && hostAndPort(where.endpoint);
    const fits = reachable && reachable.port <= 65535 ? reachable : undefined;
    await ctx.reply(ServiceLookupRepSchema, { serviceName: request.serviceName, server: fits?.host ?? "unavailable", port: fits?.port ?? 0 });
  };
  return { RegisterService, UnregisterService, ServiceLookupReq };
}

/** The host and port Python's messages carry for a tcp endpoint. */
function address(endpoint: string): { server: string; port: number } {
  const at = hostAndPort(endpoint);
  if (!at) throw new DividereError("INVALID_ARGUMENT", `the Python registry protocol needs a tcp://host:port endpoint, got "${endpoint}"`);
  return { server: at.host, port: at.port };
}
