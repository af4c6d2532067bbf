/**
 * `@dividere/runtime`: typed, distributed messaging over ZeroMQ, wire-compatible with
 * Python dividere.
 *
 * - `connection`: byte-level ZeroMQ sockets (frames in, frames out).
 * - `envelope`: the wire format (envelope codec, topics, type registry).
 * - `messaging`: protobuf-typed sockets built on both.
 *
 * ```ts
 * import { messaging } from "@dividere/runtime";
 * await using pub = new messaging.Publisher("tcp://*:5555", { types: [SaidSchema] });
 * ```
 * @module
 */
export * as connection from "./connection/index.js";
export * as envelope from "./envelope/index.js";
export * as messaging from "./messaging/index.js";
export * as MsgLib from "./gen/dividere/MsgLib_pb.js";
export { DividereError, type ErrorCode } from "./errors.js";
