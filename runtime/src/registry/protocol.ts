import type { Message, MessageInitShape } from "@bufbuild/protobuf";
import type { Instance } from "../gen/dividere/v1/registry_pb.js";
import type { MessageContext } from "../reactors/context.js";
import type { registryTypes } from "./server.js";
import type { RegistryStore } from "./store.js";

/*
 * What a registry protocol is made of, on both sides. A registry speaks two: Python dividere's
 * (python-protocol.ts) and dividere.v1's (dividere-protocol.ts). A client speaks one of them, a
 * server answers both over one table; each protocol's module holds all of its own wire.
 */

/** Options of one request to the registry. */
export interface RegistryRequestOptions {
  /**
   * Give up after this many ms in all (waiting for earlier requests of this client, and every
   * try), with `TIMEOUT`. Default: the client's `timeoutMs` for each of its `retries` + 1 tries.
   */
  timeoutMs?: number;
  /** Give up when this signal aborts, with `CANCELLED`. */
  signal?: AbortSignal;
  /** Further tries after an unanswered one; default the client's `retries`. */
  retries?: number;
}

/**
 * Where a client reaches a registry's three sockets; spread it into a RegistryClient's options
 * (`new RegistryClient({ ...registry.clientEndpoints })`).
 */
export interface RegistryEndpoints {
  /** Requests and their answers. */
  endpoint: string;
  /** `RediscoverReq`. */
  publishEndpoint: string;
  /** `dividere.v1.InstancesChanged`. */
  watchEndpoint: string;
}

/** Sends one request to the registry and resolves with its answer, within the client's queue, retries and limits. */
export type Ask = <S extends (typeof registryTypes)[number]>(schema: S, init: MessageInitShape<S>, options: RegistryRequestOptions) => Promise<Message>;

/** A client's side of a protocol: each request as that protocol's messages. */
export interface ClientProtocol {
  /** Registers an instance or renews its lease; false when the registry refused it. */
  register(ask: Ask, instance: Instance, options: RegistryRequestOptions): Promise<boolean>;
  /** Removes an instance, named by its id or, where the protocol knows no ids, its endpoint. */
  unregister(ask: Ask, service: string, instanceId: string, endpoint: string, options: RegistryRequestOptions): Promise<void>;
  /** The live instances of a service. */
  lookup(ask: Ask, service: string, options: RegistryRequestOptions): Promise<Instance[]>;
  /** Every service the registry reached at `endpoint` knows, by name, with its live instances. */
  list(ask: Ask, endpoint: string, options: RegistryRequestOptions): Promise<Map<string, Instance[]>>;
  /** Where the registry reached at `endpoint` publishes and watches. */
  endpoints(ask: Ask, endpoint: string, options: RegistryRequestOptions): Promise<Omit<RegistryEndpoints, "endpoint">>;
}

/** What a protocol's request handlers work on: the registry's one store (which tells the watch of every change). */
export interface RegistryState {
  readonly store: RegistryStore;
  /** Resolves once the store can answer; rejects (and the request goes unanswered) when it cannot in time. */
  ready(): Promise<void>;
  /** A registration was refused (counted). */
  refused(): void;
  /** Where the registry's sockets are bound. */
  endpoints(): RegistryEndpoints;
}

/** A request handler; it answers through `ctx` once. */
export type RequestHandler<R> = (request: R, ctx: MessageContext) => Promise<void>;
