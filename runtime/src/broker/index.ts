/**
 * The load-balancing broker, its workers and its clients: the successor of Python dividere's
 * `LoadBalancingPattern`, after the ZeroMQ guide's Paranoid Pirate and Majordomo patterns.
 * @module
 */
export { Broker } from "./broker.js";
export type { BrokerOptions, BrokerStats } from "./options.js";
export { LazyPirateClient, type LazyPirateClientOptions } from "./lazy-pirate.js";
export { LoadBalancingServer, type LoadBalancingServerOptions, type LoadBalancingServerStats } from "./load-balancing-server.js";
export { PYTHON_PATTERN_NAME } from "./python-pattern.js";
export { BROKER_BACKEND_PORT, BROKER_FRONTEND_PORT, BROKER_SERVICE, brokerTypes } from "./protocol.js";
export { LAZY_PIRATE, brokerServices, brokerTransport, type BrokerPoolOptions } from "./transport.js";
export { Worker, type WorkerOptions, type WorkerStats } from "./worker.js";
