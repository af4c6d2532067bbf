/**
 * Call metadata: request headers, response headers and trailers, as the standard `Headers`
 * class holds them (as connect-es does), and as they travel (`Header` entries of RpcRequest
 * and RpcResponse). A name ending in `-bin` carries bytes, base64 in `Headers` (gRPC's
 * convention; {@link encodeBinaryHeader}, {@link decodeBinaryHeader}) and raw on the wire.
 */
import { create } from "@bufbuild/protobuf";
import { type Header, HeaderSchema } from "../gen/dividere/v1/rpc_pb.js";
import { RpcError } from "./status.js";

/**
 * The default bound of a call's metadata at a server, 8 KiB, as gRPC's: the names and values of
 * the request headers it takes, and of the response headers and trailers it sends.
 */
export const DEFAULT_MAX_HEADER_BYTES = 8192;

/** Options of whatever runs handlers (RpcServer, Worker, serve): bounds on a call's metadata. */
export interface MetadataLimits {
  /**
   * The most bytes of names and values a call's request headers may take, and its response
   * headers and trailers together; default {@link DEFAULT_MAX_HEADER_BYTES} (8 KiB). A call over
   * it fails with `RESOURCE_EXHAUSTED`.
   */
  maxHeaderBytes?: number;
}

/** What `new Headers()` takes: a `Headers`, a record, or name/value pairs. */
export type HeadersInit = ConstructorParameters<typeof Headers>[0];

const NO_ENTRIES: readonly Header[] = [];

/** A binary value (for a `-bin` header) as `Headers` holds it: base64. */
export function encodeBinaryHeader(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
}

/** The bytes of a `-bin` header's value, as {@link encodeBinaryHeader} wrote them. */
export function decodeBinaryHeader(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, "base64"));
}

const isBinary = (name: string) => name.endsWith("-bin");

/**
 * The wire entries of `headers`. A text value goes as its bytes: a `Headers` value is a byte
 * string (each character one byte, as in HTTP), so Latin-1 is exact.
 */
export function toWire(headers: Headers | undefined): readonly Header[] {
  if (!headers) return NO_ENTRIES;
  const entries: Header[] = [];
  for (const [name, value] of headers) {
    const bytes = isBinary(name) ? decodeBinaryHeader(value) : new Uint8Array(Buffer.from(value, "latin1"));
    entries.push(create(HeaderSchema, { name, value: bytes }));
  }
  return entries;
}

/** `Headers` of wire entries. A peer may send names `Headers` does not take: those are dropped, the call goes on. */
export function fromWire(entries: readonly Header[]): Headers {
  const headers = new Headers();
  for (const { name, value } of entries) {
    try {
      headers.append(name, isBinary(name.toLowerCase()) ? encodeBinaryHeader(value) : Buffer.from(value).toString("latin1"));
    } catch {
      // A name or value that is no HTTP token or byte string cannot be read as a header.
    }
  }
  return headers;
}

/** The bytes of names and values of wire entries, as the bound counts them. */
export function metadataSize(...lists: readonly (readonly Header[])[]): number {
  let size = 0;
  for (const entries of lists) for (const { name, value } of entries) size += Buffer.byteLength(name) + value.length;
  return size;
}

/** The error for metadata over the bound: what, how big, the bound, and how to raise it. */
export function tooLarge(what: string, size: number, max: number): RpcError {
  return new RpcError(
    "RESOURCE_EXHAUSTED",
    `${what} take ${size} bytes of names and values, more than the ${max} the server allows (maxHeaderBytes, default ${DEFAULT_MAX_HEADER_BYTES}): ` +
      "send less metadata (large data belongs in the message), or raise maxHeaderBytes in the options of the server (RpcServer, serve, Worker)",
  );
}

/** Checks a maxHeaderBytes option; returns it or the default. */
export function maxHeaderBytesOf(limits: MetadataLimits): number {
  const { maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES } = limits;
  if (!(Number.isInteger(maxHeaderBytes) && maxHeaderBytes >= 0)) {
    throw new RpcError("INVALID_ARGUMENT", `maxHeaderBytes must be a whole number of bytes, 0 or more, got ${maxHeaderBytes}`);
  }
  return maxHeaderBytes;
}
