import type { Endpoint } from "../connection/endpoint.js";
import { Channel, type ChannelOptions } from "./channel.js";
import type { ClientInterceptorOptions, Interceptor } from "./interceptor.js";
import type { CallOptions } from "./types.js";

/** What a transport is told of the call it finds a channel for. */
export interface ChannelRequest {
  /** Channels an earlier attempt of the call failed on. */
  readonly avoid: readonly Channel[];
  /** When the call gives up (ms since the epoch), if it has a deadline: a lookup or a connect must not outlast it. */
  readonly deadline: number | undefined;
  /** The call's AbortSignal, if it has one. */
  readonly signal: AbortSignal | undefined;
}

/**
 * How a client reaches a service: it hands out the channel each call goes over. A direct
 * endpoint, a name resolved through the registry, or a broker.
 */
export interface Transport {
  /**
   * The channel for the next call to `service` (full name), or a promise of it when it must
   * be looked up; rejects with `UNAVAILABLE` when no server is known. A promise settles by the
   * call's deadline (`DEADLINE_EXCEEDED`) and when its signal aborts (`CANCELLED`), saying
   * what it was waiting for.
   */
  channel(service: string, request: ChannelRequest): Channel | Promise<Channel>;
  /** Closes every connection; calls in flight fail with `UNAVAILABLE`. */
  close(): Promise<void>;
  /** Call options this transport suits best (a broker's retries, say); each call's own win. */
  readonly defaults?: CallOptions | undefined;
  /** Interceptors around every call of every client over this transport, inside each client's own. */
  readonly interceptors?: readonly Interceptor[] | undefined;
}

/** Options of {@link directTransport} and `brokerTransport`: the connection's, and the calls' defaults. */
export interface TransportOptions extends ChannelOptions, ClientInterceptorOptions {
  /** Options every call over the transport has unless it says otherwise (`timeoutMs`, `retries`, ...). */
  defaults?: CallOptions;
}

/**
 * A transport to one endpoint (a server's Router, or several: ZeroMQ then shares the calls
 * among them round-robin). At most `maxInFlight` calls (default 1000) are in flight at once;
 * more wait, unsent, within their deadlines (see {@link ChannelOptions.maxInFlight}).
 *
 * ```ts
 * const client = new HistoryClient(directTransport("tcp://localhost:5123"));
 * ```
 */
export function directTransport(endpoint: Endpoint, options: TransportOptions = {}): Transport & { readonly endpoint: string } {
  const { defaults, interceptors, ...channelOptions } = options;
  const channel = new Channel(endpoint, channelOptions);
  return {
    endpoint: channel.endpoint,
    defaults,
    interceptors,
    channel: () => channel,
    close: () => channel.close(),
  };
}
