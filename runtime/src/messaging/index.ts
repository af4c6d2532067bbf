/**
 * Protobuf-typed sockets, the successors of Python dividere's `messaging` module: every
 * message travels in its envelope, and `recv()` yields decoded messages typed by `types`.
 * @module
 */
export {
  Publisher,
  Subscriber,
  type PublisherOptions,
  type SubscriberOptions,
  type TypeRef,
  type TypedPublisherOptions,
  type TypedSubscriberOptions,
} from "./pubsub.js";
export { Request, Response, type RequestOptions } from "./reqrep.js";
export { Pull, Push } from "./pipeline.js";
export { Dealer, Router, type DealerOptions, type RouterOptions } from "./routing.js";
export {
  DEFAULT_MAX_ENVELOPE_SIZE,
  MessagingSocket,
  ReceivingSocket,
  type DropReason,
  type MessagingOptions,
  type MessagingStats,
  type Route,
  type Routed,
} from "./socket.js";
