import { RpcClient, type RpcClientOptions } from "../rpc/client.js";
import { RpcError } from "../rpc/status.js";
import type { Transport } from "../rpc/transport.js";
import type { CallOptions } from "../rpc/types.js";
import type { ServingStatus } from "./health.js";
import { HealthService, fromWireStatus } from "./health-service.js";

/**
 * Asks a server, a broker, or the instances a transport finds, how its services are, over
 * `grpc.health.v1.Health`. Statuses come as {@link ServingStatus} words; a service the server
 * does not know is `SERVICE_UNKNOWN` (on the wire, Check's `NOT_FOUND`). Other failures (no
 * answer in time, a server without the health service) reject with their {@link RpcError}.
 *
 * ```ts
 * const health = new HealthClient(directTransport("tcp://localhost:5123"));
 * if ((await health.check("chat.v1.History", { timeoutMs: 1000 })) !== "SERVING") process.exitCode = 1;
 * ```
 */
export class HealthClient {
  readonly #client: RpcClient;

  /** Calls over `transport` (directTransport to a server or a broker's frontend, registryTransport), with `options`' interceptors. */
  constructor(transport: Transport, options: RpcClientOptions = {}) {
    this.#client = new RpcClient(transport, options);
  }

  /** The status of `service` (its full name; `""`, the default: the server as a whole) now. */
  async check(service = "", options: CallOptions = {}): Promise<ServingStatus> {
    try {
      return fromWireStatus((await this.#client.unary(HealthService.method.check, { service }, options)).status);
    } catch (error) {
      if (RpcError.is(error, "NOT_FOUND")) return "SERVICE_UNKNOWN";
      throw error;
    }
  }

  /** Every service the server knows (`""` included), with its status. */
  async list(options: CallOptions = {}): Promise<Map<string, ServingStatus>> {
    const { statuses } = await this.#client.unary(HealthService.method.list, {}, options);
    return new Map(Object.entries(statuses).map(([service, { status }]) => [service, fromWireStatus(status)]));
  }

  /**
   * The status of `service` now, then each change, until the server ends the watch (it
   * closes: its last status is `NOT_SERVING`) or `options.signal` aborts. `timeoutMs` bounds
   * the wait for the first status only, as for every stream.
   */
  async *watch(service = "", options: CallOptions = {}): AsyncGenerator<ServingStatus, void, undefined> {
    for await (const { status } of this.#client.serverStream(HealthService.method.watch, { service }, options)) yield fromWireStatus(status);
  }

  /** Ends this client: its calls in flight fail with `CANCELLED`; the transport stays open: whoever made it closes it. */
  close(): Promise<void> {
    return this.#client.close();
  }

  /** `await using health = ...` closes it at the end of the scope; see {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
