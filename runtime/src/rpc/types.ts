import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { HeadersInit } from "./metadata.js";

/**
 * The deadline of a call that sets none, nor its transport (`defaults`): 30 s. A unary call
 * ends by then; a stream must start by then (its first message, or its end), and may then run
 * as long as it goes, as a subscription-like stream (`follow`) should.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** What every call takes beside its request. */
export interface CallOptions {
  /**
   * Give up after this many ms with `DEADLINE_EXCEEDED`; the server is told and its handler's
   * signal aborts. The deadline bounds everything the call waits for: finding a server (a
   * registry lookup), connecting to it, its turn among the calls in flight, the answer.
   * `Infinity`: no deadline. Default {@link DEFAULT_TIMEOUT_MS} (30 s; for a stream, the time
   * it may take to start), or the transport's `defaults.timeoutMs`.
   */
  timeoutMs?: number;
  /** Abort the call with `CANCELLED`; the server is told and its handler's signal aborts. */
  signal?: AbortSignal;
  /**
   * Further attempts when an attempt fails with `UNAVAILABLE` (no server, the connection to it
   * lost with the call in flight, or no reply within `attemptTimeoutMs`), on another instance
   * where there is one. Only for calls that are safe to repeat (idempotent). Default 0.
   */
  retries?: number;
  /**
   * Give an attempt up when no reply came within this many ms (for a stream: its first reply)
   * and count it `UNAVAILABLE`, so that `retries` make a new one (the Lazy Pirate pattern). A
   * late reply to an abandoned attempt is ignored: each attempt has its own request id.
   * Default: no limit but `timeoutMs`.
   */
  attemptTimeoutMs?: number;
  /** The pause before the first retry, doubling after each; default 25 ms. */
  retryDelayMs?: number;
  /**
   * Request headers: what the handler reads as `ctx.requestHeader` (auth tokens, tenant ids,
   * trace context). A name ending in `-bin` holds bytes, base64 (`encodeBinaryHeader`).
   * A server takes up to its `maxHeaderBytes` (default 8 KiB) of names and values.
   */
  headers?: HeadersInit;
  /** Called with the response headers when the server's first answer arrives (for a stream, before its first message). */
  onHeader?: (headers: Headers) => void;
  /** Called with the response trailers when the server's last answer arrives, before the call resolves or rejects (also when it failed). */
  onTrailer?: (trailers: Headers) => void;
  /**
   * The context of the handler making this call (`{ parent: ctx }`, as grpc-js has it): the call
   * takes the earlier of its own deadline and the parent's, and is cancelled when the parent
   * is (its caller cancels, its deadline passes, its server stops).
   */
  parent?: Pick<CallContext, "deadline" | "signal">;
}

/** What a service implementation's methods get beside the request. */
export interface CallContext {
  /** The method called: "/package.Service/Method". */
  readonly method: string;
  /** When the caller gives up (ms since the epoch), if it set a deadline. */
  readonly deadline: number | undefined;
  /** Aborts when the caller cancels, the deadline passes, or the server stops. */
  readonly signal: AbortSignal;
  /** Who called, as the caller says (its "host/pid") or its connection identity: for logs, not for trust. */
  readonly peer: string;
  /**
   * The caller's CURVE public key (Z85), as this server verified it: for deciding what a caller
   * may do. Undefined: the caller is not authenticated (the server is no CURVE server, or the
   * client has no key pair of its own, or the call came through a broker). See docs/security.md.
   */
  readonly callerKey: string | undefined;
  /** The caller's request headers (its `CallOptions.headers`). */
  readonly requestHeader: Headers;
  /**
   * Headers to answer with, sent with the first answer: set them before a unary method
   * returns, before a stream's first message. Later changes are not sent.
   */
  readonly responseHeader: Headers;
  /** Trailers to answer with, sent with the last answer, also when the method throws. */
  readonly responseTrailer: Headers;
}

/** A unary method: a request in, a reply (or its init shape) out. */
export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => MessageInitShape<O> | Promise<MessageInitShape<O>>;

/** A server-streaming method: a request in, any number of replies out. */
export type ServerStreamImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => AsyncIterable<MessageInitShape<O>>;

/**
 * A client-streaming method: any number of requests in, read as they arrive (the caller sends
 * them as fast as the handler reads: see docs/services.md, "Streams and flow control"), a reply
 * out. The requests end when the caller half-closes; reading them throws the reason when the
 * call is given up (cancelled, its deadline passed).
 */
export type ClientStreamImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: CallContext,
) => Promise<MessageInitShape<O>>;

/** A bidi-streaming method: requests in as a client stream's, replies out as a server stream's, both at once. */
export type BidiStreamImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: CallContext,
) => AsyncIterable<MessageInitShape<O>>;

/** The kinds of rpc the runtime carries: all four of gRPC's. */
export type CarriedMethodKind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/** A method of a protoc-gen-es service descriptor (`GenService`), of one kind, with its messages. */
export type MethodOfKind<K extends DescMethod["methodKind"], I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  DescMethod & { readonly methodKind: K; readonly input: I; readonly output: O };

/**
 * Whether `method` is of `kind`. protobuf-es's `DescMethod` is no union on `methodKind`, so a
 * method known only at run time (the CLI's) needs this to be passed where a kind is asked for.
 */
export function isMethodOfKind<K extends DescMethod["methodKind"]>(method: DescMethod, kind: K): method is MethodOfKind<K> {
  return method.methodKind === kind;
}

/** A method as the type of a protoc-gen-es service descriptor declares it: its kind, input and output. */
export type MethodSignature = GenServiceMethods[string];

/** The implementation of one method of a service descriptor: its kind decides its shape. */
export type MethodImpl<M extends MethodSignature> =
  M extends { methodKind: "unary" } ? UnaryImpl<M["input"], M["output"]>
  : M extends { methodKind: "server_streaming" } ? ServerStreamImpl<M["input"], M["output"]>
  : M extends { methodKind: "client_streaming" } ? ClientStreamImpl<M["input"], M["output"]>
  : M extends { methodKind: "bidi_streaming" } ? BidiStreamImpl<M["input"], M["output"]>
  : never;

/**
 * The implementation of a service, derived from its protoc-gen-es descriptor (a `GenService`):
 * one method per rpc the runtime carries, named by the rpc's `localName`, typed by its kind,
 * input and output, and documented by its proto comments. `ServiceImpl<typeof History>` is what
 * generated code names `HistoryService`. A descriptor known only at run time (a plain
 * `DescService`) types nothing: the runtime checks that the methods it finds are functions.
 */
export type ServiceImpl<S extends DescService> =
  S extends GenService<infer Methods>
    ? string extends keyof Methods
      ? object // a plain DescService matches with methods of any name and kind: nothing to type
      : { [K in keyof Methods as Methods[K]["methodKind"] extends CarriedMethodKind ? K : never]: MethodImpl<Methods[K]> }
    : object;

/** The "/package.Service/Method" path of a method, as it travels in requests. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
