import { Channel } from "../rpc/channel.js";
import { RpcClient } from "../rpc/client.js";
import type { Transport, TransportOptions } from "../rpc/transport.js";
import type { CallOptions } from "../rpc/types.js";
import { Broker as BrokerService, type ServiceStatus } from "../gen/dividere/v1/broker_pb.js";

/** What a broker transport does unless told otherwise: the ZeroMQ guide's Lazy Pirate client. */
export const LAZY_PIRATE: CallOptions = { attemptTimeoutMs: 2500, retries: 3, retryDelayMs: 250 };

/**
 * A transport through a broker: every call goes to the broker's frontend, which hands it to a
 * worker of the call's service. Calls are retried the Lazy Pirate way unless a call says
 * otherwise (`attemptTimeoutMs` 2500, `retries` 3): an attempt without an answer, or one whose
 * connection dropped (the broker restarting), is made again with a new request id, so a late
 * answer to an abandoned attempt is never taken for the answer. Retries suit calls that are
 * safe to repeat; pass `{ retries: 0 }` for the others.
 *
 * ```ts
 * const client = new HistoryClient(brokerTransport("tcp://localhost:5555"));
 * ```
 */
export function brokerTransport(frontend: string, options: TransportOptions = {}): Transport {
  const { defaults, interceptors, ...socketOptions } = options;
  // ZeroMQ heartbeats notice a broker that died without closing its connections.
  const channel = new Channel(frontend, { heartbeatInterval: 1000, heartbeatTimeout: 3000, ...socketOptions });
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
