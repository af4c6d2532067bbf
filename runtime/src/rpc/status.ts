import { type DescMessage, type MessageInitShape, type MessageShape, create } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { DividereError, type RpcCode } from "../errors.js";
import { StatusCode } from "../gen/dividere/v1/rpc_pb.js";

/** A detail to send with an error: a message and its schema, as connect-es's `ConnectError` takes them. */
export interface ErrorDetail<Desc extends DescMessage = DescMessage> {
  /** The detail message's schema (protoc-gen-es's `FooSchema`). */
  readonly desc: Desc;
  /** The detail message, or its init shape. */
  readonly value: MessageInitShape<Desc>;
}

/** What an {@link RpcError} takes beside its code and message. */
export interface RpcErrorOptions {
  /** What caused it, as `Error`'s `cause`. */
  cause?: unknown;
  /** Typed detail messages, as google.rpc.Status's `details`: given as {@link ErrorDetail}s, or as `Any`s (as they arrive). */
  details?: readonly (ErrorDetail | Any)[];
}

const NO_DETAILS: readonly Any[] = [];

/**
 * The error a call ends with, on every transport: `code` is one of the gRPC-style
 * {@link RpcCode}s, `details` typed messages the server attached. A service implementation
 * throws one to answer with that code and details; anything else it throws reaches the caller
 * as `INTERNAL`. It is a {@link DividereError}: code that catches those catches these too.
 *
 * ```ts
 * throw new RpcError("NOT_FOUND", `no room ${request.room}`, { details: [{ desc: RoomInfoSchema, value: { room } }] });
 * // at the caller:
 * if (error instanceof RpcError) for (const info of error.findDetails(RoomInfoSchema)) console.log(info.room);
 * ```
 */
export class RpcError extends DividereError {
  /** Always `"RpcError"`; `instanceof DividereError` holds too. */
  override readonly name = "RpcError";
  /** The status the call ended with; see {@link RpcCode}. */
  declare readonly code: RpcCode;
  /** The detail messages, packed as they travel; read them typed with {@link findDetails}. */
  readonly details: readonly Any[];

  constructor(code: RpcCode, message: string, options: RpcErrorOptions = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details?.length ? options.details.map(packDetail) : NO_DETAILS;
  }

  /** The details that are `desc` messages, decoded; details of other types are skipped. */
  findDetails<Desc extends DescMessage>(desc: Desc): MessageShape<Desc>[] {
    const found: MessageShape<Desc>[] = [];
    for (const detail of this.details) {
      const message = anyUnpack(detail, desc);
      if (message) found.push(message);
    }
    return found;
  }

  /** The error to answer a call with, for whatever a handler threw. */
  static from(error: unknown): RpcError {
    if (error instanceof RpcError) return error;
    if (error instanceof DividereError && isRpcCode(error.code)) return new RpcError(error.code, error.message, { cause: error });
    const message = error instanceof Error ? error.message : String(error);
    return new RpcError("INTERNAL", message, { cause: error });
  }
}

function packDetail(detail: ErrorDetail | Any): Any {
  if ("desc" in detail) return anyPack(detail.desc, create(detail.desc, detail.value));
  return detail;
}

/** True for the codes a call can end with (every {@link RpcCode}). */
export function isRpcCode(code: string): code is RpcCode {
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
