import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import * as pipeline from "../connection/pipeline.js";
import { EnvelopeCodec } from "../envelope/codec.js";
import type { MessageOf, SchemaOf, Types } from "../envelope/types.js";
import { type MessagingOptions, MessagingSocket, ReceivingSocket, singleFrame } from "./socket.js";

/**
 * Hands protobuf messages out round-robin to the connected Pulls: the distributing end of a
 * pipeline (work queues). Blocks at the high-water mark instead of dropping.
 *
 * ```ts
 * await using push = new messaging.Push("tcp://*:5558", { types: [JobSchema] });
 * await push.send(JobSchema, { id: 1 });
 * ```
 */
export class Push<const T extends Types> extends MessagingSocket<T> {
  constructor(endpoint: Endpoint, options: MessagingOptions<T>) {
    super(new EnvelopeCodec(options.types), new pipeline.Push(endpoint, options));
  }

  /** Sends a message; its schema is found from `$typeName` among `types`. */
  send(message: MessageOf<T>): Promise<void>;
  /** Sends a message built from `init`. */
  send<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>): Promise<void>;
  send(first: MessageOf<T> | DescMessage, init?: unknown): Promise<void> {
    return this.sendMessage([], first, init);
  }
}

/**
 * Receives protobuf messages from every connected Push, fairly: the collecting end of a
 * pipeline, or one of several workers sharing a Push's output.
 *
 * ```ts
 * await using pull = new messaging.Pull("tcp://localhost:5558", { types: [JobSchema] });
 * for await (const job of pull) work(job);
 * ```
 */
export class Pull<const T extends Types> extends ReceivingSocket<T, MessageOf<T>> {
  constructor(endpoint: Endpoint, options: MessagingOptions<T>) {
    super(new EnvelopeCodec(options.types), new pipeline.Pull(endpoint, options), options);
  }

  protected accept(frames: Buffer[]): MessageOf<T> {
    return this.decode(singleFrame(frames));
  }
}
