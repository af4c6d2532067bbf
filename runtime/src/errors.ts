/**
 * What went wrong, as a stable string a program can switch on.
 *
 * - `CLOSED`: the socket was closed (before or during the call).
 * - `TIMEOUT`: nothing arrived, or nothing could be sent, within the time allowed.
 * - `CANCELLED`: the caller's `AbortSignal` fired.
 * - `INVALID_ARGUMENT`: a bad endpoint, option or message type was passed in.
 * - `BIND_FAILED`: an endpoint could not be bound (in use, bad interface, no permission).
 * - `WRONG_STATE`: a Request/Response socket was used out of its send/receive alternation.
 * - `UNROUTABLE`: a Router could not deliver to the given identity.
 * - `NOT_AN_ENVELOPE`: received bytes are not a dividere envelope (garbage, truncated, wrong frame count).
 * - `UNKNOWN_TYPE`: an envelope names a message type that is not among the socket's types.
 * - `CORRUPT_PAYLOAD`: the envelope is fine but the message inside does not parse as its type.
 * - `OVERSIZED`: a received message is larger than the socket's `maxEnvelopeSize`.
 * - `HANDLER_FAILED`: a reactor's handler (or its `idle` hook) threw; `cause` holds what it threw.
 * - `UNHANDLED`: a reactor received a message no handler takes, or a handler left a request unanswered.
 * - The status codes of RPC calls, as gRPC has them: `DEADLINE_EXCEEDED`, `UNAVAILABLE`,
 *   `UNIMPLEMENTED`, `INTERNAL`, `NOT_FOUND`, ... (see {@link RpcCode}); `CANCELLED` and
 *   `INVALID_ARGUMENT` serve both.
 * - `ZMQ`: any other error from ZeroMQ; `cause` holds the original.
 */
export type ErrorCode =
  | "CLOSED"
  | "TIMEOUT"
  | "CANCELLED"
  | "INVALID_ARGUMENT"
  | "BIND_FAILED"
  | "WRONG_STATE"
  | "UNROUTABLE"
  | "NOT_AN_ENVELOPE"
  | "UNKNOWN_TYPE"
  | "CORRUPT_PAYLOAD"
  | "OVERSIZED"
  | "HANDLER_FAILED"
  | "UNHANDLED"
  | "ZMQ"
  | RpcCode;

/** The status codes a call can end with besides OK, named as gRPC names them. */
export type RpcCode =
  | "CANCELLED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "UNAUTHENTICATED";

/**
 * The error of dividere: everything it throws or rejects with is one (catch this, and nothing
 * is missed). `code` says what happened; the message says what to do about it. Whatever ends
 * a call (a registry lookup's too) is its subclass `RpcError`, whose code is an {@link RpcCode}
 * and which carries the server's typed details.
 *
 * ```ts
 * try { await sub.recv({ timeoutMs: 500 }); }
 * catch (e) { if (e instanceof DividereError && e.code === "TIMEOUT") retry(); else throw e; }
 * ```
 */
export class DividereError extends Error {
  /** `"DividereError"`, or `"RpcError"` on an `RpcError`. */
  override readonly name: string = "DividereError";

  constructor(
    /** What happened; see {@link ErrorCode}. */
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when `error` is a {@link DividereError}, optionally with the given code. */
  static is(error: unknown, code?: ErrorCode): error is DividereError {
    return error instanceof DividereError && (code === undefined || error.code === code);
  }
}

interface NativeError {
  code?: string;
  message?: string;
}

/**
 * Turns an error thrown by zeromq.js into a {@link DividereError} that names the
 * socket and says what to do. `where` describes the socket, e.g. `dealer tcp://127.0.0.1:5555`.
 */
export function fromNative(error: unknown, where: string, operation: string): DividereError {
  if (error instanceof DividereError) return error;
  const native = (error ?? {}) as NativeError;
  const detail = `${native.message ?? String(error)}${native.code ? ` (${native.code})` : ""}`;
  switch (native.code) {
    case "EFSM":
      return new DividereError(
        "WRONG_STATE",
        `${where}: ${operation} is not allowed now: request/reply sockets alternate send and receive. ` +
          `Receive the pending reply first, or use a Dealer/Router pair for overlapping requests.`,
        { cause: error },
      );
    case "EHOSTUNREACH":
      return new DividereError(
        "UNROUTABLE",
        `${where}: no connected peer has the routing identity this message is addressed to.`,
        { cause: error },
      );
    case "EAGAIN":
      return new DividereError(
        "TIMEOUT",
        `${where}: ${operation} timed out: the peer is not reading or not connected (high-water mark reached).`,
        { cause: error },
      );
    case "EBADF":
    case "ENOTSOCK":
    case "ETERM":
      return new DividereError("CLOSED", `${where}: ${operation} failed: the socket is closed.`, { cause: error });
    default:
      return new DividereError("ZMQ", `${where}: ${operation} failed: ${detail}`, { cause: error });
  }
}
