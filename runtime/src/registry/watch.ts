import { setTimeout as sleep } from "node:timers/promises";
import type { DescMessage } from "@bufbuild/protobuf";
import type { MessageOf } from "../envelope/types.js";
import { debug } from "../log.js";
import type { Subscriber } from "../messaging/pubsub.js";
import type { RegistryEndpoints } from "./protocol.js";

/*
 * A client's subscription to what registries publish (RediscoverReq, InstancesChanged), at every
 * registry at once rather than only the one in use: a watch then goes on without a pause when a
 * registry dies, and needs no request to notice. InstancesChanged carries a service's whole
 * list of instances, so the same change from two registries of one view is told twice, to no harm.
 */

/** What a {@link RegistryWatch} subscribes to, and where its messages go. */
export interface WatchSetup<T extends readonly DescMessage[]> {
  /** Every registry's request endpoint. */
  readonly registries: readonly string[];
  /** Which of a registry's endpoints to subscribe at. */
  readonly which: "publishEndpoint" | "watchEndpoint";
  /** A registry's endpoints, asked of it (one try: a registry that is down is asked again after `retryMs`). */
  endpointsOf(registry: string): Promise<RegistryEndpoints>;
  /** A subscription at `endpoint`. */
  subscribe(endpoint: string): Subscriber<T>;
  /** Each message, from whichever registry. */
  deliver(message: MessageOf<T>): void;
  /** `true` when the first registry is connected, `false` when none is any more. */
  onConnection?(connected: boolean): void;
  /** How long to wait before asking a registry that did not answer again. */
  readonly retryMs: number;
}

/** Subscriptions at every registry, each made once the registry says where it publishes. */
export class RegistryWatch<const T extends readonly DescMessage[]> {
  readonly #setup: WatchSetup<T>;
  readonly #subscribers: Subscriber<T>[] = [];
  readonly #loops: Promise<void>[];
  /** The registries whose subscription is connected. */
  readonly #connected = new Set<string>();
  /** Wakes the loops that wait to ask again when the watch closes. */
  readonly #closing = new AbortController();

  constructor(setup: WatchSetup<T>) {
    this.#setup = setup;
    this.#loops = setup.registries.map((registry) => this.#watch(registry));
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.all(this.#subscribers.map((subscriber) => subscriber.close()));
    await Promise.all(this.#loops);
  }

  /** Subscribes at `registry` once it is known where (asking again while it does not answer) and delivers until closed. */
  async #watch(registry: string): Promise<void> {
    const { which, retryMs } = this.#setup;
    const closing = this.#closing.signal;
    let endpoint: string | undefined;
    while (endpoint === undefined) {
      try {
        endpoint = (await this.#setup.endpointsOf(registry))[which];
      } catch (error) {
        if (closing.aborted) return;
        debug("registry client: cannot learn the %s of %s yet: %s", which, registry, error);
        await sleep(retryMs, undefined, { signal: closing }).catch(() => undefined);
      }
      if (closing.aborted) return;
    }
    const subscriber = this.#setup.subscribe(endpoint);
    this.#subscribers.push(subscriber);
    const { onConnection } = this.#setup;
    if (onConnection) {
      subscriber.events.on("handshake", () => {
        this.#connected.add(registry);
        if (this.#connected.size === 1) onConnection(true);
      });
      subscriber.events.on("disconnect", () => {
        if (this.#connected.delete(registry) && this.#connected.size === 0) onConnection(false);
      });
    }
    for await (const message of subscriber) this.#setup.deliver(message);
  }
}
