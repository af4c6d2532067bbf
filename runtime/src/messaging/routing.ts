import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import type { RoutingOptions } from "../connection/options.js";
import * as routing from "../connection/routing.js";
import { EnvelopeCodec } from "../envelope/codec.js";
import type { MessageOf, SchemaOf, Types } from "../envelope/types.js";
import { type MessagingOptions, ReceivingSocket, type Route, type Routed, requestRoute, splitRoute } from "./socket.js";

/** Options of a {@link Dealer}: the messaging options, and the `routingId` a Router sees for it. */
export interface DealerOptions<T extends Types> extends MessagingOptions<T>, Pick<RoutingOptions, "routingId"> {}

/**
 * Options of a {@link Router}: the messaging options, plus `routingId`, `mandatory` and
 * `handover` as the byte-level {@link routing.RouterOptions} has them.
 */
export interface RouterOptions<T extends Types> extends MessagingOptions<T>, Pick<routing.RouterOptions, "routingId" | "mandatory" | "handover"> {
  /**
   * Take only requests as REQ sockets frame them (routing frames, an empty delimiter, one
   * envelope), and drop anything else as `NOT_AN_ENVELOPE`, as a {@link Response} does: a
   * Router that answers REQ clients several at a time. Default false.
   */
  requestsOnly?: boolean;
}

/**
 * Sends and receives protobuf messages without request/reply alternation, as Python
 * dividere's `messaging.Dealer`. A received message comes with the routing frames in
 * front of it (empty when nothing routed it); a send may put routing frames in front.
 *
 * ```ts
 * await using dealer = new messaging.Dealer("tcp://localhost:5555", { types: [JobSchema, DoneSchema] });
 * await dealer.send(JobSchema, { id: 1 });
 * const { message } = await dealer.recv();
 * ```
 */
export class Dealer<const T extends Types> extends ReceivingSocket<T, Routed<MessageOf<T>>> {
  constructor(endpoint: Endpoint, options: DealerOptions<T>) {
    super(new EnvelopeCodec(options.types), new routing.Dealer(endpoint, options), options);
  }

  /** Sends a message; its schema is found from `$typeName` among `types`. */
  send(message: MessageOf<T>): Promise<void>;
  /** Sends a message built from `init`. */
  send<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>): Promise<void>;
  /** Sends a message behind routing frames (e.g. the route of a message received earlier). */
  send(route: Route, message: MessageOf<T>): Promise<void>;
  /** Sends a message built from `init` behind routing frames. */
  send<S extends SchemaOf<T>>(route: Route, schema: S, init: MessageInitShape<S>): Promise<void>;
  send(...args: [Route | MessageOf<T> | DescMessage, ...unknown[]]): Promise<void> {
    const [route, first, init] = Array.isArray(args[0]) ? args : [[], ...args];
    return this.sendMessage(route as Route, first as MessageOf<T> | DescMessage, init);
  }

  protected accept(frames: Buffer[]): Routed<MessageOf<T>> {
    const { route, envelope } = splitRoute(frames);
    return { route, message: this.decode(envelope) };
  }
}

/**
 * The routing end for protobuf messages: every received message comes with the route
 * (the sender's identity first) to send replies to.
 *
 * ```ts
 * await using router = new messaging.Router("tcp://*:5555", { types: [JobSchema, DoneSchema] });
 * for await (const { route, message } of router) await router.send(route, DoneSchema, { id: message.id });
 * ```
 */
export class Router<const T extends Types> extends ReceivingSocket<T, Routed<MessageOf<T>>> {
  readonly #requestsOnly: boolean;

  constructor(endpoint: Endpoint, options: RouterOptions<T>) {
    super(new EnvelopeCodec(options.types), new routing.Router(endpoint, options), options);
    this.#requestsOnly = options.requestsOnly ?? false;
  }

  /** Sends a message to the peer `route` starts with. */
  send(route: Route, message: MessageOf<T>): Promise<void>;
  /** Sends a message built from `init` to the peer `route` starts with. */
  send<S extends SchemaOf<T>>(route: Route, schema: S, init: MessageInitShape<S>): Promise<void>;
  send(route: Route, first: MessageOf<T> | DescMessage, init?: unknown): Promise<void> {
    return this.sendMessage(route, first, init);
  }

  protected accept(frames: Buffer[]): Routed<MessageOf<T>> {
    if (this.#requestsOnly) requestRoute(frames);
    const { route, envelope } = splitRoute(frames);
    return { route, message: this.decode(envelope) };
  }
}
