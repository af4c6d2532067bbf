/**
 * `@dividere/runtime`: typed, distributed messaging over ZeroMQ, wire-compatible with
 * Python dividere.
 *
 * - `connection`: byte-level ZeroMQ sockets (frames in, frames out).
 * - `envelope`: the wire format (envelope codec, topics, type registry).
 * - `messaging`: protobuf-typed sockets built on both.
 * - `Reactor`: one event loop handing each received message to the handler of its type;
 *   `WorkerReactor`: the same on several threads.
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
export type { Endpoint } from "./connection/endpoint.js";
export {
  Reactor,
  WorkerReactor,
  createDispatch,
  defineWorker,
  mergeDispatch,
  type Dispatch,
  type Handler,
  type MessageContext,
  type ReactorOptions,
  type ReactorSocket,
  type ReactorStats,
  type WorkerContext,
  type WorkerDefinition,
  type WorkerReactorOptions,
  type WorkerReactorStats,
  type WorkerSocketKind,
  type WorkerSocketSpec,
} from "./reactors/index.js";
