import type { Endpoint } from "../connection/endpoint.js";
import { Channel, type ChannelOptions } from "./channel.js";
import type { CallOptions } from "./types.js";

/**
 * How a client reaches a service: it hands out the channel each call goes over. A direct
 * endpoint, a name resolved through the registry, or a broker.
 */
export interface Transport {
  /**
   * The channel for the next call to `service` (full name), or a promise of it when it must
   * be looked up; rejects with `UNAVAILABLE` when no server is known. `avoid` lists channels
   * an earlier attempt of the call failed on.
   */
  channel(service: string, avoid: readonly Channel[]): Channel | Promise<Channel>;
  /** Closes every connection; calls in flight fail with `UNAVAILABLE`. */
  close(): Promise<void>;
  /** Call options this transport suits best (a broker's retries, say); each call's own win. */
  readonly defaults?: CallOptions;
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
export function directTransport(endpoint: Endpoint, options: ChannelOptions = {}): Transport & { readonly endpoint: string } {
  const channel = new Channel(endpoint, options);
  return {
    endpoint: channel.endpoint,
    channel: () => channel,
    close: () => channel.close(),
  };
}
