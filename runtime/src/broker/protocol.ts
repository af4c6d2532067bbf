import { HeartbeatSchema } from "../gen/dividere/MsgLib_pb.js";
import { ServicesReplySchema, ServicesRequestSchema, WorkerDisconnectSchema, WorkerReadySchema } from "../gen/dividere/v1/broker_pb.js";
import { rpcTypes } from "../rpc/channel.js";

/** What travels between a broker and its workers: the RPC protocol, readiness, heartbeats, goodbyes. */
export const brokerTypes = [...rpcTypes, WorkerReadySchema, WorkerDisconnectSchema, HeartbeatSchema, ServicesRequestSchema, ServicesReplySchema] as const;

/** The broker's frontend port by default. */
export const BROKER_FRONTEND_PORT = 5555;
/** The broker's backend port by default. */
export const BROKER_BACKEND_PORT = 5556;

/** Heartbeats, as the ZeroMQ guide's Paranoid Pirate: every second, three missed and the peer is gone. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const HEARTBEAT_LIVENESS = 3;
