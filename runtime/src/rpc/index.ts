/**
 * Calls between services: the request/reply protocol of generated stubs over Dealer/Router,
 * with deadlines, cancellation, retries and gRPC-style status codes.
 * @module
 */
export { Channel, DEFAULT_MAX_IN_FLIGHT, rpcTypes, type CallSink, type ChannelOptions } from "./channel.js";
export { RpcClient, type RpcClientOptions } from "./client.js";
export { CallDispatcher, type CallStats, type Respond } from "./dispatcher.js";
export type { MethodStatsSnapshot } from "./method-stats.js";
export type {
  CallFn,
  CallRequest,
  CallResponse,
  ClientInterceptorOptions,
  Interceptor,
  MessageStream,
  OneMessage,
  RequestCommon,
  ServerCallFn,
  ServerCallRequest,
  ServerInterceptor,
  ServerInterceptorOptions,
} from "./interceptor.js";
export { DEFAULT_MAX_HEADER_BYTES, decodeBinaryHeader, encodeBinaryHeader, type HeadersInit, type MetadataLimits } from "./metadata.js";
export { RpcServer, type RpcServerOptions, type RpcServerStats } from "./server.js";
export { RpcError, type ErrorDetail, type RpcErrorOptions } from "./status.js";
export { directTransport, type ChannelRequest, type Transport, type TransportOptions } from "./transport.js";
export {
  DEFAULT_TIMEOUT_MS,
  methodPath,
  type CallContext,
  type CallOptions,
  type CarriedMethodKind,
  type MethodImpl,
  type MethodOfKind,
  type MethodSignature,
  type BidiStreamImpl,
  type ClientStreamImpl,
  type ServerStreamImpl,
  type ServiceImpl,
  type UnaryImpl,
} from "./types.js";
