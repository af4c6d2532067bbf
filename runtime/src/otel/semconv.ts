/**
 * The names OpenTelemetry's RPC semantic conventions give (v1.38 and later: `rpc.system.name`,
 * `rpc.method` as "package.Service/Method", `rpc.response.status_code`, durations in seconds),
 * and the attributes of a call under them.
 * @module
 */
import type { Attributes } from "@opentelemetry/api";
import type { RpcCode } from "../errors.js";

/** What `rpc.system.name` says: the calls are dividere's protocol over ZeroMQ, not gRPC's over HTTP/2. */
export const RPC_SYSTEM_NAME = "dividere";

export const ATTR_RPC_SYSTEM_NAME = "rpc.system.name";
export const ATTR_RPC_METHOD = "rpc.method";
export const ATTR_RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code";
export const ATTR_ERROR_TYPE = "error.type";
export const ATTR_SERVER_ADDRESS = "server.address";
export const ATTR_SERVER_PORT = "server.port";
export const ATTR_NETWORK_TRANSPORT = "network.transport";

export const METRIC_RPC_CLIENT_CALL_DURATION = "rpc.client.call.duration";
export const METRIC_RPC_SERVER_CALL_DURATION = "rpc.server.call.duration";

/** The buckets the conventions advise for call durations, in seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * The codes a server's span counts as its own failure, as the gRPC conventions say: the others
 * (NOT_FOUND, INVALID_ARGUMENT, ...) are the caller's, and a client counts every code but OK.
 */
const SERVER_FAULTS: ReadonlySet<RpcCode> = new Set(["UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"]);

/** Whether a call that ended with `code` failed, for the side that records it. */
export function isFailure(side: "client" | "server", code: RpcCode): boolean {
  return side === "client" || SERVER_FAULTS.has(code);
}

/** The attributes every span and measurement of a call to `path` ("/package.Service/Method") has. */
export function callAttributes(path: string): Attributes {
  // The conventions' rpc.method is the path without its leading slash, and is the span's name too.
  return { [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME, [ATTR_RPC_METHOD]: path.slice(1) };
}

/**
 * `server.address`, `server.port` and `network.transport` of a ZeroMQ endpoint the calls go to
 * ("tcp://host:port", "ipc:///path", "inproc://name"); an endpoint of another form names the
 * server as it is.
 */
export function endpointAttributes(endpoint: string): Attributes {
  const tcp = /^tcp:\/\/(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(endpoint);
  if (tcp) return { [ATTR_SERVER_ADDRESS]: tcp[1] ?? tcp[2], [ATTR_SERVER_PORT]: Number(tcp[3]), [ATTR_NETWORK_TRANSPORT]: "tcp" };
  const ipc = /^ipc:\/\/(.+)$/.exec(endpoint);
  if (ipc) return { [ATTR_SERVER_ADDRESS]: ipc[1], [ATTR_NETWORK_TRANSPORT]: "unix" };
  return { [ATTR_SERVER_ADDRESS]: endpoint };
}
