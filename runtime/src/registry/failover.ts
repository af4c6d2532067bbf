import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { SocketOptions } from "../connection/options.js";
import { type Limits, within } from "../deadline.js";
import type { MessageOf } from "../envelope/types.js";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import { Request } from "../messaging/reqrep.js";
import { RpcError } from "../rpc/status.js";
import type { Ask, RegistryRequestOptions } from "./protocol.js";
import { registryTypes } from "./server.js";

/*
 * Requests to one registry of several, the Lazy Pirate way over the guide's Freelance model 1:
 * one request at a time on a REQ socket to the registry in use; a try that goes unanswered
 * closes the socket (a REQ that lost its reply is stuck), moves to the next registry, and the
 * retry goes there. The client stays with a registry that answers; it does not go back to an
 * earlier one until the one in use stops answering, so a dead first registry costs one
 * timeout, not one per request.
 */

/** How requests are sent: the registries, and the client's defaults. */
export interface FailoverSetup {
  /** The registries' request endpoints, in order of preference; at least one. */
  readonly registries: readonly string[];
  /** The options of the REQ sockets. */
  readonly socketOptions: SocketOptions;
  /** How long each try waits for its answer. */
  readonly timeoutMs: number;
  /** Further tries after an unanswered one, unless a request says otherwise. */
  readonly retries: number;
}

/** By default every registry is tried at least once, and a lone one three times, as the guide's Lazy Pirate does. */
export function defaultRetries(registries: readonly string[]): number {
  return Math.max(2, registries.length - 1);
}

/** "the registry at A", or "the registries at A, B": who did not answer, for messages. */
export function theRegistries(registries: Iterable<string>): string {
  const list = [...new Set(registries)];
  return list.length === 1 ? `the registry at ${list[0]}` : `the registries at ${list.join(", ")}`;
}

/** Requests to the first of several registries that answers; see the module's comment. */
export class FailoverRequests {
  readonly #setup: FailoverSetup;
  /** The registry in use, as an index of `registries`. */
  #current = 0;
  /** The socket to the registry in use, opened for the first request (a client that only watches needs none). */
  #request: Request<typeof registryTypes> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Sends one request and resolves with its answer, through the queue, retries and limits. */
  readonly ask: Ask = (schema, init, options) => this.#ask(schema, init, options);

  constructor(setup: FailoverSetup) {
    if (setup.registries.length === 0) throw new DividereError("INVALID_ARGUMENT", "no registry endpoint given: name at least one");
    this.#setup = setup;
  }

  /** The registry in use: the one the next request goes to. */
  get endpoint(): string {
    return this.#setup.registries[this.#current]!;
  }

  /** Closes the socket: the request under way and those queued reject with `CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#request?.close();
    await this.#queue.catch(() => undefined);
  }

  /**
   * Sends one request and waits for its answer; one at a time, retried when unanswered, and
   * given up (queued or under way) when its `timeoutMs` passes or its signal aborts.
   */
  #ask<S extends (typeof registryTypes)[number]>(schema: S, init: MessageInitShape<S>, options: RegistryRequestOptions): Promise<MessageOf<typeof registryTypes>> {
    const limits: Limits = { deadline: options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs, signal: options.signal };
    const tried: string[] = [];
    const asked = this.#queue.then(() => this.#exchange(schema, init, options.retries ?? this.#setup.retries, limits, tried));
    this.#queue = asked.catch(() => undefined);
    return within(asked, limits, {
      expired: () => this.#noAnswer(schema, `within ${options.timeoutMs} ms`, "TIMEOUT", tried),
      cancelled: (reason) =>
        new RpcError("CANCELLED", `${schema.typeName} to ${theRegistries(tried.length > 0 ? tried : [this.endpoint])} was cancelled by its AbortSignal`, { cause: reason }),
    });
  }

  async #exchange<S extends (typeof registryTypes)[number]>(
    schema: S,
    init: MessageInitShape<S>,
    retries: number,
    { deadline, signal }: Limits,
    tried: string[],
  ): Promise<MessageOf<typeof registryTypes>> {
    const { timeoutMs } = this.#setup;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new DividereError("CLOSED", "the registry client is closed");
      // A request whose caller gave up while it waited its turn is not sent.
      const left = deadline === undefined ? timeoutMs : Math.min(timeoutMs, deadline - Date.now());
      if (signal?.aborted || left <= 0) throw this.#noAnswer(schema, "in time", "TIMEOUT", tried);
      tried.push(this.endpoint);
      try {
        // With no registry to connect to, the send itself waits: its sendTimeout bounds that.
        this.#request ??= this.#openRequest();
        await this.#request.send(schema, init);
        return await this.#request.recv({ timeoutMs: left, signal });
      } catch (error) {
        const unanswered = DividereError.is(error, "TIMEOUT");
        if (!unanswered && !DividereError.is(error, "CANCELLED")) throw error;
        await this.#request?.close();
        this.#request = undefined;
        if (this.#closed) throw new DividereError("CLOSED", "the registry client is closed");
        // Only silence moves the client on: a caller that gave up says nothing of the registry.
        if (unanswered) this.#moveOn();
        if (!unanswered) throw error;
        if (attempt >= retries) {
          const tries = attempt === 0 ? "(1 try)" : `on each of ${attempt + 1} tries`;
          throw this.#noAnswer(schema, `within ${timeoutMs} ms ${tries}`, "UNAVAILABLE", tried);
        }
      }
    }
  }

  /** The next registry, after the one in use did not answer. */
  #moveOn(): void {
    const { registries } = this.#setup;
    const silent = this.endpoint;
    this.#current = (this.#current + 1) % registries.length;
    if (registries.length > 1) debug("registry client: no answer from %s, moving to %s", silent, this.endpoint);
    else debug("registry client: no answer from %s, trying again", silent);
  }

  #noAnswer(schema: DescMessage, how: string, code: "TIMEOUT" | "UNAVAILABLE", tried: readonly string[]): DividereError {
    const who = tried.length > 0 ? tried : [this.endpoint];
    const several = new Set(who).size > 1;
    const message = `${theRegistries(who)} did not answer ${schema.typeName} ${how}; ${several ? "are they" : "is it"} running?`;
    // UNAVAILABLE is how a call ends, so it is an RpcError, as every error of a call is; TIMEOUT is a socket's.
    return code === "UNAVAILABLE" ? new RpcError(code, message) : new DividereError(code, message);
  }

  #openRequest(): Request<typeof registryTypes> {
    return new Request(this.endpoint, {
      ...this.#setup.socketOptions,
      sendTimeout: this.#setup.timeoutMs,
      types: registryTypes,
      name: `registry client ${this.endpoint}`,
    });
  }
}
