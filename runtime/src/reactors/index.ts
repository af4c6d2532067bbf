/**
 * Reactors, the successors of Python dividere's `MtMsgReactor` and `MpMsgReactor`: event loops
 * that hand each received message to the handler of its type.
 * @module
 */
export { ReceivedContext, type MessageContext, type ReactorSocket } from "./context.js";
export { createDispatch, mergeDispatch, type Dispatch, type Handler } from "./dispatch.js";
export { Reactor, type ReactorOptions, type ReactorStats } from "./reactor.js";
export { defineWorker, type WorkerContext, type WorkerDefinition } from "./worker-definition.js";
export type { WorkerSocketKind, WorkerSocketSpec } from "./worker-protocol.js";
export { WorkerReactor, type WorkerReactorOptions, type WorkerReactorStats } from "./worker-reactor.js";
