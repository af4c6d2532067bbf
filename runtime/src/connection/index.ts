/**
 * Byte-level ZeroMQ facades, the successors of Python dividere's `connection` module:
 * frames in, frames out, no protobuf.
 * @module
 */
export { type Endpoint, type ResolvedEndpoint, resolveEndpoint } from "./endpoint.js";
export type { ConnectionStats, SocketEvent, SocketEventMap, SocketEvents } from "./events.js";
export {
  DEFAULT_BACKLOG,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_SERVER_MAX_MESSAGE_SIZE,
  type RoutingOptions,
  type SocketOptions,
} from "./options.js";
export { LAZY_PIRATE_RETRIES, LAZY_PIRATE_TIMEOUT_MS, LazyPirateClient, type LazyPirateOptions, type LazyPirateRequestOptions, type LazyPirateStats } from "./lazy-pirate.js";
export {
  HEARTBEAT_FRAME,
  LoadBalancingBroker,
  REGISTER_FRAME,
  type LoadBalancingBrokerOptions,
  type LoadBalancingBrokerStats,
} from "./load-balancing-broker.js";
export { LoadBalancingServer, type ByteRequestHandler, type LoadBalancingServerStats } from "./load-balancing-server.js";
export { PATTERN_EXPIRY_MS, PATTERN_HEARTBEAT_MS } from "./server-queue.js";
export { PortManager, type AcquireOptions } from "./port-manager.js";
export { Proxy, type ProxyEndpoints } from "./proxy.js";
export {
  Publisher,
  Subscriber,
  type PublisherOptions,
  type PublisherStats,
  type SubscriberOptions,
  type Topic,
  type WaitForSubscribersOptions,
  type WhenFull,
} from "./pubsub.js";
export type { RecvOptions } from "./receiver.js";
export { Request, Response, type RequestOptions } from "./reqrep.js";
export { Dealer, Router, type RouterOptions } from "./routing.js";
export { Pair, Pull, Push } from "./pipeline.js";
export {
  DuplexSocket,
  ReadableSocket,
  Socket,
  WritableSocket,
  type Frame,
  type Frames,
  type SocketEndpoints,
} from "./socket.js";
