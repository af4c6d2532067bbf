import { DividereError, type RpcCode } from "../errors.js";
import { StatusCode } from "../gen/dividere/v1/rpc_pb.js";

/**
 * The error a call ends with: `code` is one of the gRPC-style {@link RpcCode}s. A service
 * implementation throws one to answer with that code; anything else it throws reaches the
 * caller as `INTERNAL`.
 *
 * ```ts
 * throw new RpcError("NOT_FOUND", `no room ${request.room}`);
 * ```
 */
export class RpcError extends DividereError {
  /** The status the call ended with; see {@link RpcCode}. */
  declare readonly code: RpcCode;

  constructor(code: RpcCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  /** The error to answer a call with, for whatever a handler threw. */
  static from(error: unknown): RpcError {
    if (error instanceof RpcError) return error;
    if (error instanceof DividereError && isRpcCode(error.code)) return new RpcError(error.code, error.message, { cause: error });
    const message = error instanceof Error ? error.message : String(error);
    return new RpcError("INTERNAL", message, { cause: error });
  }
}

function isRpcCode(code: string): code is RpcCode {
  return code in StatusCode && code !== "OK";
}

/** The wire value of a code. */
export function toStatusCode(code: RpcCode): StatusCode {
  return StatusCode[code];
}

/** The code of a wire value (unknown values become UNKNOWN). */
export function fromStatusCode(code: StatusCode): RpcCode | "OK" {
  const name = StatusCode[code] as RpcCode | "OK" | undefined;
  return name ?? "UNKNOWN";
}
