import { HeartbeatSchema } from "../gen/dividere/MsgLib_pb.js";
import {
  BrokerHeartbeatSchema,
  ServicesReplySchema,
  ServicesRequestSchema,
  WorkerDisconnectSchema,
  WorkerReadySchema,
} from "../gen/dividere/v1/broker_pb.js";
import { rpcTypes } from "../rpc/channel.js";

/** What travels between a broker and its workers: the RPC protocol, readiness, heartbeats, goodbyes. */
export const brokerTypes = [
  ...rpcTypes,
  WorkerReadySchema,
  WorkerDisconnectSchema,
  HeartbeatSchema,
  BrokerHeartbeatSchema,
  ServicesRequestSchema,
  ServicesReplySchema,
] as const;

/** The broker's frontend port by default. */
export const BROKER_FRONTEND_PORT = 5555;
/** The broker's backend port by default. */
export const BROKER_BACKEND_PORT = 5556;
/**
 * The name a broker registers its frontend under unless told otherwise (`registerAs`), and
 * the one a broker transport looks brokers up by: the service the frontend answers itself.
 */
export const BROKER_SERVICE = "dividere.v1.Broker";

/** Heartbeats, as the ZeroMQ guide's Paranoid Pirate: every second, three missed and the peer is gone. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const HEARTBEAT_LIVENESS = 3;

/**
 * The clock of the times a broker puts on the calls it hands out and on its heartbeats, in ms:
 * monotonic (a step of the wall clock does not move it), and near the wall clock, so that a
 * broker and a worker on one host read about the same. A worker relates it to its own reading
 * from the heartbeats, so clocks of different hosts need not agree.
 */
export function brokerClock(): number {
  return Math.floor(performance.timeOrigin + performance.now());
}
