import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { Endpoint } from "./endpoint.js";
import type { SocketOptions } from "./options.js";
import { Dealer, Router } from "./routing.js";
import { native } from "./socket.js";

export interface ProxyEndpoints {
  /** Where clients (Request, Dealer) connect: a Router. */
  frontend: Endpoint;
  /** Where servers (Response, Dealer workers) connect: a Dealer. */
  backend: Endpoint;
}

/**
 * A router/dealer queue device: requests from many clients are shared among many servers
 * and the replies find their way back. The forwarding loop runs in ZeroMQ's own thread.
 *
 * ```ts
 * await using proxy = new connection.Proxy({ frontend: "tcp://*:5559", backend: "tcp://*:5560" });
 * proxy.start();
 * ```
 */
export class Proxy {
  /** The client-facing socket. */
  readonly frontend: Router;
  /** The server-facing socket. */
  readonly backend: Dealer;
  #running: Promise<void> | undefined;
  #proxy: zmq.Proxy | undefined;
  #stopping: Promise<void> | undefined;

  constructor(endpoints: ProxyEndpoints, options: SocketOptions = {}) {
    this.frontend = new Router(endpoints.frontend, { ...options, name: options.name && `${options.name} frontend` });
    try {
      this.backend = new Dealer(endpoints.backend, { ...options, name: options.name && `${options.name} backend` });
    } catch (error) {
      void this.frontend.close();
      throw error;
    }
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.#running !== undefined && this.#stopping === undefined;
  }

  /** Starts forwarding in both directions. */
  start(): void {
    if (this.#stopping) throw new DividereError("CLOSED", "this proxy was stopped; create a new one");
    if (this.#running) return;
    this.#proxy = new zmq.Proxy(this.frontend[native] as zmq.Router, this.backend[native] as zmq.Dealer);
    this.#running = this.#proxy.run().catch((error: unknown) => {
      debug("proxy %s -> %s ended: %s", this.frontend.endpoint, this.backend.endpoint, error);
    });
    debug("proxy %s -> %s started", this.frontend.endpoint, this.backend.endpoint);
  }

  /** Stops forwarding and closes both sockets. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#proxy) {
        this.#proxy.terminate();
        await this.#running;
      }
      await Promise.all([this.frontend.close(), this.backend.close()]);
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
