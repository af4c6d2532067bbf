import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
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
 * A service as the runtime hosts it: the protoc-gen-es descriptor, typed with the interface its
 * implementations have. Generated code exports one per service (`HistoryDefinition`).
 */
export interface ServiceDefinition<Impl = unknown> {
  /** The protoc-gen-es service descriptor: the service's full name and its methods. */
  readonly service: DescService;
  /** Only carries the implementation's type. */
  readonly $impl?: Impl;
}

/** Binds a service descriptor to the interface of its implementations; generated code calls it. */
export function defineService<Impl>(service: DescService): ServiceDefinition<Impl> {
  return { service };
}

/** The "/package.Service/Method" path of a method, as it travels in requests. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
