import type { SocketOptions } from "../connection/options.js";
import type { RegistryClient, RegistryClientOptions } from "../registry/client.js";
import { RegistryTransport, type RegistryTransportOptions } from "../registry/transport.js";
import { Channel } from "../rpc/channel.js";
import { RpcClient } from "../rpc/client.js";
import type { Transport, TransportOptions } from "../rpc/transport.js";
import type { CallOptions } from "../rpc/types.js";
import { Broker as BrokerService, type ServiceStatus } from "../gen/dividere/v1/broker_pb.js";
import { BROKER_SERVICE } from "./protocol.js";

/** What a broker transport does unless told otherwise: the ZeroMQ guide's Lazy Pirate client. */
export const LAZY_PIRATE: CallOptions = { attemptTimeoutMs: 2500, retries: 3, retryDelayMs: 250 };

/** ZeroMQ heartbeats on a broker transport's connections: they notice a broker that died without closing its connections. */
const HEARTBEATS: SocketOptions = { heartbeatInterval: 1000, heartbeatTimeout: 3000 };

/**
 * Options of a broker transport that finds its brokers through the registry; the socket
 * options apply to its connections to the brokers, and `refreshMs`, `connectTimeoutMs` are
 * {@link registryTransport}'s.
 */
export interface BrokerPoolOptions extends Omit<RegistryTransportOptions, "registry"> {
  /** The registry the brokers register with: its request endpoint (`tcp://host:5000`), several of one view (in order of preference), or a client of it (which stays yours). */
  registry: NonNullable<RegistryClientOptions["endpoint"]> | RegistryClient;
  /** The name the brokers register under (their `registerAs`); default {@link BROKER_SERVICE}. */
  brokers?: string;
}

/**
 * A transport through a broker: every call goes to the broker's frontend, which hands it to a
 * worker of the call's service. Calls are retried the Lazy Pirate way unless a call says
 * otherwise (`attemptTimeoutMs` 2500, `retries` 3): an attempt without an answer, or one whose
 * connection dropped (the broker restarting), is made again with a new request id, so a late
 * answer to an abandoned attempt is never taken for the answer. Retries suit calls that are
 * safe to repeat; pass `{ retries: 0 }` for the others.
 *
 * Given `{ registry, brokers }` instead of a frontend, it finds the brokers that registered
 * under `brokers` (`Broker`'s `registry` and `registerAs`) and spreads calls over them, as
 * {@link registryTransport} spreads them over a service's servers: it learns of brokers that
 * come and go, stops using one whose connection drops (a killed broker at once; a hung one
 * once ZeroMQ's heartbeats give up on it, 3 s), and a call whose attempt failed or went
 * unanswered there is made again at another broker. So a call is answered once, but may run
 * more than once: an attempt a broker had handed to a worker before the broker died may have
 * run, and its retry runs again elsewhere (at-least-once, as every retry).
 *
 * ```ts
 * const client = new HistoryClient(brokerTransport("tcp://localhost:5555"));
 * const pooled = new HistoryClient(brokerTransport({ registry: "tcp://localhost:5000" }));
 * ```
 */
export function brokerTransport(frontend: string, options?: TransportOptions): Transport;
export function brokerTransport(options: BrokerPoolOptions): Transport;
export function brokerTransport(target: string | BrokerPoolOptions, options: TransportOptions = {}): Transport {
  if (typeof target !== "string") {
    const { registry, brokers = BROKER_SERVICE, defaults, ...rest } = target;
    return new RegistryTransport(registry, { ...HEARTBEATS, ...rest, defaults: { ...LAZY_PIRATE, ...defaults } }, brokers);
  }
  const { defaults, interceptors, ...socketOptions } = options;
  const channel = new Channel(target, { ...HEARTBEATS, ...socketOptions });
  return {
    defaults: { ...LAZY_PIRATE, ...defaults },
    interceptors,
    channel: () => Promise.resolve(channel),
    close: () => channel.close(),
  };
}

/** Asks a broker which services it has, with their workers and queues (Majordomo's `mmi.service`). */
export async function brokerServices(transport: Transport, options: CallOptions = {}): Promise<ServiceStatus[]> {
  const reply = await new RpcClient(transport).unary(BrokerService.method.services, {}, options);
  return reply.services;
}
