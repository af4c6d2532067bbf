import { isMessage } from "@bufbuild/protobuf";
import { RpcError } from "../rpc/status.js";
import { ackSchema } from "../gen/dividere/MsgLib_pb.js";
import {
  EndpointsReplySchema,
  EndpointsRequestSchema,
  InstancesChangedSchema,
  ListReplySchema,
  ListRequestSchema,
  LookupReplySchema,
  type LookupRequest,
  LookupRequestSchema,
  type RegisterInstance,
  RegisterInstanceSchema,
  type UnregisterInstance,
  UnregisterInstanceSchema,
} from "../gen/dividere/v1/registry_pb.js";
import { hostAndPort } from "./defaults.js";
import type { ClientProtocol, RegistryState, RequestHandler } from "./protocol.js";

/*
 * dividere.v1's registry protocol: instances with ids, leases they renew, lookups that return
 * every live instance, the list of every service, the registry's endpoints on request, and `InstancesChanged` on a watch
 * port of its own. Registrations are answered with Python's `ack`.
 */

/** The messages of dividere.v1's registry protocol. */
export const dividereRegistryTypes = [
  RegisterInstanceSchema,
  UnregisterInstanceSchema,
  LookupRequestSchema,
  LookupReplySchema,
  InstancesChangedSchema,
  EndpointsRequestSchema,
  EndpointsReplySchema,
  ListRequestSchema,
  ListReplySchema,
] as const;

/** The client's side. */
export const dividereClient: ClientProtocol = {
  async register(ask, instance, options) {
    const ack = await ask(RegisterInstanceSchema, { instance }, options);
    return isMessage(ack, ackSchema) && ack.ok;
  },

  async unregister(ask, service, instanceId, _endpoint, options) {
    await ask(UnregisterInstanceSchema, { service, instanceId }, options);
  },

  async lookup(ask, service, options) {
    const reply = await ask(LookupRequestSchema, { service }, options);
    return isMessage(reply, LookupReplySchema) ? reply.instances : [];
  },

  async list(ask, endpoint, options) {
    const reply = await ask(ListRequestSchema, {}, options);
    if (!isMessage(reply, ListReplySchema)) {
      throw new RpcError("UNAVAILABLE", `the registry at ${endpoint} answered ListRequest with ${reply.$typeName}; is it a dividere registry?`);
    }
    return new Map(reply.services.map(({ service, instances }) => [service, instances]));
  },

  // The registry knows its ports, which a client cannot guess when it binds free ones.
  async endpoints(ask, endpoint, options) {
    const reply = await ask(EndpointsRequestSchema, {}, options);
    if (!isMessage(reply, EndpointsReplySchema)) {
      throw new RpcError("UNAVAILABLE", `the registry at ${endpoint} answered EndpointsRequest with ${reply.$typeName}; is it a dividere registry?`);
    }
    return { publishEndpoint: reachedAs(reply.publishEndpoint, endpoint), watchEndpoint: reachedAs(reply.watchEndpoint, endpoint) };
  },
};

/** The request types the server answers for this protocol, and the handler of each. */
export const dividereRequests = {
  "dividere.v1.RegisterInstance": "RegisterInstance",
  "dividere.v1.UnregisterInstance": "UnregisterInstance",
  "dividere.v1.LookupRequest": "LookupRequest",
  "dividere.v1.EndpointsRequest": "EndpointsRequest",
  "dividere.v1.ListRequest": "ListRequest",
} as const;

/** The server's side: the answers to each request, over the registry's store. */
export function dividereHandlers({ store, ready, refused, endpoints }: RegistryState) {
  const RegisterInstance: RequestHandler<RegisterInstance> = async ({ instance }, ctx) => {
    if (!instance?.service || !instance.instanceId || !instance.endpoint) {
      refused();
      await ctx.reply(ackSchema, { ok: false });
      return;
    }
    await ready();
    await store.upsert(instance);
    await ctx.reply(ackSchema, { ok: true });
  };
  const UnregisterInstance: RequestHandler<UnregisterInstance> = async (request, ctx) => {
    await ready();
    await store.remove(request.service, request.instanceId);
    await ctx.reply(ackSchema, { ok: true });
  };
  const LookupRequest: RequestHandler<LookupRequest> = async (request, ctx) => {
    await ready();
    await ctx.reply(LookupReplySchema, { service: request.service, instances: store.list(request.service) });
  };
  const EndpointsRequest: RequestHandler<unknown> = async (_request, ctx) => {
    await ctx.reply(EndpointsReplySchema, endpoints());
  };
  const ListRequest: RequestHandler<unknown> = async (_request, ctx) => {
    await ready();
    const services = store.services().sort().map((service) => ({ service, instances: store.list(service) }));
    await ctx.reply(ListReplySchema, { services });
  };
  return { RegisterInstance, UnregisterInstance, LookupRequest, EndpointsRequest, ListRequest };
}

/** An endpoint a registry reported, as reached from here: its wildcard host (0.0.0.0, [::]) is the host `requestEndpoint` reached it at. */
function reachedAs(reported: string, requestEndpoint: string): string {
  const reportedAt = hostAndPort(reported);
  const reached = hostAndPort(requestEndpoint);
  if (!reportedAt || !reached || (reportedAt.host !== "0.0.0.0" && reportedAt.host !== "[::]")) return reported;
  return `tcp://${reached.host}:${reportedAt.port}`;
}
