import { type DescMethod, type Message, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import type { SocketOptions } from "../connection/options.js";
import { DividereError } from "../errors.js";
import { type RpcRequest, RpcResponseSchema, StatusCode } from "../gen/dividere/v1/rpc_pb.js";
import { debug } from "../log.js";
import type { MessagingStats } from "../messaging/socket.js";
import { Router } from "../messaging/routing.js";
import { rpcTypes } from "./channel.js";
import { RpcError, toStatusCode } from "./status.js";
import { type CallContext, type ServiceDefinition, methodPath } from "./types.js";

type Implementation = (request: Message, ctx: CallContext) => unknown;

interface Hosted {
  method: DescMethod;
  implementation: Implementation | undefined;
  owner: object;
}

/** Counters of an RPC server. */
export interface RpcServerStats {
  /** Calls answered OK. */
  ok: number;
  /** Calls answered with an error status. */
  failed: number;
  /** Calls cancelled by their caller or their deadline. */
  cancelled: number;
  /** Input that was no call at all (not an envelope, not an RpcRequest), by reason. */
  dropped: MessagingStats["dropped"];
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Hosts service implementations on one Router: every call is answered, an error status where
 * it cannot succeed (unknown method, bad request, a handler that throws), and the server goes on.
 * Hosting through a registry is `serve()`; this is the part that answers calls.
 */
export class RpcServer {
  readonly #router: Router<typeof rpcTypes>;
  readonly #methods = new Map<string, Hosted>();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #loop: Promise<void>;
  readonly #ok = { ok: 0, failed: 0, cancelled: 0 };
  #closing: Promise<void> | undefined;

  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    // mandatory: a reply to a caller that is gone fails at once instead of vanishing.
    this.#router = new Router(endpoint, { ...options, mandatory: true, types: rpcTypes });
    this.#loop = this.#serve();
  }

  /** Where the server is bound (with the real port). */
  get endpoint(): string {
    return this.#router.endpoint;
  }

  get stats(): RpcServerStats {
    return { ...this.#ok, dropped: { ...this.#router.stats.dropped } };
  }

  /** Hosts `implementation` of the service; methods it lacks answer `UNIMPLEMENTED`. */
  add<Impl extends object>(definition: ServiceDefinition<Impl>, implementation: Impl): this {
    for (const method of definition.service.methods) {
      const candidate = (implementation as Record<string, unknown>)[method.localName];
      if (candidate !== undefined && typeof candidate !== "function") {
        throw new DividereError("INVALID_ARGUMENT", `${methodPath(method)}: the implementation's ${method.localName} is not a function`);
      }
      this.#methods.set(methodPath(method), { method, implementation: candidate as Implementation | undefined, owner: implementation });
    }
    return this;
  }

  /** The full names of the services hosted here. */
  get services(): string[] {
    return [...new Set([...this.#methods.values()].map(({ method }) => method.parent.typeName))];
  }

  /**
   * Stops: no new calls are taken; calls in flight get `graceMs` to finish (their signal aborts
   * after it), then the socket closes.
   */
  close(graceMs = 5000): Promise<void> {
    this.#closing ??= (async () => {
      const done = Promise.all([...this.#inFlight.values()].map((call) => call.done));
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([done, expired]);
      clearTimeout(timer);
      for (const call of this.#inFlight.values()) call.controller.abort(new RpcError("UNAVAILABLE", "the server is stopping"));
      await this.#router.close();
      await this.#loop;
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #serve(): Promise<void> {
    for await (const { route, message } of this.#router) {
      const key = `${route[0]?.toString("hex")}/${"id" in message ? message.id : ""}`;
      if (message.$typeName === "dividere.v1.RpcCancel") {
        this.#inFlight.get(key)?.controller.abort(new RpcError("CANCELLED", "the caller cancelled the call"));
      } else if (message.$typeName === "dividere.v1.RpcRequest") {
        if (this.#closing) {
          void this.#reply(route, message.id, new RpcError("UNAVAILABLE", "the server is stopping; call another instance"));
          continue;
        }
        const controller = new AbortController();
        const done = this.#call(route, message, controller).finally(() => this.#inFlight.delete(key));
        this.#inFlight.set(key, { controller, done });
      }
    }
  }

  async #call(route: Buffer[], request: RpcRequest, controller: AbortController): Promise<void> {
    const hosted = this.#methods.get(request.method);
    if (!hosted?.implementation) {
      const known = [...this.#methods.keys()].join(", ") || "none";
      return this.#reply(route, request.id, new RpcError("UNIMPLEMENTED", `${request.method} is not served here (methods: ${known})`));
    }
    const { method, implementation, owner } = hosted;
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      return this.#reply(route, request.id, new RpcError("UNIMPLEMENTED", `${request.method}: ${method.methodKind} calls are not supported`));
    }
    let input: Message;
    try {
      input = fromBinary(method.input, request.payload);
    } catch (error) {
      return this.#reply(
        route,
        request.id,
        new RpcError("INVALID_ARGUMENT", `${request.method}: the request is not a ${method.input.typeName}: ${(error as Error).message}`),
      );
    }
    const deadline = request.timeoutMs > 0 ? Date.now() + request.timeoutMs : undefined;
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(() => controller.abort(new RpcError("DEADLINE_EXCEEDED", `${request.method}: the caller's deadline passed`)), request.timeoutMs);
    const ctx: CallContext = {
      method: request.method,
      deadline,
      signal: controller.signal,
      peer: request.caller || route[0]!.toString("hex"),
    };
    try {
      if (method.methodKind === "unary") {
        const output = await implementation.call(owner, input, ctx);
        if (controller.signal.aborted) return this.#ended(controller);
        await this.#send(route, { id: request.id, payload: toBinary(method.output, create(method.output, output as never)) });
      } else {
        for await (const output of implementation.call(owner, input, ctx) as AsyncIterable<unknown>) {
          if (controller.signal.aborted) break;
          await this.#send(route, { id: request.id, more: true, payload: toBinary(method.output, create(method.output, output as never)) });
        }
        if (controller.signal.aborted) return this.#ended(controller);
        await this.#send(route, { id: request.id });
      }
      this.#ok.ok++;
    } catch (error) {
      if (controller.signal.aborted) return this.#ended(controller);
      await this.#reply(route, request.id, RpcError.from(error));
    } finally {
      clearTimeout(timer);
    }
  }

  /** A call whose caller gave up gets no answer: nobody waits for it. */
  #ended(controller: AbortController): void {
    this.#ok.cancelled++;
    debug("rpc server %s: call ended: %s", this.endpoint, (controller.signal.reason as Error)?.message);
  }

  async #reply(route: Buffer[], id: bigint, error: RpcError): Promise<void> {
    this.#ok.failed++;
    debug("rpc server %s: call %s failed: %s %s", this.endpoint, id, error.code, error.message);
    await this.#send(route, { id, code: toStatusCode(error.code), message: error.message });
  }

  async #send(route: Buffer[], response: { id: bigint; payload?: Uint8Array; more?: boolean; code?: StatusCode; message?: string }): Promise<void> {
    try {
      await this.#router.send(route, RpcResponseSchema, response);
    } catch (error) {
      debug("rpc server %s: cannot answer call %s: %s", this.endpoint, response.id, (error as Error).message);
    }
  }
}
