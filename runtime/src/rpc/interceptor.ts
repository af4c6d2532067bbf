/**
 * Interceptors: code around every call, written once for all methods and kinds of rpc (logging,
 * metrics, auth, caching), in connect-es's shape `(next) => async (req) => res`. A client's run
 * between the caller and the wire, a server's between the wire and the handler. The first in a
 * list is the outermost: it sees the request first and the response last.
 * @module
 */
import { type DescMessage, type DescMethod, type Message, type MessageInitShape, create } from "@bufbuild/protobuf";
import { RpcError } from "./status.js";
import type { CallContext } from "./types.js";

/** One message: the request of a unary or server-streaming call, the response of a unary or client-streaming one. */
export interface OneMessage {
  /** False: `message` is one message. */
  readonly stream: false;
  /** The message. */
  readonly message: Message;
}

/** A stream of messages: the requests of a client-streaming or bidi call, the responses of a server-streaming or bidi one. */
export interface MessageStream {
  /** True: `message` is a stream of messages, read as they come. */
  readonly stream: true;
  /**
   * The messages: an interceptor that wants to see or change them passes on (or returns) an
   * iterable of its own that reads this one. A stream of requests is read as the server grants
   * credit, so such a wrapper is paused as the caller's own `for await` is.
   */
  readonly message: AsyncIterable<Message>;
}

/** What both sides' requests have. */
export interface RequestCommon {
  /** The method called: its descriptor (`History.method.recent`), with its kind, input and output. */
  readonly method: DescMethod;
  /** The method's "/package.Service/Method" path, as it travels. */
  readonly path: string;
  /**
   * The request headers. A client's interceptor may set them (an auth token, trace context)
   * before it calls `next`; a server's sees what the caller sent (`ctx.requestHeader`, the
   * same object: what a server's interceptor sets there, the handler reads).
   */
  readonly header: Headers;
  /** Aborts when the call is given up: cancelled, its deadline passed, the client closed or the server stopping. */
  readonly signal: AbortSignal;
}

/** A call as a client's interceptor sees it. */
export type CallRequest = RequestCommon & {
  /** The call's `timeoutMs`, as given or from the transport's defaults; undefined: the default. */
  readonly timeoutMs: number | undefined;
} & (OneMessage | MessageStream);

/** A call as a server's interceptor sees it: the handler's context beside it (`ctx.peer`, `ctx.callerKey`, `ctx.deadline`). */
export type ServerCallRequest = RequestCommon & { readonly ctx: CallContext } & (OneMessage | MessageStream);

/**
 * The answer of a call. At a client: the response headers as they arrived (for a stream, it is
 * returned when the first answer arrives), and the trailers, filled in once the last answer
 * arrived (for a stream, once it has been read to its end). At a server: the handler's
 * `ctx.responseHeader` and `ctx.responseTrailer`, sent with the first and the last answer.
 */
export type CallResponse = {
  /** The method called. */
  readonly method: DescMethod;
  /** The response headers. */
  readonly header: Headers;
  /** The response trailers. */
  readonly trailer: Headers;
} & (OneMessage | MessageStream);

/** The rest of a client's chain: the next interceptor, and at the end the call over the transport. */
export type CallFn = (req: CallRequest) => Promise<CallResponse>;

/** The rest of a server's chain: the next interceptor, and at the end the handler. */
export type ServerCallFn = (req: ServerCallRequest) => Promise<CallResponse>;

/**
 * A client's interceptor. It may change the request (`next({ ...req, message })`, headers in
 * place), the response, and the error (an {@link RpcError} it throws reaches the caller; any
 * other error arrives as `INTERNAL`), or answer without calling `next` at all (a cache).
 *
 * ```ts
 * const logger: Interceptor = (next) => async (req) => {
 *   console.log("calling", req.path);
 *   return await next(req);
 * };
 * ```
 */
export type Interceptor = (next: CallFn) => CallFn;

/**
 * A server's interceptor: the same shape as a client's, with the handler's context on the
 * request. It may refuse a call by throwing an {@link RpcError} before `next` (the handler then
 * never runs), change the request and the response, and translate errors.
 *
 * ```ts
 * const authenticate: ServerInterceptor = (next) => async (req) => {
 *   if (req.header.get("authorization") !== "Bearer s3cret") throw new RpcError("UNAUTHENTICATED", "a valid bearer token is needed");
 *   return await next(req);
 * };
 * ```
 */
export type ServerInterceptor = (next: ServerCallFn) => ServerCallFn;

/** Options of a client or a transport: the interceptors around each of its calls. */
export interface ClientInterceptorOptions {
  /** Run around every call, the first outermost. A client's run outside its transport's. */
  interceptors?: readonly Interceptor[];
}

/** Options of whatever runs handlers (RpcServer, serve, Worker): the interceptors around each call. */
export interface ServerInterceptorOptions {
  /** Run around every call's handler, the first outermost. */
  interceptors?: readonly ServerInterceptor[];
}

/** `call` wrapped in `interceptors`, the first outermost. */
export function applyInterceptors<Fn>(call: Fn, interceptors: readonly ((next: Fn) => Fn)[]): Fn {
  return interceptors.reduceRight((next, interceptor) => interceptor(next), call);
}

/** What a server's chain ends in: the handler of the method, as the dispatcher calls it. */
export type Handler = (message: Message | AsyncIterable<Message>, ctx: CallContext) => unknown;

/**
 * Runs `handler` through a server's interceptors, and gives back what the handler itself would:
 * a promise of the reply for a unary method, the stream of replies for a streaming one. The
 * response headers and trailers an interceptor answers with become the call's.
 */
export function intercepted(
  interceptors: readonly ServerInterceptor[],
  method: DescMethod,
  message: Message | AsyncIterable<Message>,
  ctx: CallContext,
  handler: Handler,
): Promise<Message> | AsyncIterable<Message> {
  const streams = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
  const requestStreams = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
  const handle: ServerCallFn = async (req) => {
    const output = handler(req.message, req.ctx);
    const common = { method, header: ctx.responseHeader, trailer: ctx.responseTrailer };
    return streams
      ? { ...common, stream: true, message: messagesOf(method.output, output as AsyncIterable<MessageInitShape<DescMessage>>) }
      : { ...common, stream: false, message: create(method.output, (await output) as MessageInitShape<DescMessage>) };
  };
  const req = {
    stream: requestStreams,
    method,
    path: ctx.method,
    header: ctx.requestHeader,
    message,
    ctx,
    // The context makes its signal only when asked for: most calls never ask.
    get signal() {
      return ctx.signal;
    },
  } as ServerCallRequest; // stream and message agree: requestStreams says which the method takes
  const response = applyInterceptors(handle, interceptors)(req).then((res) => {
    if (res.stream !== streams) throw new RpcError("INTERNAL", `${ctx.method}: an interceptor answered with ${res.stream ? "a stream" : "one message"}`);
    replaceHeaders(ctx.responseHeader, res.header);
    return res;
  });
  if (!streams) return response.then((res) => (replaceHeaders(ctx.responseTrailer, res.trailer), res.message as Message));
  return (async function* () {
    const res = await response;
    yield* res.message as AsyncIterable<Message>;
    replaceHeaders(ctx.responseTrailer, res.trailer);
  })();
}

async function* messagesOf(schema: DescMessage, outputs: AsyncIterable<MessageInitShape<DescMessage>>): AsyncGenerator<Message, void, undefined> {
  for await (const output of outputs) yield create(schema, output);
}

/** Makes `own` hold what `answered` holds (headers an interceptor answered with in place of the call's own). */
export function replaceHeaders(own: Headers, answered: Headers): void {
  if (answered === own) return;
  for (const name of [...own.keys()]) own.delete(name);
  for (const [name, value] of answered) own.append(name, value);
}
