import { DividereError } from "../errors.js";
import { openNative } from "./context.js";
import type { CurveOptions } from "./curve.js";
import { resolveCurve } from "./keys.js";
import { newZapDomain } from "./zap.js";

/**
 * ZeroMQ options every socket takes; names follow zeromq.js, which follows libzmq.
 * Unset options keep ZeroMQ's defaults, except `linger`, `maxMessageSize` and `backlog` (see
 * below); the servers (RpcServer, Broker, RegistryServer) set more defaults of their own
 * ({@link withServerDefaults}).
 */
export interface SocketOptions {
  /** A name for debug logs (`NODE_DEBUG=dividere`); defaults to the socket kind and endpoint. */
  name?: string;
  /**
   * How long (ms) messages still queued at `close()` may take to leave. Default 500: short, so a
   * process never hangs on an unreachable peer, long enough for a last message to a live one.
   */
  linger?: number;
  /** Outgoing messages queued per peer before the socket blocks or drops (ZMQ_SNDHWM; default 1000). */
  sendHighWaterMark?: number;
  /** Incoming messages queued per peer before ZeroMQ stops reading (ZMQ_RCVHWM; default 1000). */
  receiveHighWaterMark?: number;
  /**
   * Hard transport limit in bytes on each received frame (ZMQ_MAXMSGSIZE): a peer sending a
   * larger one is disconnected before it is read into memory. Default 64 MiB
   * ({@link DEFAULT_MAX_MESSAGE_SIZE}); -1 lifts the limit.
   */
  maxMessageSize?: number;
  /**
   * Connections a bound socket holds at most: a further one is refused at its handshake (ZAP
   * status 500), counted in `connections.refused` and logged (`NODE_DEBUG=dividere`). An RPC
   * caller refused so fails its calls with `UNAVAILABLE` ("the server is full") and connects
   * again later by itself; libzmq alone does not. Each connection may hold a frame of up to
   * `maxMessageSize` while it arrives, so the two bound what a socket's peers can make it hold
   * (docs/limits.md). Default: no limit; servers {@link DEFAULT_MAX_CONNECTIONS}.
   */
  maxConnections?: number;
  /**
   * Connections the operating system queues for a bound socket before ZeroMQ accepts them
   * (ZMQ_BACKLOG): when more connect at once, the rest retry after a second. Default 4096
   * ({@link DEFAULT_BACKLOG}; ZeroMQ's is 100); the kernel lowers it to `net.core.somaxconn`.
   */
  backlog?: number;
  /** Send ZMTP heartbeats (PING) every this many ms (ZMQ_HEARTBEAT_IVL). */
  heartbeatInterval?: number;
  /**
   * Drop a connection from which no whole message arrived within this many ms of a heartbeat
   * (ZMQ_HEARTBEAT_TIMEOUT): a peer that is gone, stopped, or stuck in the middle of a frame.
   */
  heartbeatTimeout?: number;
  /** Ask the peer to drop the connection after this many ms without traffic (ZMQ_HEARTBEAT_TTL). */
  heartbeatTimeToLive?: number;
  /** First reconnect delay in ms (ZMQ_RECONNECT_IVL; default 100). */
  reconnectInterval?: number;
  /** Upper bound of the exponential reconnect delay in ms (ZMQ_RECONNECT_IVL_MAX; default 0 = no backoff). */
  reconnectMaxInterval?: number;
  /** Give up a TCP connect attempt after this many ms (ZMQ_CONNECT_TIMEOUT). */
  connectTimeout?: number;
  /** Drop a connection whose ZMTP handshake takes longer than this many ms (ZMQ_HANDSHAKE_IVL; ZeroMQ's default 30000). */
  handshakeInterval?: number;
  /** Queue outgoing messages only to completed connections (ZMQ_IMMEDIATE). */
  immediate?: boolean;
  /** A blocked send fails with `TIMEOUT` after this many ms (ZMQ_SNDTIMEO; default: wait). */
  sendTimeout?: number;
  /**
   * CurveZMQ encryption and authentication: a server's key pair and allow list, or a client's
   * key pair and the server's public key (see {@link CurveOptions}). Default: plain text.
   */
  curve?: CurveOptions;
}

/** Options of sockets that take part in routing: Request, Dealer, Router. */
export interface RoutingOptions extends SocketOptions {
  /** The identity a Router peer sees for this socket (ZMQ_ROUTING_ID). Default: chosen by the peer. */
  routingId?: string;
}

/** The zeromq.js option keys {@link SocketOptions} passes through. */
const NATIVE_KEYS = [
  "linger",
  "sendHighWaterMark",
  "receiveHighWaterMark",
  "maxMessageSize",
  "heartbeatInterval",
  "heartbeatTimeout",
  "heartbeatTimeToLive",
  "reconnectInterval",
  "reconnectMaxInterval",
  "connectTimeout",
  "handshakeInterval",
  "backlog",
  "immediate",
  "sendTimeout",
  "routingId",
] as const;

export const DEFAULT_LINGER_MS = 500;

/** The default `maxMessageSize` of a socket, in bytes: 64 MiB. Servers take {@link DEFAULT_SERVER_MAX_MESSAGE_SIZE}. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/** The default `backlog` of a bound socket: 4096 connections waiting to be accepted. */
export const DEFAULT_BACKLOG = 4096;

/**
 * The default `maxMessageSize` of a server's sockets, in bytes: 4 MiB, as gRPC's largest
 * received message. It bounds what one connection can make a server hold while a frame arrives.
 */
export const DEFAULT_SERVER_MAX_MESSAGE_SIZE = 4 * 1024 * 1024;

/** The default `maxConnections` of a server's sockets: 1024. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/**
 * What a server's sockets (an RpcServer's, a Broker's, a RegistryServer's) take unless told
 * otherwise: at most {@link DEFAULT_MAX_CONNECTIONS} connections, frames of at most
 * {@link DEFAULT_SERVER_MAX_MESSAGE_SIZE}, and ZMTP heartbeats every 5 s that drop a peer from
 * which no whole message came for 15 s after one (gone, stopped, or trickling a frame), so that
 * its connection, and what it held, is freed. `maxMessageSize` overrides the 4 MiB default
 * where a server must take more (the broker's backend takes workers' replies).
 */
export function withServerDefaults<O extends SocketOptions>(options: O, maxMessageSize = DEFAULT_SERVER_MAX_MESSAGE_SIZE): O {
  return {
    ...options,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxMessageSize: options.maxMessageSize ?? maxMessageSize,
    heartbeatInterval: options.heartbeatInterval ?? 5000,
    heartbeatTimeout: options.heartbeatTimeout ?? 15_000,
  };
}

/**
 * Opens the zeromq.js socket `Kind` with the options of `options` plus the socket-kind specific
 * `extra` ones; `kind` names it in the error that says which limit stopped it from opening.
 */
export function openSocket<S>(Kind: new (options: Record<string, unknown>) => S, kind: string, options: SocketOptions, extra: Record<string, unknown> = {}): S {
  const native = nativeOptions(options, extra);
  return openNative(options.name ?? kind, () => new Kind(native));
}

/** The zeromq.js constructor options for `options`, plus the socket-kind specific `extra` ones. */
export function nativeOptions(options: SocketOptions, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const native: Record<string, unknown> = { linger: DEFAULT_LINGER_MS, maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE, backlog: DEFAULT_BACKLOG };
  for (const key of NATIVE_KEYS) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) native[key] = value;
  }
  if (options.curve) Object.assign(native, curveOptions(options.curve));
  if (options.maxConnections !== undefined) {
    const max = options.maxConnections;
    if (!(Number.isInteger(max) && max >= 1)) throw new DividereError("INVALID_ARGUMENT", `maxConnections must be a whole number of at least 1, got ${max}`);
    // With a ZAP domain, libzmq asks the ZAP handler about every connection, NULL ones too: that is where the limit is kept.
    native.zapDomain ??= newZapDomain();
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) native[key] = value;
  }
  return native;
}

/** The zeromq.js options of CURVE: a server (with a ZAP domain of its own when it has an allow list) or a client. */
function curveOptions(curve: CurveOptions): Record<string, unknown> {
  const { publicKey, secretKey, serverKey, allow } = resolveCurve(curve);
  if (serverKey !== undefined) return { curveServerKey: serverKey, curvePublicKey: publicKey, curveSecretKey: secretKey };
  return {
    curveServer: true,
    curvePublicKey: publicKey,
    curveSecretKey: secretKey,
    // Fail closed: with a domain set, libzmq refuses clients when no ZAP handler answers.
    ...(allow && { zapDomain: newZapDomain(), zapEnforceDomain: true }),
  };
}
