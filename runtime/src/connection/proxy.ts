import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { Endpoint } from "./endpoint.js";
import type { SocketOptions } from "./options.js";
import { Pull, Push } from "./pipeline.js";
import { Dealer, Router } from "./routing.js";
import { type Socket, native } from "./socket.js";

/** Where the two sides of a {@link Proxy} bind or connect, and which pattern it forwards. */
export interface ProxyEndpoints {
  /** Where clients connect: a Router (Requests, Dealers), or a Pull (Pushes) for a pipeline. */
  frontend: Endpoint;
  /** Where servers connect: a Dealer (Responses, Routers, Dealers), or a Push (Pulls) for a pipeline. */
  backend: Endpoint;
  /**
   * `"request-reply"` (default): a Router/Dealer queue; replies find their way back.
   * `"pipeline"`: a Pull/Push streamer; messages are shared among the connected Pulls.
   */
  pattern?: "request-reply" | "pipeline";
}

/**
 * A queue device: requests from many clients are shared among many servers and the replies
 * find their way back (or, as a pipeline, messages from many Pushes are shared among many
 * Pulls). The forwarding loop runs in ZeroMQ's own thread.
 *
 * ```ts
 * await using proxy = new connection.Proxy({ frontend: "tcp://*:5559", backend: "tcp://*:5560" });
 * proxy.start();
 * ```
 */
export class Proxy {
  /** The client-facing socket: a Router, or a Pull for a pipeline. */
  readonly frontend: Socket;
  /** The server-facing socket: a Dealer, or a Push for a pipeline. */
  readonly backend: Socket;
  #running: Promise<void> | undefined;
  #proxy: zmq.Proxy | undefined;
  #closing: Promise<void> | undefined;

  constructor(endpoints: ProxyEndpoints, options: SocketOptions = {}) {
    const pipeline = endpoints.pattern === "pipeline";
    const named = (side: string) => ({ ...options, name: options.name && `${options.name} ${side}` });
    this.frontend = pipeline ? new Pull(endpoints.frontend, named("frontend")) : new Router(endpoints.frontend, named("frontend"));
    try {
      this.backend = pipeline ? new Push(endpoints.backend, named("backend")) : new Dealer(endpoints.backend, named("backend"));
    } catch (error) {
      void this.frontend.close();
      throw error;
    }
  }

  /** True between `start()` and `close()`. */
  get running(): boolean {
    return this.#running !== undefined && this.#closing === undefined;
  }

  /** Starts forwarding in both directions. */
  start(): void {
    if (this.#closing) throw new DividereError("CLOSED", "this proxy was closed; create a new one");
    if (this.#running) return;
    this.#proxy = new zmq.Proxy(this.frontend[native], this.backend[native]);
    this.#running = this.#proxy.run().catch((error: unknown) => {
      debug("proxy %s -> %s ended: %s", this.frontend.endpoint, this.backend.endpoint, error);
    });
    debug("proxy %s -> %s started", this.frontend.endpoint, this.backend.endpoint);
  }

  /** Stops forwarding and closes both sockets. Later calls return the same promise. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#proxy) {
        this.#proxy.terminate();
        await this.#running;
      }
      await Promise.all([this.frontend.close(), this.backend.close()]);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
