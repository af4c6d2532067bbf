import { setMaxListeners } from "node:events";
import {
  type DescMessage,
  type DescMethod,
  type Message,
  type MessageInitShape,
  type MessageShape,
  create,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import { earliest, timerAt, within } from "../deadline.js";
import { debug } from "../log.js";
import type { CallSink, Channel, ChannelOptions } from "./channel.js";
import { Credit, DEFAULT_RESPONSE_WINDOW, INITIAL_REQUEST_WINDOW, Inbox } from "./flow.js";
import {
  type CallFn,
  type CallRequest,
  type CallResponse,
  type ClientInterceptorOptions,
  type Interceptor,
  type MessageStream,
  type OneMessage,
  applyInterceptors,
  replaceHeaders,
} from "./interceptor.js";
import { fromWire, toWire } from "./metadata.js";
import { RpcError } from "./status.js";
import type { Transport } from "./transport.js";
import { type CallOptions, DEFAULT_TIMEOUT_MS, type MethodOfKind, methodPath } from "./types.js";
import { requestHeaderFields } from "./wire.js";

type Method<I extends DescMessage, O extends DescMessage> = DescMethod & { readonly input: I; readonly output: O };

const NO_PAYLOAD = new Uint8Array(0);

/** First pause between attempts, unless a call or its transport says otherwise; it doubles with each retry. */
const RETRY_DELAY_MS = 25;

/** Options of an {@link RpcClient} (and of a generated client): its interceptors, run outside its transport's. */
export interface RpcClientOptions extends ClientInterceptorOptions {}

/**
 * Makes calls over a transport: deadlines, cancellation, retries, interceptors. Generated clients
 * (`HistoryClient`) are thin wrappers of this. How many calls go out at once is bounded per
 * connection by the transport's `maxInFlight` (default 1000): a call beyond it waits, unsent,
 * within its deadline and signal (see {@link ChannelOptions.maxInFlight}).
 */
export class RpcClient {
  readonly #transport: Transport;
  /** Aborted by close(): every call of this client watches it beside its own signal. */
  readonly #closed = new AbortController();
  /** This client's interceptors, then its transport's; undefined when there are none, the path of a plain call. */
  readonly #interceptors: readonly Interceptor[] | undefined;

  constructor(transport: Transport, options: RpcClientOptions = {}) {
    this.#transport = transport;
    const interceptors = [...(options.interceptors ?? []), ...(transport.interceptors ?? [])];
    this.#interceptors = interceptors.length > 0 ? interceptors : undefined;
    // One listener per call in flight, however many there are: no leak to warn of.
    setMaxListeners(0, this.#closed.signal);
  }

  /**
   * Ends this client: its calls in flight fail with `CANCELLED`, and so does every later one.
   * The transport stays open: it belongs to whoever made it, and may serve other clients too;
   * close it with `transport.close()`.
   */
  close(): Promise<void> {
    this.#closed.abort();
    return Promise.resolve();
  }

  /** `await using client = ...` closes it at the end of the scope; see {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Calls a unary method; resolves with its reply, rejects with an {@link RpcError}. */
  unary<I extends DescMessage, O extends DescMessage>(
    method: MethodOfKind<"unary", I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    if (!this.#interceptors) return this.#unary(method, request, options);
    return this.#interceptedOne(method, () => ({ stream: false, message: createRequest(method, request) }), options, this.#interceptors);
  }

  /** Calls a server-streaming method; yields each reply, throws an {@link RpcError} when the call fails. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: MethodOfKind<"server_streaming", I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    if (!this.#interceptors) return this.#serverStream(method, request, options);
    return this.#interceptedMany(method, () => ({ stream: false, message: createRequest(method, request) }), options, this.#interceptors);
  }

  async #unary<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions,
  ): Promise<MessageShape<O>> {
    const payload = encodeRequest(method, request);
    let reply: MessageShape<O> | undefined;
    await this.#attempts(method, options, () => true, (attempt) =>
      attempt.run(payload, (message) => (reply = message)),
    );
    // An all-default reply travels as zero bytes, and so as no message at all.
    return reply ?? create(method.output);
  }

  #serverStream<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions,
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    return this.#stream(method, encodeRequest(method, request), undefined, options);
  }

  /**
   * Calls a client-streaming method: sends each message of `requests`, then ends the stream (a
   * half-close), and resolves with the reply; rejects with an {@link RpcError}. `requests` is
   * read only as fast as the server grants credit (see docs/services.md, "Streams and flow
   * control"): a `for await` producing them pauses while the server is behind. When the call
   * ends early (the server answers or fails, a cancel, the deadline) `requests` is closed
   * (its `return()`). A call is retried (`retries`) only before its first request was read.
   */
  clientStream<I extends DescMessage, O extends DescMessage>(
    method: MethodOfKind<"client_streaming", I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    if (!this.#interceptors) return this.#clientStream(method, requests, options);
    return this.#interceptedOne(method, () => ({ stream: true, message: requestsOf(method, requests) }), options, this.#interceptors);
  }

  async #clientStream<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions,
  ): Promise<MessageShape<O>> {
    const writer = new RequestWriter(method, requests);
    let reply: MessageShape<O> | undefined;
    try {
      await this.#attempts(method, options, () => !writer.started, (attempt) => attempt.run(NO_PAYLOAD, (message) => (reply = message), writer));
    } finally {
      writer.close();
    }
    return reply ?? create(method.output);
  }

  /**
   * Calls a bidi-streaming method: sends `requests` as {@link clientStream} does, while it
   * yields each reply as {@link serverStream} does; both directions have their own credit.
   * Stopping reading the replies (a `break`) cancels the call.
   */
  bidiStream<I extends DescMessage, O extends DescMessage>(
    method: MethodOfKind<"bidi_streaming", I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    if (!this.#interceptors) return this.#bidiStream(method, requests, options);
    return this.#interceptedMany(method, () => ({ stream: true, message: requestsOf(method, requests) }), options, this.#interceptors);
  }

  #bidiStream<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions,
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    return this.#stream(method, NO_PAYLOAD, new RequestWriter(method, requests), options);
  }

  /**
   * The replies of a streaming method, as they are read: the server may send a window of them
   * ahead of the reader, and more as the reader takes them (each read grants credit).
   */
  async *#stream<O extends DescMessage>(
    method: Method<DescMessage, O>,
    payload: Uint8Array,
    writer: RequestWriter | undefined,
    options: CallOptions,
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    let current: Attempt<O> | undefined;
    let ended = false;
    // Not strict: a server from before flow control sends without waiting for credit.
    const replies = new Inbox<MessageShape<O>>(DEFAULT_RESPONSE_WINDOW, (items) => current?.grant(items), { strict: false });
    void this.#attempts(
      method,
      options,
      () => !current?.delivered && !writer?.started, // once messages came or went, a retry would repeat them
      (attempt) => {
        current = attempt;
        return attempt.run(payload, (message, bytes) => replies.push(message, bytes), writer);
      },
    )
      .then(
        () => replies.end(),
        (error: unknown) => replies.end(RpcError.from(error)),
      )
      .finally(() => {
        ended = true;
        writer?.close();
      });
    try {
      yield* replies;
    } finally {
      if (!ended) current?.cancel(new RpcError("CANCELLED", `${methodPath(method)}: the caller stopped reading the stream`));
    }
  }

  /** A call whose answer is one message (unary, client-streaming), through the interceptors. */
  async #interceptedOne<O extends DescMessage>(
    method: Method<DescMessage, O>,
    request: () => OneMessage | MessageStream,
    options: CallOptions,
    interceptors: readonly Interceptor[],
  ): Promise<MessageShape<O>> {
    const response = await this.#intercept(method, request, options, interceptors);
    if (response.stream) throw new RpcError("INTERNAL", `${methodPath(method)}: an interceptor answered the ${kindOf(method)} call with a stream`);
    return response.message as MessageShape<O>;
  }

  /** A call whose answer is a stream (server-streaming, bidi), through the interceptors. */
  async *#interceptedMany<O extends DescMessage>(
    method: Method<DescMessage, O>,
    request: () => OneMessage | MessageStream,
    options: CallOptions,
    interceptors: readonly Interceptor[],
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    const response = await this.#intercept(method, request, options, interceptors);
    if (!response.stream) throw new RpcError("INTERNAL", `${methodPath(method)}: an interceptor answered the ${kindOf(method)} call with one message`);
    try {
      for await (const message of response.message) yield message as MessageShape<O>;
    } catch (error) {
      throw RpcError.from(error);
    }
  }

  /** Runs a call through the interceptors; the innermost link is the call over the transport. `request` makes the request they see. */
  async #intercept(method: Method<DescMessage, DescMessage>, request: () => OneMessage | MessageStream, options: CallOptions, interceptors: readonly Interceptor[]): Promise<CallResponse> {
    const given = withDefaults(options, this.#transport.defaults);
    const requestStreams = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const send: CallFn = async (req) => {
      if (req.stream !== requestStreams) {
        throw new RpcError("INVALID_ARGUMENT", `${req.path}: an interceptor passed on ${req.stream ? "a stream of requests" : "one request"}, where the ${kindOf(method)} method takes ${requestStreams ? "a stream" : "one"}`);
      }
      // The request as the interceptors left it; the rest of the options as the caller gave them.
      const sent: CallOptions = { ...given, headers: req.header, signal: req.signal, timeoutMs: req.timeoutMs };
      switch (method.methodKind) {
        case "unary":
          return this.#answerOne(method, sent, (o) => this.#unary(method, req.message as Message, o));
        case "client_streaming":
          return this.#answerOne(method, sent, (o) => this.#clientStream(method, req.message as AsyncIterable<Message>, o));
        case "server_streaming":
          return this.#answerMany(method, sent, (o) => this.#serverStream(method, req.message as Message, o));
        case "bidi_streaming":
          return this.#answerMany(method, sent, (o) => this.#bidiStream(method, req.message as AsyncIterable<Message>, o));
      }
    };
    try {
      const req = {
        ...request(),
        method,
        path: methodPath(method),
        header: headersOf(method, given.headers),
        signal: this.#signalOf(given),
        timeoutMs: given.timeoutMs,
      } as CallRequest; // stream and message agree: they come together from `request`
      return await applyInterceptors(send, interceptors)(req);
    } catch (error) {
      throw RpcError.from(error);
    }
  }

  /**
   * The innermost link of a call answered by one message: the call, with its response metadata.
   * The caller's onHeader and onTrailer get what arrived.
   */
  async #answerOne(method: Method<DescMessage, DescMessage>, options: CallOptions, call: (options: CallOptions) => Promise<Message>): Promise<CallResponse> {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const { onHeader, onTrailer } = options;
    const reply = await call({
      ...options,
      onHeader: (received) => onHeader?.((header = received)),
      onTrailer: (received) => onTrailer?.((trailer = received)),
    });
    return { stream: false, method, header: header ?? new Headers(), trailer: trailer ?? new Headers(), message: reply };
  }

  /**
   * The innermost link of a call answered by a stream: resolves once the first answer arrived,
   * with its response headers and the stream; rejects when the call failed before any answer.
   * (A bidi call's requests go out meanwhile.)
   */
  #answerMany(method: Method<DescMessage, DescMessage>, options: CallOptions, call: (options: CallOptions) => AsyncGenerator<Message, void, undefined>): Promise<CallResponse> {
    return new Promise((resolve, reject) => {
      const trailer = new Headers();
      const { onHeader, onTrailer } = options;
      const replies = call({
        ...options,
        onHeader: (header) => {
          onHeader?.(header);
          resolve({ stream: true, method, header, trailer, message: rest() });
        },
        onTrailer: (received) => {
          // A retry's answers replace those of the attempt before it.
          replaceHeaders(trailer, received);
          onTrailer?.(received);
        },
      });
      // Reading the first reply starts the call; its header resolves the response.
      const first = replies.next();
      first.catch(reject);
      async function* rest(): AsyncGenerator<Message, void, undefined> {
        try {
          const head = await first;
          if (head.done) return;
          yield head.value;
          yield* replies;
        } finally {
          await replies.return(undefined);
        }
      }
    });
  }

  /** What aborts a call: its own signal, its parent's, and this client's close(). */
  #signalOf(options: CallOptions): AbortSignal {
    const closed = this.#closed.signal;
    const { parent, signal } = options;
    const watched = parent ? (signal ? [signal, parent.signal, closed] : [parent.signal, closed]) : signal ? [signal, closed] : undefined;
    return watched ? AbortSignal.any(watched) : closed;
  }

  /** Runs attempts on channels of the transport until one succeeds, the error is final, or time is up. */
  async #attempts<O extends DescMessage>(
    method: Method<DescMessage, O>,
    callOptions: CallOptions,
    mayRetry: () => boolean,
    run: (attempt: Attempt<O>) => Promise<void>,
  ): Promise<void> {
    const closed = this.#closed.signal;
    const given = withDefaults(callOptions, this.#transport.defaults);
    const { parent } = given;
    const options = { ...given, signal: this.#signalOf(given) };
    const { deadline, startBy } = inherit(limitsOf(method, options.timeoutMs), parent?.deadline);
    const headers = options.headers === undefined ? undefined : encodeHeaders(method, options.headers);
    const { onHeader, onTrailer } = options;
    const tried: Channel[] = [];
    for (let retry = 0; ; retry++) {
      try {
        const offered = this.#transport.channel(method.parent.typeName, { avoid: tried, deadline: deadline ?? startBy, signal: options.signal });
        const channel = offered instanceof Promise ? await offered : offered;
        tried.push(channel);
        await run(new Attempt(method, channel, { deadline, startBy, attemptTimeoutMs: options.attemptTimeoutMs, signal: options.signal }, { headers, onHeader, onTrailer }));
        return;
      } catch (error) {
        if (closed.aborted) throw new RpcError("CANCELLED", `${methodPath(method)}: the client was closed`, { cause: error });
        const rpcError = RpcError.from(error);
        const left = (deadline ?? startBy ?? Number.POSITIVE_INFINITY) - Date.now();
        const retries = options.retries ?? 0;
        if (rpcError.code !== "UNAVAILABLE" || left <= 0 || !mayRetry()) throw rpcError;
        if (retry >= retries) {
          if (retries === 0) throw rpcError;
          throw new RpcError("UNAVAILABLE", `${methodPath(method)}: ${rpcError.message} (gave up after ${retries + 1} attempts)`, { cause: rpcError });
        }
        const pause = (options.retryDelayMs ?? RETRY_DELAY_MS) * 2 ** retry;
        await within(new Promise((resolve) => setTimeout(resolve, Math.min(pause, left))), { signal: options.signal }, {
          expired: () => rpcError,
          cancelled: (reason) =>
            new RpcError("CANCELLED", `${methodPath(method)}: ${closed.aborted ? "the client was closed" : "the call was cancelled by its AbortSignal"} between attempts`, { cause: reason }),
        });
      }
    }
  }
}

/** A call's options over its transport's defaults; an option given as `undefined` keeps the default. */
function withDefaults(options: CallOptions, defaults: CallOptions | undefined): CallOptions {
  if (!defaults) return options;
  const merged: CallOptions = { ...defaults };
  for (const [key, value] of Object.entries(options) as [keyof CallOptions, never][]) if (value !== undefined) merged[key] = value;
  return merged;
}

/**
 * When a call gives up: its `deadline`, or, for a stream without `timeoutMs`, the time by which
 * it must have started (`startBy`): a stream may then run for as long as it goes.
 */
function limitsOf(method: DescMethod, timeoutMs: number | undefined): { deadline?: number; startBy?: number } {
  if (timeoutMs === undefined) {
    const by = Date.now() + DEFAULT_TIMEOUT_MS;
    return method.methodKind === "unary" ? { deadline: by } : { startBy: by };
  }
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new RpcError("INVALID_ARGUMENT", `${methodPath(method)}: timeoutMs must be a number of ms, 0 or more (Infinity: no deadline), got ${String(timeoutMs)}`);
  }
  return timeoutMs === Number.POSITIVE_INFINITY ? {} : { deadline: Date.now() + timeoutMs };
}

/** A call's limits within its parent's deadline: the earlier one; a stream with a parent runs no longer than it. */
function inherit(limits: { deadline?: number; startBy?: number }, parentDeadline: number | undefined): { deadline?: number; startBy?: number } {
  if (parentDeadline === undefined) return limits;
  const deadline = limits.deadline === undefined ? parentDeadline : Math.min(limits.deadline, parentDeadline);
  return limits.startBy === undefined || limits.startBy >= deadline ? { deadline } : { deadline, startBy: limits.startBy };
}

/** The time limits of one attempt; see {@link limitsOf}. */
interface AttemptLimits {
  deadline: number | undefined;
  startBy: number | undefined;
  attemptTimeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

/** The metadata of a call: its request headers, encoded, and who reads the response's. */
interface AttemptMetadata {
  headers: Uint8Array | undefined;
  onHeader: CallOptions["onHeader"];
  onTrailer: CallOptions["onTrailer"];
}

/** One attempt of a call on one channel, watching its deadline and abort signal. */
class Attempt<O extends DescMessage> {
  /** True once a reply message arrived. */
  delivered = false;
  #id: number | undefined;
  #settle: ((error: RpcError | undefined) => void) | undefined;
  #answered = false;

  constructor(
    readonly method: Method<DescMessage, O>,
    readonly channel: Channel,
    readonly limits: AttemptLimits,
    readonly metadata: AttemptMetadata,
  ) {}

  /**
   * Sends the request, and `writer`'s requests after it for a client or bidi stream; `onMessage`
   * gets each reply message, and its size in bytes; settles when the call ends.
   */
  run(payload: Uint8Array, onMessage: (message: MessageShape<O>, bytes: number) => void, writer?: RequestWriter): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { signal, deadline, startBy, attemptTimeoutMs } = this.limits;
      let cancelDeadline: (() => void) | undefined;
      // Until the first reply: the attempt's own limit (no reply: try another) and a stream's start.
      let untilFirst: (() => void) | undefined;
      const onAbort = signal && (() => this.cancel(aborted(this.#path, signal.reason)));
      const credit = writer && new Credit();
      this.#settle = (error) => {
        this.#settle = undefined;
        credit?.end();
        cancelDeadline?.();
        untilFirst?.();
        if (onAbort) signal.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve();
      };
      if (signal?.aborted) return onAbort!();
      if (deadline !== undefined && deadline <= Date.now()) {
        return this.#settle(new RpcError("DEADLINE_EXCEEDED", `${this.#path}: the deadline passed before the call was sent`));
      }
      if (onAbort) signal.addEventListener("abort", onAbort, { once: true });
      const attemptEnd = attemptTimeoutMs === undefined ? undefined : Date.now() + attemptTimeoutMs;
      const first = earliest(attemptEnd, startBy);
      if (first !== undefined && (deadline === undefined || first < deadline)) {
        untilFirst = timerAt(first, () =>
          this.cancel(
            first === attemptEnd
              ? new RpcError("UNAVAILABLE", `no reply within ${attemptTimeoutMs} ms from ${this.channel.endpoint}`)
              : new RpcError("DEADLINE_EXCEEDED", `${this.#path}: the stream did not start within ${DEFAULT_TIMEOUT_MS} ms at ${this.channel.endpoint} (pass timeoutMs, Infinity for none)`),
          ),
        );
      }
      // A unary call's first reply is its end: the earlier timer is the only one that can fire.
      if (deadline !== undefined && (untilFirst === undefined || this.method.methodKind !== "unary")) {
        cancelDeadline = timerAt(deadline, () => this.cancel(this.#deadlineExceeded()));
      }
      const sink: CallSink = {
        item: (bytes) => {
          let message: MessageShape<O>;
          try {
            message = fromBinary(this.method.output, bytes);
          } catch (error) {
            this.cancel(new RpcError("DATA_LOSS", `${this.#path}: the reply is not a ${this.method.output.typeName}: ${(error as Error).message}`));
            return;
          }
          untilFirst?.();
          untilFirst = undefined;
          this.delivered = true;
          onMessage(message, bytes.length);
        },
        end: (error) => this.#settle?.(error),
      };
      if (credit) {
        sink.sent = () => credit.grant(INITIAL_REQUEST_WINDOW);
        // The server's first grant tells that it reads the stream: it has started.
        sink.credit = (items) => {
          untilFirst?.();
          untilFirst = undefined;
          credit.grant(items);
        };
      }
      const { headers, onHeader, onTrailer } = this.metadata;
      if (onHeader || onTrailer) {
        sink.received = (response) => {
          if (!this.#answered) onHeader?.(fromWire(response.headers));
          this.#answered = true;
          if (!response.more) onTrailer?.(fromWire(response.trailers));
        };
      }
      this.#id = this.channel.start(this.method, payload, deadline, sink, headers);
      if (writer && credit) void this.#write(writer, credit, this.#id);
    });
  }

  /** Lets the server send `items` more replies of a stream. */
  grant(items: number): void {
    if (this.#settle && this.#id !== undefined) this.channel.grant(this.#id, items);
  }

  /** Sends the requests of a client or bidi stream as credit comes, then the half-close; stops when the call ends. */
  async #write(writer: RequestWriter, credit: Credit, id: number): Promise<void> {
    try {
      while (await credit.take()) {
        const payload = await writer.next();
        if (!this.#settle) return;
        if (payload === undefined) return this.channel.halfClose(id);
        this.channel.sendItem(id, payload);
      }
    } catch (error) {
      this.cancel(
        error instanceof RpcError ? error : new RpcError("CANCELLED", `${this.#path}: the requests stopped with an error: ${(error as Error).message}`, { cause: error }),
      );
    }
  }

  get #path(): string {
    return methodPath(this.method);
  }

  #deadlineExceeded(): RpcError {
    if (this.#id !== undefined && this.channel.isWaiting(this.#id)) {
      return new RpcError(
        "DEADLINE_EXCEEDED",
        `${this.#path}: the deadline passed while the call waited for a free place among the calls in flight to ${this.channel.endpoint} (maxInFlight); it was never sent`,
      );
    }
    const why = this.channel.neverConnected;
    return new RpcError("DEADLINE_EXCEEDED", `${this.#path}: no reply from ${this.channel.endpoint} within the deadline${why ? `; ${why}` : ""}`);
  }

  /** Gives up: the server is told, the attempt fails with `error`. */
  cancel(error: RpcError): void {
    if (!this.#settle) return;
    if (this.#id !== undefined) this.channel.cancel(this.#id, error);
    this.#settle(error);
  }
}

/** The requests of a client or bidi stream, read from the caller's iterable one at a time, across the attempts of a call. */
class RequestWriter {
  /** True once a request was read: the call can no longer be retried. */
  started = false;
  #iterator: AsyncIterator<unknown> | undefined;
  #done = false;

  constructor(
    readonly method: DescMethod,
    readonly requests: AsyncIterable<unknown>,
  ) {}

  /** The next request, encoded; undefined after the last. Throws INVALID_ARGUMENT for a request of the wrong shape. */
  async next(): Promise<Uint8Array | undefined> {
    this.#iterator ??= this.requests[Symbol.asyncIterator]();
    this.started = true;
    const next = await this.#iterator.next();
    if (next.done) {
      this.#done = true;
      return undefined;
    }
    return encodeRequest(this.method, next.value as never);
  }

  /** The call ended: the caller's iterable, if unfinished, is closed (its generator's `finally` runs). */
  close(): void {
    if (this.#done || !this.#iterator) return;
    this.#done = true;
    this.#iterator.return?.().catch((error: unknown) => debug("rpc: closing the requests of %s threw: %s", methodPath(this.method), error));
  }
}

/** The error of a call whose signal aborted: a parent call's passed deadline stays DEADLINE_EXCEEDED, anything else is CANCELLED. */
function aborted(path: string, reason: unknown): RpcError {
  if (reason instanceof RpcError && reason.code === "DEADLINE_EXCEEDED") {
    return new RpcError("DEADLINE_EXCEEDED", `${path}: the deadline it inherited from its parent call passed`, { cause: reason });
  }
  return new RpcError("CANCELLED", `${path}: the call was cancelled by its AbortSignal${reason instanceof RpcError ? ` (its parent call: ${reason.message})` : ""}`, { cause: reason });
}

/** A stream's requests as messages, made as they are read: what a client's interceptors see of a client or bidi stream. */
async function* requestsOf<I extends DescMessage>(method: DescMethod & { input: I }, requests: AsyncIterable<MessageInitShape<I>>): AsyncGenerator<Message, void, undefined> {
  for await (const request of requests) yield createRequest(method, request);
}

/** How errors name a method's kind. */
function kindOf(method: DescMethod): string {
  return method.methodKind.replace("_", "-");
}

function headersOf(method: DescMethod, init: CallOptions["headers"]): Headers {
  try {
    return new Headers(init);
  } catch (error) {
    throw new RpcError("INVALID_ARGUMENT", `${methodPath(method)}: the headers are not valid HTTP-style headers: ${(error as Error).message}`, { cause: error });
  }
}

function encodeHeaders(method: DescMethod, init: NonNullable<CallOptions["headers"]>): Uint8Array {
  return requestHeaderFields(toWire(headersOf(method, init)));
}

/** The request message of an init shape (a message is itself), or INVALID_ARGUMENT saying what is wrong. */
function createRequest<I extends DescMessage>(method: DescMethod & { input: I }, request: MessageInitShape<I>): MessageShape<I> {
  return asInvalidRequest(method, () => create(method.input, request));
}

function encodeRequest<I extends DescMessage>(method: DescMethod & { input: I }, request: MessageInitShape<I>): Uint8Array {
  return asInvalidRequest(method, () => toBinary(method.input, create(method.input, request)));
}

function asInvalidRequest<T>(method: DescMethod, make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw new RpcError("INVALID_ARGUMENT", `${methodPath(method)}: the request is not a ${method.input.typeName}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
