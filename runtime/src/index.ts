/**
 * `@dividere/runtime`: typed, distributed messaging over ZeroMQ, wire-compatible with
 * Python dividere.
 *
 * - `connection`: byte-level ZeroMQ sockets (frames in, frames out).
 * - `envelope`: the wire format (envelope codec, topics, type registry).
 * - `messaging`: protobuf-typed sockets built on both.
 * - `curve`: CurveZMQ keys and certificate files, for the `curve` option every socket and server takes.
 * - `Reactor`: one event loop handing each received message to the handler of its type;
 *   `WorkerReactor`: the same on several threads.
 * - Services: `serve()` hosts a generated service, `RegistryServer`/`RegistryClient` are the
 *   name service, generated clients call over `directTransport()`, `registryTransport()` or
 *   `brokerTransport()`; `Broker` and `Worker` share calls among workers.
 * - Health: every `RpcServer`, `serve()` host and `Broker` answers `grpc.health.v1.Health`
 *   (`server.health` sets it, `HealthClient` asks it, `healthProtocol` is its wire).
 * - Discovery: every server answers `dividere.v1.Discovery` (ping, info, stats) about itself,
 *   what its `info` option says and its per-method stats; `discoveryProtocol` is its wire.
 * - Reflection: every server answers `grpc.reflection.v1.ServerReflection` with the descriptors
 *   of the services it hosts (`ReflectionClient` asks it, `reflectionProtocol` is its wire).
 * - Python dividere's load-balancing pattern: `Broker` serves its servers and clients too;
 *   `LoadBalancingServer` and `LazyPirateClient` work behind and in front of Python's broker
 *   (and ours); `connection.LoadBalancingBroker`, `LoadBalancingServer` and `LazyPirateClient`
 *   are its byte-level variant.
 *
 * ```ts
 * import { messaging } from "@dividere/runtime";
 * await using pub = new messaging.Publisher("tcp://*:5555", { types: [SaidSchema] });
 * ```
 * @module
 */
export * as connection from "./connection/index.js";
export * as curve from "./connection/curve.js";
export * as envelope from "./envelope/index.js";
export * as messaging from "./messaging/index.js";
export * as MsgLib from "./gen/dividere/MsgLib_pb.js";
export * as rpcProtocol from "./gen/dividere/v1/rpc_pb.js";
export * as registryProtocol from "./gen/dividere/v1/registry_pb.js";
export * as brokerProtocol from "./gen/dividere/v1/broker_pb.js";
export * as healthProtocol from "./gen/grpc/health/v1/health_pb.js";
export * as discoveryProtocol from "./gen/dividere/v1/discovery_pb.js";
export * as reflectionProtocol from "./gen/grpc/reflection/v1/reflection_pb.js";
export type { InstanceInfo, InstanceInfoOptions } from "./builtin/discovery.js";
export { Health, type ServingStatus } from "./builtin/health.js";
export { HealthClient } from "./builtin/health-client.js";
export { ReflectionClient } from "./builtin/reflection-client.js";
export { DividereError, type ErrorCode, type RpcCode } from "./errors.js";
export type { Endpoint } from "./connection/endpoint.js";
export { DEFAULT_GRACE_MS, type CloseOptions } from "./lifecycle.js";
export type { CloseOnSignalsOptions } from "./signals.js";
export {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_TIMEOUT_MS,
  RpcClient,
  RpcError,
  RpcServer,
  decodeBinaryHeader,
  directTransport,
  encodeBinaryHeader,
  type CallContext,
  type CallFn,
  type CallOptions,
  type CallRequest,
  type CallResponse,
  type ChannelOptions,
  type ClientInterceptorOptions,
  type Interceptor,
  type MessageStream,
  type OneMessage,
  type RequestCommon,
  type RpcClientOptions,
  type ServerCallFn,
  type ServerCallRequest,
  type ServerInterceptor,
  type ServerInterceptorOptions,
  type ChannelRequest,
  type MethodImpl,
  type MethodOfKind,
  type MethodSignature,
  type ErrorDetail,
  type HeadersInit,
  type MetadataLimits,
  type MethodStatsSnapshot,
  type RpcErrorOptions,
  type RpcServerOptions,
  type RpcServerStats,
  type BidiStreamImpl,
  type ClientStreamImpl,
  type ServerStreamImpl,
  type ServiceImpl,
  type Transport,
  type TransportOptions,
  type UnaryImpl,
} from "./rpc/index.js";
export {
  BROKER_BACKEND_PORT,
  BROKER_FRONTEND_PORT,
  BROKER_SERVICE,
  Broker,
  LazyPirateClient,
  LoadBalancingServer,
  PYTHON_PATTERN_NAME,
  Worker,
  brokerServices,
  brokerTransport,
  type BrokerOptions,
  type BrokerPoolOptions,
  type BrokerStats,
  type LazyPirateClientOptions,
  type LoadBalancingServerOptions,
  type LoadBalancingServerStats,
  type WorkerOptions,
  type WorkerStats,
} from "./broker/index.js";
export {
  REGISTRY_PORT,
  REGISTRY_PUBLISH_PORT,
  REGISTRY_WATCH_PORT,
  RegistryClient,
  RegistryServer,
  ServiceHost,
  DEFAULT_ETCD_PREFIX,
  EtcdStore,
  MemoryStore,
  PUBLISHER_SERVICE,
  PublisherAnnouncement,
  announcePublisher,
  registryTransport,
  serve,
  type Announceable,
  type AnnounceOptions,
  type RegistryClientOptions,
  type RegistryEndpoints,
  type RegistryRequestOptions,
  type RegistryRequestKind,
  type RegistryServerOptions,
  type RegistryServerStats,
  type RegistryStore,
  type EtcdStoreOptions,
  type MemoryStoreOptions,
  type RegistryTransportOptions,
  type ServeOptions,
  type WaitForRegistrationOptions,
} from "./registry/index.js";
export {
  Reactor,
  WorkerReactor,
  createDispatch,
  defineWorker,
  mergeDispatch,
  type Dispatch,
  type Handler,
  type MessageContext,
  type ReactorOptions,
  type ReactorSocket,
  type ReactorStats,
  type WorkerContext,
  type WorkerDefinition,
  type WorkerReactorOptions,
  type WorkerReactorStats,
  type WorkerSocketKind,
  type WorkerSocketSpec,
} from "./reactors/index.js";
