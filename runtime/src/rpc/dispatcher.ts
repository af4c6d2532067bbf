import { type DescMessage, type DescMethod, type DescService, type Message, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sendAgainWhenRoom } from "../connection/send-again.js";
import { timerAt } from "../deadline.js";
import { DividereError } from "../errors.js";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Header, RpcRequest, RpcRequestItem, StatusCode } from "../gen/dividere/v1/rpc_pb.js";
import { debug } from "../log.js";
import type { CallerCheck } from "./caller-key.js";
import { Credit, INITIAL_REQUEST_WINDOW, Inbox } from "./flow.js";
import { type ServerInterceptor, type ServerInterceptorOptions, intercepted } from "./interceptor.js";
import { type MetadataLimits, fromWire, maxHeaderBytesOf, metadataSize, toWire, tooLarge } from "./metadata.js";
import { MethodStats, type MethodStatsSnapshot } from "./method-stats.js";
import { RpcError, fromStatusCode, toStatusCode } from "./status.js";
import { type CallContext, type ServiceImpl, methodPath } from "./types.js";
import { creditEnvelope, responseEnvelope, responseMetadataFields } from "./wire.js";

/** Sends one response of a call back to its caller, as the envelope bytes of an RpcResponse. */
export type Respond = (envelope: Uint8Array) => Promise<void>;

type Implementation = (request: Message | AsyncIterable<Message>, ctx: CallContext) => unknown;

interface Hosted {
  method: DescMethod;
  implementation: Implementation | undefined;
  owner: object;
  stats: MethodStats;
}

/** Options of {@link CallDispatcher.add}. */
export interface AddOptions {
  /**
   * A service every server answers of itself (health, see builtin/host.ts), not one the
   * application hosts: it is left out of `services` (what a worker announces, what a host
   * registers), and a closing server still answers it.
   */
  builtin?: boolean;
}

interface InFlight {
  call: Call;
  done: Promise<void>;
}

/** Options of a {@link CallDispatcher}. */
export interface DispatcherOptions extends MetadataLimits, ServerInterceptorOptions {
  /**
   * How often a call in flight for longer checks that its caller is still there, in ms: a
   * stream waiting for its caller's credit or requests sends nothing, so nothing else would
   * notice a caller that died (its connection closed) or hangs (its connection dropped by the
   * socket's heartbeats). Infinity: never.
   */
  callerCheckMs?: number;
}

/** See {@link DispatcherOptions.callerCheckMs}: the ZMTP heartbeat interval of a server's socket. */
const DEFAULT_CALLER_CHECK_MS = 5000;

const NO_ENTRIES: readonly Header[] = [];
const NO_DETAILS: readonly Any[] = [];
const NO_BYTES = new Uint8Array(0);

/**
 * The context of one call in flight. Its AbortSignal (and the timer that aborts it at the
 * deadline) is made only when the handler reads `signal`: most handlers never do, and the
 * dispatcher itself asks `abortedBy()`, which looks at the clock.
 */
class Call implements CallContext {
  readonly method: string;
  readonly deadline: number | undefined;
  readonly peer: string;
  readonly callerKey: string | undefined;
  /** When the call came, for the check of its caller. */
  readonly startedAt: number;
  /** The request's id, and how to reach its caller. */
  readonly id: bigint;
  readonly respond: Respond;
  /** How the call failed ("CODE: message"), once it did; for the method's stats. */
  failure: string | undefined;
  #controller: AbortController | undefined;
  #cancelTimer: (() => void) | undefined;
  #reason: RpcError | undefined;
  // The metadata, as Headers only once the handler reads it: most calls carry none.
  readonly #requestEntries: readonly Header[];
  readonly #maxHeaderBytes: number;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;
  #headerSent = false;
  /** The request stream of a client or bidi stream, as it arrives, and the type of its messages. */
  requests: Inbox<Message> | undefined;
  #input: DescMessage | undefined;
  /** The credit of the replies of a stream, when its caller does flow control (it said its `response_window`). */
  replies: Credit | undefined;

  constructor(request: RpcRequest, peer: string, callerKey: string | undefined, maxHeaderBytes: number, respond: Respond) {
    this.method = request.method;
    this.callerKey = callerKey;
    this.startedAt = Date.now();
    this.id = request.id;
    this.respond = respond;
    this.deadline = request.timeoutMs > 0 ? this.startedAt + request.timeoutMs : undefined;
    this.peer = peer;
    this.#requestEntries = request.headers;
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  /**
   * Sets up the streams of `method`: an inbox for the requests of a client or bidi stream (the
   * server grants credit with `grant` as the handler reads them), the caller's credit for the
   * replies of a server or bidi stream. A stream's deadline then needs its timer: the handler
   * may wait on either without asking the clock.
   */
  open(method: DescMethod, responseWindow: number, grant: (items: number) => void): void {
    const streamsRequests = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const streamsReplies = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    if (streamsRequests) {
      this.requests = new Inbox(INITIAL_REQUEST_WINDOW, grant);
      this.#input = method.input;
    }
    if (streamsReplies && responseWindow > 0) this.replies = new Credit(responseWindow);
    if (this.requests || this.replies) void this.signal;
  }

  /** A message of the request stream, or its end; one beyond the caller's credit, or not of the method's input type, ends the call. */
  receive(item: RpcRequestItem): void {
    if (!this.requests || !this.#input) return debug("%s: a request item for a call that takes no request stream", this.method);
    if (item.end) return this.requests.end();
    try {
      this.requests.push(fromBinary(this.#input, item.payload), item.payload.length);
    } catch (error) {
      const why = error instanceof RpcError ? error : new RpcError("INVALID_ARGUMENT", `${this.method}: a request is not a ${this.#input.typeName}: ${(error as Error).message}`);
      this.abort(new RpcError(why.code, `${this.method}: ${why.message}`));
    }
  }

  get requestHeader(): Headers {
    return (this.#requestHeader ??= fromWire(this.#requestEntries));
  }

  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  /** The request headers over the bound, if they are. */
  requestTooLarge(): RpcError | undefined {
    if (this.#requestEntries.length === 0) return undefined;
    const size = metadataSize(this.#requestEntries);
    return size > this.#maxHeaderBytes ? tooLarge(`${this.method}: the request headers`, size, this.#maxHeaderBytes) : undefined;
  }

  /**
   * The metadata fields of the call's next answer: the response headers on its first, the
   * trailers and an error's details on its last. Throws `RESOURCE_EXHAUSTED` over the bound.
   */
  metadata(last: boolean, details: readonly Any[] = NO_DETAILS): Uint8Array {
    const first = !this.#headerSent;
    this.#headerSent = true;
    if (!this.#responseHeader && !this.#responseTrailer && details.length === 0) return NO_BYTES;
    const headers = first ? toWire(this.#responseHeader) : NO_ENTRIES;
    const trailers = last ? toWire(this.#responseTrailer) : NO_ENTRIES;
    const size = metadataSize(headers, trailers);
    if (size > this.#maxHeaderBytes) throw tooLarge(`${this.method}: the response headers and trailers`, size, this.#maxHeaderBytes);
    return responseMetadataFields(headers, trailers, details);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      const reason = this.abortedBy();
      if (reason) this.#controller.abort(reason);
      else if (this.deadline !== undefined) this.#cancelTimer = timerAt(this.deadline, () => this.abort(this.#deadlinePassed()));
    }
    return this.#controller.signal;
  }

  /** Why the call was given up (cancelled, its deadline passed, the server stopping), if it was. */
  abortedBy(): RpcError | undefined {
    if (!this.#reason && this.deadline !== undefined && Date.now() >= this.deadline) {
      this.abort(this.#deadlinePassed());
    }
    return this.#reason;
  }

  #deadlinePassed(): RpcError {
    return new RpcError("DEADLINE_EXCEEDED", `${this.method}: the caller's deadline passed`);
  }

  abort(reason: RpcError): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.finish();
    this.requests?.abort(reason);
    this.replies?.end();
    this.#controller?.abort(reason);
  }

  finish(): void {
    this.#cancelTimer?.();
  }
}

/** Counters of the calls a dispatcher answered. */
export interface CallStats {
  /** Calls answered OK. */
  ok: number;
  /** Calls answered with an error status. */
  failed: number;
  /** Calls cancelled by their caller or their deadline. */
  cancelled: number;
  /** Per hosted method ("/package.Service/Method"): calls, errors, the last error, processing times. */
  methods: Record<string, MethodStatsSnapshot>;
}

/**
 * Runs calls against hosted service implementations and answers each through the `respond`
 * it came with: the part of a server that does not care which socket the calls arrive on
 * (an RpcServer's Router, a broker Worker's Dealer).
 */
export class CallDispatcher {
  readonly #counts = { ok: 0, failed: 0, cancelled: 0 };
  readonly #methods = new Map<string, Hosted>();
  readonly #builtins = new Set<string>();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #name: string;
  readonly #maxHeaderBytes: number;
  readonly #verifier: CallerCheck | undefined;
  /** Undefined when there are none: a handler is then called directly. */
  readonly #interceptors: readonly ServerInterceptor[] | undefined;
  readonly #callerCheckMs: number;
  /** Checks the callers of long calls, while calls come. */
  #callerCheck: NodeJS.Timeout | undefined;

  /** `name` tells the server apart in logs; `verifier` tells who calls (a CURVE server's check of caller keys, a worker's broker's word). */
  constructor(name: string, options: DispatcherOptions = {}, verifier?: CallerCheck) {
    this.#name = name;
    this.#maxHeaderBytes = maxHeaderBytesOf(options);
    this.#verifier = verifier;
    this.#interceptors = options.interceptors?.length ? [...options.interceptors] : undefined;
    this.#callerCheckMs = options.callerCheckMs ?? DEFAULT_CALLER_CHECK_MS;
  }

  /** Hosts `implementation` of the service descriptor; methods it lacks answer `UNIMPLEMENTED`. */
  add<S extends DescService>(service: S, implementation: ServiceImpl<S>, options: AddOptions = {}): void {
    for (const method of service.methods) {
      const candidate = (implementation as Record<string, unknown>)[method.localName];
      if (candidate !== undefined && typeof candidate !== "function") {
        throw new DividereError("INVALID_ARGUMENT", `${methodPath(method)}: the implementation's ${method.localName} is not a function`);
      }
      this.#methods.set(methodPath(method), { method, implementation: candidate as Implementation | undefined, owner: implementation, stats: new MethodStats() });
    }
    if (options.builtin) this.#builtins.add(service.typeName);
  }

  /** A snapshot of the counters, and of each hosted method's figures. */
  get stats(): CallStats {
    const methods: Record<string, MethodStatsSnapshot> = {};
    for (const [path, { stats }] of this.#methods) methods[path] = stats.snapshot();
    return { ...this.#counts, methods };
  }

  /** The descriptors of the services hosted, the built-in ones included. */
  get descriptors(): readonly DescService[] {
    return [...new Set([...this.#methods.values()].map(({ method }) => method.parent))];
  }

  /** The full names of the services the application hosts (the built-in ones left out). */
  get services(): string[] {
    return [...new Set(this.descriptors.map((service) => service.typeName))].filter((name) => !this.#builtins.has(name));
  }

  /** Whether `method` ("/package.Service/Method") is of a built-in service (see {@link AddOptions.builtin}), hosted or not by that name. */
  isBuiltin(method: string): boolean {
    return this.#builtins.has(method.split("/")[1] ?? "");
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Starts a call; `key` names it for `cancel` (unique among the calls in flight). */
  start(key: string, request: RpcRequest, peer: string, respond: Respond): void {
    let callerKey: string | undefined;
    try {
      callerKey = this.#verifier?.verify(request);
    } catch (error) {
      void this.#fail(request.id, RpcError.from(error), respond, undefined);
      return;
    }
    const call = new Call(request, peer, callerKey, this.#maxHeaderBytes, respond);
    const hosted = this.#methods.get(request.method);
    if (hosted?.implementation && hosted.method.methodKind !== "unary") {
      call.open(hosted.method, request.responseWindow, (items) =>
        respond(creditEnvelope(callId(request.id), items)).catch((error: unknown) => debug("%s: cannot grant credit to call %s: %s", this.#name, request.id, error)),
      );
    }
    const begun = performance.now();
    const done = this.#call(request, call, respond).finally(() => {
      this.#inFlight.delete(key);
      hosted?.stats.record(performance.now() - begun, call.failure);
    });
    this.#inFlight.set(key, { call, done });
    if (!this.#callerCheck && Number.isFinite(this.#callerCheckMs)) {
      this.#callerCheck = setInterval(() => this.#checkCallers(), this.#callerCheckMs).unref();
    }
  }

  /**
   * Asks the connection of each call in flight for a while whether its caller is there, with a
   * message every caller ignores (a credit of no items): one whose connection is gone fails it
   * (UNROUTABLE; behind a broker, the broker's send fails and it cancels the call), and the
   * call is cancelled, its handler's signal aborted.
   */
  #checkCallers(): void {
    // Stopped here rather than as the last call ends: a server answering one call at a time would make a timer per call.
    if (this.#inFlight.size === 0) return void (this.#callerCheck = void clearInterval(this.#callerCheck));
    const now = Date.now();
    for (const { call } of this.#inFlight.values()) {
      if (now - call.startedAt < this.#callerCheckMs || call.abortedBy()) continue;
      call.respond(creditEnvelope(callId(call.id), 0)).catch((error: unknown) => {
        if (DividereError.is(error, "UNROUTABLE")) call.abort(new RpcError("CANCELLED", `${call.method}: the caller is gone (its connection closed)`));
      });
    }
  }

  /**
   * The caller gave up on the call `key`: its handler's signal aborts, with DEADLINE_EXCEEDED
   * when the caller says its deadline passed. False when no such call is in flight.
   */
  cancel(key: string, why?: StatusCode): boolean {
    const inFlight = this.#inFlight.get(key);
    const error =
      why !== undefined && fromStatusCode(why) === "DEADLINE_EXCEEDED"
        ? new RpcError("DEADLINE_EXCEEDED", "the caller's deadline passed")
        : new RpcError("CANCELLED", "the caller cancelled the call (or, behind a broker, its connection closed)");
    inFlight?.call.abort(error);
    return inFlight !== undefined;
  }

  /** A message of the request stream of the call `key`, or its end. False when no such call is in flight (it ended). */
  item(key: string, item: RpcRequestItem): boolean {
    const inFlight = this.#inFlight.get(key);
    inFlight?.call.receive(item);
    return inFlight !== undefined;
  }

  /** The caller of the call `key` lets it send `items` more replies. False when no such call is in flight. */
  credit(key: string, items: number): boolean {
    const inFlight = this.#inFlight.get(key);
    inFlight?.call.replies?.grant(items);
    return inFlight !== undefined;
  }

  /** Answers a call with an error, without running it. */
  refuse(request: RpcRequest, error: RpcError, respond: Respond): Promise<void> {
    return this.#fail(request.id, error, respond, undefined);
  }

  /** Waits up to `graceMs` for the calls in flight, then aborts the rest with `why`. */
  async drain(graceMs: number, why: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all([...this.#inFlight.values()].map((call) => call.done)), expired]);
    clearTimeout(timer);
    for (const { call } of this.#inFlight.values()) call.abort(new RpcError("UNAVAILABLE", why));
  }

  async #call(request: RpcRequest, call: Call, respond: Respond): Promise<void> {
    const hosted = this.#methods.get(request.method);
    if (!hosted?.implementation) {
      const known = [...this.#methods.keys()].join(", ") || "none";
      return this.#fail(request.id, new RpcError("UNIMPLEMENTED", `${request.method} is not served here (methods: ${known})`), respond, call);
    }
    const tooLarge = call.requestTooLarge();
    if (tooLarge) return this.#fail(request.id, tooLarge, respond, call);
    const { method } = hosted;
    let input: Message | AsyncIterable<Message>;
    try {
      input = call.requests ?? fromBinary(method.input, request.payload);
    } catch (error) {
      const why = `${request.method}: the request is not a ${method.input.typeName}: ${(error as Error).message}`;
      return this.#fail(request.id, new RpcError("INVALID_ARGUMENT", why), respond, call);
    }
    const id = callId(request.id);
    const send = (envelope: Uint8Array) => this.#send(call, respond, envelope, request.id);
    try {
      if (method.methodKind === "unary" || method.methodKind === "client_streaming") {
        const output = await this.#run(hosted, input, call);
        if (call.abortedBy()) return await this.#gaveUp(call, respond, request.id);
        const payload = toBinary(method.output, create(method.output, output as never));
        await send(responseEnvelope({ id, payload, metadata: call.metadata(true) }));
      } else {
        for await (const output of this.#run(hosted, input, call) as AsyncIterable<unknown>) {
          // Wait for the caller's credit: a slow reader holds the handler here, not its replies in a queue.
          if (call.abortedBy() || (call.replies && !(await call.replies.take()))) break;
          const payload = toBinary(method.output, create(method.output, output as never));
          await send(responseEnvelope({ id, more: true, payload, metadata: call.metadata(false) }));
        }
        if (call.abortedBy()) return await this.#gaveUp(call, respond, request.id);
        await send(responseEnvelope({ id, metadata: call.metadata(true) }));
      }
      this.#counts.ok++;
    } catch (error) {
      if (call.abortedBy()) return await this.#gaveUp(call, respond, request.id);
      await this.#fail(request.id, RpcError.from(error), respond, call);
    } finally {
      call.finish();
    }
  }

  /** Calls the handler of a call, through the interceptors if there are any. */
  #run({ method, implementation, owner }: Hosted, input: Message | AsyncIterable<Message>, call: Call): unknown {
    const interceptors = this.#interceptors;
    if (!interceptors) return implementation!.call(owner, input, call);
    return intercepted(interceptors, method, input, call, (message, ctx) => implementation!.call(owner, message, ctx));
  }

  /**
   * Sends one response of a call. A stream's replies wait for the caller's credit, but the
   * caller's queue can still fill (many calls' answers at once, a caller from before flow
   * control), and ZeroMQ then refuses the send (TIMEOUT): it is tried again until the call is
   * given up (its deadline, a cancel, the server stopping; see connection/send-again.ts).
   * Dropping it would leave a gap in a stream that still ends OK, or a caller waiting for an
   * answer that was thrown away. A send that goes through at once costs no more than the send.
   */
  #send(call: Call, respond: Respond, envelope: Uint8Array, id: bigint): Promise<void> {
    return respond(envelope).catch((error: unknown) =>
      sendAgainWhenRoom(() => respond(envelope), error, { full: isFull, stopped: () => call.abortedBy() !== undefined }).catch((last: unknown) => {
        // The caller is gone: its handler may stop.
        if (DividereError.is(last, "UNROUTABLE")) call.abort(new RpcError("CANCELLED", `${call.method}: the caller is gone (its connection closed)`));
        debug("%s: cannot answer call %s: %s", this.#name, id, (last as Error).message);
      }),
    );
  }

  /**
   * A call given up (cancelled, its deadline passed, the server stopping) still gets its last
   * answer, with the reason: a caller may still wait (a server that stops), and a broker frees the
   * worker's slot only when the worker says the call has ended.
   */
  async #gaveUp(call: Call, respond: Respond, id: bigint): Promise<void> {
    this.#counts.cancelled++;
    const reason = call.abortedBy()!;
    call.failure = `${reason.code}: ${reason.message}`;
    debug("%s: call ended: %s", this.#name, reason.message);
    await respond(errorEnvelope(id, reason, call)).catch((error: unknown) => debug("%s: cannot end call %s: %s", this.#name, id, (error as Error).message));
  }

  async #fail(id: bigint, error: RpcError, respond: Respond, call: Call | undefined): Promise<void> {
    this.#counts.failed++;
    if (call) call.failure = `${error.code}: ${error.message}`;
    debug("%s: call %s failed: %s %s", this.#name, id, error.code, error.message);
    await respond(errorEnvelope(id, error, call)).catch((sendError: unknown) =>
      debug("%s: cannot answer call %s: %s", this.#name, id, (sendError as Error).message),
    );
  }
}

/** The last answer of a call that failed: its code, message and details, and the call's trailers (unless they are what is over the bound). */
function errorEnvelope(id: bigint, error: RpcError, call: Call | undefined): Uint8Array {
  let metadata: Uint8Array;
  try {
    metadata = call ? call.metadata(true, error.details) : responseMetadataFields(NO_ENTRIES, NO_ENTRIES, error.details);
  } catch {
    metadata = responseMetadataFields(NO_ENTRIES, NO_ENTRIES, error.details);
  }
  return responseEnvelope({ id: callId(id), code: toStatusCode(error.code), message: error.message, metadata });
}

/** A request id as a number where that is exact, which is how this runtime's clients number calls. */
function callId(id: bigint): number | bigint {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
}

/** A send to a caller whose queue is full: a mandatory Router's TIMEOUT. */
function isFull(error: unknown): boolean {
  return DividereError.is(error, "TIMEOUT");
}
