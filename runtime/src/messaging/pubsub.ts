import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import * as connection from "../connection/pubsub.js";
import type { WhenFull } from "../connection/pubsub.js";
import { EnvelopeCodec } from "../envelope/codec.js";
import type { MessageOf, SchemaOf, Types } from "../envelope/types.js";
import { type MessagingOptions, MessagingSocket, ReceivingSocket, singleFrame } from "./socket.js";

/** A message type given by schema or by full name. */
export type TypeRef<T extends Types> = SchemaOf<T> | string;

/** Options of a {@link Publisher}. */
export interface PublisherOptions<T extends Types> extends MessagingOptions<T> {
  /**
   * What a send does when a subscriber the message is for has a full queue: `"drop"` (default)
   * sends it to nobody, resolves at once and counts it in `stats.unsent`; `"block"` waits for
   * room (up to `sendTimeout`, then `TIMEOUT`). A message reaches every matching subscriber or
   * none. See {@link connection.PublisherOptions.whenFull}.
   */
  whenFull?: WhenFull;
}

/**
 * The options of a publisher whose `types` are fixed already, as a generated `ChatPublisher`'s
 * are: a {@link Publisher}'s options without `types`.
 */
export type TypedPublisherOptions<T extends Types> = Omit<PublisherOptions<T>, "types">;

/**
 * Publishes protobuf messages in envelopes, as Python dividere's `messaging.Publisher`. A
 * message a subscriber cannot take in time is dropped for all and counted in `stats.unsent`
 * (or, with `whenFull: "block"`, waited for); see {@link PublisherOptions.whenFull}.
 *
 * ```ts
 * await using pub = new messaging.Publisher("tcp://*:5555", { types: [SaidSchema, JoinedSchema] });
 * await pub.waitForSubscribers({ type: SaidSchema, timeoutMs: 2000 });
 * await pub.send(create(SaidSchema, { room: "general", text: "hi" }));
 * await pub.send(JoinedSchema, { room: "general", user: "ada" });
 * ```
 */
export class Publisher<const T extends Types> extends MessagingSocket<T> {
  declare protected readonly connection: connection.Publisher;

  constructor(endpoint: Endpoint, options: PublisherOptions<T>) {
    const codec = new EnvelopeCodec(options.types);
    super(codec, new connection.Publisher(endpoint, options));
  }

  /** Publishes a message; its schema is found from `$typeName` among `types`. */
  send(message: MessageOf<T>): Promise<void>;
  /** Publishes a message built from `init`. */
  send<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>): Promise<void>;
  send(first: MessageOf<T> | DescMessage, init?: unknown): Promise<void> {
    return this.sendMessage([], first, init);
  }

  /** How many subscriptions receive messages of `type` (without a type: all subscriptions). */
  subscriberCount(type?: TypeRef<T>): number {
    return this.connection.subscriberCount(type === undefined ? undefined : this.codec.topic(type));
  }

  /**
   * Resolves once `count` (default 1) subscriptions receive messages of `type` (without a
   * type: any subscription); rejects with `TIMEOUT` after `timeoutMs`. The cure for the late
   * joiner: publish after this resolves, and the subscriber gets the message.
   */
  waitForSubscribers(options: { type?: TypeRef<T>; count?: number; timeoutMs?: number } = {}): Promise<void> {
    const { type, ...rest } = options;
    return this.connection.waitForSubscribers({ ...rest, topic: type === undefined ? undefined : this.codec.topic(type) });
  }
}

/** Options of a {@link Subscriber}. */
export interface SubscriberOptions<T extends Types> extends MessagingOptions<T> {
  /** The types to receive, by schema or full name; absent or empty: every message. */
  topics?: readonly NoInfer<TypeRef<T>>[];
  /** Keep only the newest message. */
  conflate?: boolean;
}

/**
 * The options of a subscriber whose `types` are fixed already, as a generated `ChatSubscriber`'s
 * are: a {@link Subscriber}'s options without `types`, and `topics` as schemas or as the full
 * names of those types (the generated topic constants, `SaidTopic`), never another name.
 */
export interface TypedSubscriberOptions<T extends Types> extends Omit<SubscriberOptions<T>, "types" | "topics"> {
  /** The types to receive, by schema (`SaidSchema`) or topic (`SaidTopic`); absent or empty: every type. */
  topics?: readonly NoInfer<SchemaOf<T> | MessageOf<T>["$typeName"]>[];
}

/**
 * Receives protobuf messages by type, as Python dividere's `messaging.Subscriber`. A type
 * subscription matches exactly that type, never another whose name starts the same way.
 *
 * ```ts
 * await using sub = new messaging.Subscriber("tcp://localhost:5555", { types: [SaidSchema, JoinedSchema], topics: [SaidSchema] });
 * for await (const msg of sub) console.log(msg.text); // msg: Said | Joined
 * ```
 */
export class Subscriber<const T extends Types> extends ReceivingSocket<T, MessageOf<T>> {
  declare protected readonly connection: connection.Subscriber;

  constructor(endpoint: Endpoint, options: SubscriberOptions<T>) {
    const codec = new EnvelopeCodec(options.types);
    const topics = (options.topics ?? []).map((type) => codec.topic(type));
    super(codec, new connection.Subscriber(endpoint, { ...options, topics }), options);
  }

  /** Starts receiving messages of these types. */
  subscribe(...types: TypeRef<T>[]): void {
    this.connection.subscribe(...types.map((type) => this.codec.topic(type)));
  }

  /** Stops receiving messages of these types (what an earlier `subscribe` asked for). */
  unsubscribe(...types: TypeRef<T>[]): void {
    this.connection.unsubscribe(...types.map((type) => this.codec.topic(type)));
  }

  protected accept(frames: Buffer[]): MessageOf<T> {
    return this.decode(singleFrame(frames));
  }
}

