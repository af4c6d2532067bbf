import { type DescMessage, type Message, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import * as bytes from "../connection/lazy-pirate.js";
import { EnvelopeCodec, encodeEnvelope } from "../envelope/codec.js";
import type { MessageOf, SchemaOf, Types } from "../envelope/types.js";

/** Options of a {@link LazyPirateClient}: the message types it speaks, its requests' defaults, the socket options. */
export interface LazyPirateClientOptions<T extends Types> extends bytes.LazyPirateOptions {
  /** The types of requests and replies (schemas, generated files such as `testMsgTypes`, registries). */
  types: T;
}

/**
 * Python dividere's `messaging.LoadBalancingPattern.Client`, the Lazy Pirate client, with typed
 * replies: sends a request to a load-balancing broker (Python's, or a {@link Broker}), waits
 * `timeoutMs` (default 5000) for the reply, sends again up to `retries` times (default 5),
 * then rejects with `TIMEOUT`; an `AbortSignal` rejects it with `CANCELLED`. A reply that is no
 * envelope of `types` rejects with `NOT_AN_ENVELOPE`, `UNKNOWN_TYPE` or `CORRUPT_PAYLOAD`. Each
 * retry goes out on a new connection, so a late reply to a try given up is never taken for the
 * reply of a later request; calls made at once go out in turn.
 *
 * ```ts
 * await using client = new LazyPirateClient("tcp://localhost:5555", { types: testMsgTypes, timeoutMs: 1000 });
 * const reply = await client.request(testMsg01Schema, { field1: "ping" });
 * ```
 */
export class LazyPirateClient<const T extends Types> {
  /** Encodes the requests and decodes the replies. */
  readonly codec: EnvelopeCodec<T>;
  readonly #client: bytes.LazyPirateClient;

  constructor(frontend: Endpoint, options: LazyPirateClientOptions<T>) {
    const { types, ...clientOptions } = options;
    this.codec = new EnvelopeCodec(types);
    this.#client = new bytes.LazyPirateClient(frontend, clientOptions);
  }

  /** Counters: requests answered and failed, and retries. */
  get stats(): bytes.LazyPirateStats {
    return this.#client.stats;
  }

  /** Sends `message` and resolves with the reply. */
  request(message: MessageOf<T>, options?: bytes.LazyPirateRequestOptions): Promise<MessageOf<T>>;
  /** Sends a message built from `init` and resolves with the reply. */
  request<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>, options?: bytes.LazyPirateRequestOptions): Promise<MessageOf<T>>;
  async request(first: Message | DescMessage, ...rest: unknown[]): Promise<MessageOf<T>> {
    const schemaFirst = (first as DescMessage).kind === "message";
    const [schema, message] = this.codec.resolve(first, schemaFirst ? rest[0] : undefined);
    const options = (schemaFirst ? rest[1] : rest[0]) as bytes.LazyPirateRequestOptions | undefined;
    const reply = await this.#client.request(encodeEnvelope(schema, toBinary(schema, message)), options);
    return this.codec.decode(reply);
  }

  /** Closes the connection; a request in flight rejects with `CLOSED`. */
  close(): Promise<void> {
    return this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
