import { type DescMethod, type Message, type MessageInitShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { DividereError } from "../errors.js";
import { type RpcRequest, type RpcResponseSchema } from "../gen/dividere/v1/rpc_pb.js";
import { debug } from "../log.js";
import { RpcError, toStatusCode } from "./status.js";
import { type CallContext, type ServiceDefinition, methodPath } from "./types.js";

/** Sends one response of a call back to its caller. */
export type Respond = (response: MessageInitShape<typeof RpcResponseSchema>) => Promise<void>;

type Implementation = (request: Message, ctx: CallContext) => unknown;

interface Hosted {
  method: DescMethod;
  implementation: Implementation | undefined;
  owner: object;
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
}

/** Counters of the calls a dispatcher answered. */
export interface CallStats {
  /** Calls answered OK. */
  ok: number;
  /** Calls answered with an error status. */
  failed: number;
  /** Calls cancelled by their caller or their deadline. */
  cancelled: number;
}

/**
 * Runs calls against hosted service implementations and answers each through the `respond`
 * it came with: the part of a server that does not care which socket the calls arrive on
 * (an RpcServer's Router, a broker Worker's Dealer).
 */
export class CallDispatcher {
  readonly stats: CallStats = { ok: 0, failed: 0, cancelled: 0 };
  readonly #methods = new Map<string, Hosted>();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #name: string;

  /** `name` tells the server apart in logs. */
  constructor(name: string) {
    this.#name = name;
  }

  /** Hosts `implementation` of the service; methods it lacks answer `UNIMPLEMENTED`. */
  add<Impl extends object>(definition: ServiceDefinition<Impl>, implementation: Impl): void {
    for (const method of definition.service.methods) {
      const candidate = (implementation as Record<string, unknown>)[method.localName];
      if (candidate !== undefined && typeof candidate !== "function") {
        throw new DividereError("INVALID_ARGUMENT", `${methodPath(method)}: the implementation's ${method.localName} is not a function`);
      }
      this.#methods.set(methodPath(method), { method, implementation: candidate as Implementation | undefined, owner: implementation });
    }
  }

  /** The full names of the services hosted. */
  get services(): string[] {
    return [...new Set([...this.#methods.values()].map(({ method }) => method.parent.typeName))];
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Starts a call; `key` names it for `cancel` (unique among the calls in flight). */
  start(key: string, request: RpcRequest, peer: string, respond: Respond): void {
    const controller = new AbortController();
    const done = this.#call(request, peer, controller, respond).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, { controller, done });
  }

  /** The caller gave up on the call `key`: its handler's signal aborts. */
  cancel(key: string): void {
    this.#inFlight.get(key)?.controller.abort(new RpcError("CANCELLED", "the caller cancelled the call"));
  }

  /** Answers a call with an error, without running it. */
  refuse(request: RpcRequest, error: RpcError, respond: Respond): Promise<void> {
    return this.#fail(request.id, error, respond);
  }

  /** Waits up to `graceMs` for the calls in flight, then aborts the rest with `why`. */
  async drain(graceMs: number, why: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all([...this.#inFlight.values()].map((call) => call.done)), expired]);
    clearTimeout(timer);
    for (const call of this.#inFlight.values()) call.controller.abort(new RpcError("UNAVAILABLE", why));
  }

  async #call(request: RpcRequest, peer: string, controller: AbortController, respond: Respond): Promise<void> {
    const hosted = this.#methods.get(request.method);
    if (!hosted?.implementation) {
      const known = [...this.#methods.keys()].join(", ") || "none";
      return this.#fail(request.id, new RpcError("UNIMPLEMENTED", `${request.method} is not served here (methods: ${known})`), respond);
    }
    const { method, implementation, owner } = hosted;
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      return this.#fail(request.id, new RpcError("UNIMPLEMENTED", `${request.method}: ${method.methodKind} calls are not supported`), respond);
    }
    let input: Message;
    try {
      input = fromBinary(method.input, request.payload);
    } catch (error) {
      const why = `${request.method}: the request is not a ${method.input.typeName}: ${(error as Error).message}`;
      return this.#fail(request.id, new RpcError("INVALID_ARGUMENT", why), respond);
    }
    const deadline = request.timeoutMs > 0 ? Date.now() + request.timeoutMs : undefined;
    const timer =
      deadline === undefined
        ? undefined
        : setTimeout(() => controller.abort(new RpcError("DEADLINE_EXCEEDED", `${request.method}: the caller's deadline passed`)), request.timeoutMs);
    const ctx: CallContext = { method: request.method, deadline, signal: controller.signal, peer };
    const send = (response: MessageInitShape<typeof RpcResponseSchema>) =>
      respond(response).catch((error: unknown) => debug("%s: cannot answer call %s: %s", this.#name, request.id, (error as Error).message));
    try {
      if (method.methodKind === "unary") {
        const output = await implementation.call(owner, input, ctx);
        if (controller.signal.aborted) return this.#gaveUp(controller);
        await send({ id: request.id, payload: toBinary(method.output, create(method.output, output as never)) });
      } else {
        for await (const output of implementation.call(owner, input, ctx) as AsyncIterable<unknown>) {
          if (controller.signal.aborted) break;
          await send({ id: request.id, more: true, payload: toBinary(method.output, create(method.output, output as never)) });
        }
        if (controller.signal.aborted) return this.#gaveUp(controller);
        await send({ id: request.id });
      }
      this.stats.ok++;
    } catch (error) {
      if (controller.signal.aborted) return this.#gaveUp(controller);
      await this.#fail(request.id, RpcError.from(error), respond);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A call whose caller gave up gets no answer: nobody waits for it. */
  #gaveUp(controller: AbortController): void {
    this.stats.cancelled++;
    debug("%s: call ended: %s", this.#name, (controller.signal.reason as Error)?.message);
  }

  async #fail(id: bigint, error: RpcError, respond: Respond): Promise<void> {
    this.stats.failed++;
    debug("%s: call %s failed: %s %s", this.#name, id, error.code, error.message);
    await respond({ id, code: toStatusCode(error.code), message: error.message }).catch((sendError: unknown) =>
      debug("%s: cannot answer call %s: %s", this.#name, id, (sendError as Error).message),
    );
  }
}
