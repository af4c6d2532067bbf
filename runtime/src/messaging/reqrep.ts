import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import type { RecvOptions } from "../connection/receiver.js";
import * as reqrep from "../connection/reqrep.js";
import * as routing from "../connection/routing.js";
import { EnvelopeCodec } from "../envelope/codec.js";
import type { MessageOf, SchemaOf, Types } from "../envelope/types.js";
import { DividereError } from "../errors.js";
import { type MessagingOptions, ReceivingSocket, requestRoute, singleFrame } from "./socket.js";

/** Options of a {@link Request}. */
export interface RequestOptions<T extends Types> extends MessagingOptions<T> {
  /** The identity a Router sees for this socket. */
  routingId?: string;
  /**
   * Allow a new request before the last reply came; the late reply to an abandoned request is
   * discarded (ZMQ_REQ_RELAXED with ZMQ_REQ_CORRELATE). Use it to retry after a `recv` timeout.
   */
  relaxed?: boolean;
}

/**
 * Sends a request and receives its reply, strictly alternating, as Python dividere's
 * `messaging.Request`. Connects to one or several Responses (requests go round-robin).
 *
 * ```ts
 * await using req = new messaging.Request("tcp://localhost:5555", { types: [testMsg01Schema] });
 * await req.send(testMsg01Schema, { field1: "hello" });
 * const reply = await req.recv({ timeoutMs: 1000 });
 * ```
 */
export class Request<const T extends Types> extends ReceivingSocket<T, MessageOf<T>> {
  declare protected readonly connection: reqrep.Request;

  constructor(endpoint: Endpoint, options: RequestOptions<T>) {
    const relaxed = options.relaxed ?? false;
    super(new EnvelopeCodec(options.types), new reqrep.Request(endpoint, { ...options, relaxed, correlate: relaxed }), options);
  }

  /** Sends a request; its schema is found from `$typeName` among `types`. Rejects with `WRONG_STATE` while a reply is outstanding. */
  send(message: MessageOf<T>): Promise<void>;
  /** Sends a request built from `init`. */
  send<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>): Promise<void>;
  send(first: MessageOf<T> | DescMessage, init?: unknown): Promise<void> {
    return this.sendMessage([], first, init);
  }

  /** The reply to the last request; rejects with `WRONG_STATE` when no request is outstanding. */
  override recv(options?: RecvOptions): Promise<MessageOf<T>> {
    return this.connection.awaitingReply ? super.recv(options) : Promise.reject(reqrep.alternation.replyWithoutRequest(this.name));
  }

  /** True once the reply is ready for `recv()`; rejects with `WRONG_STATE` when no request is outstanding. */
  override wait(timeoutMs?: number): Promise<boolean> {
    return this.connection.awaitingReply ? super.wait(timeoutMs) : Promise.reject(reqrep.alternation.replyWithoutRequest(this.name));
  }

  protected accept(frames: Buffer[]): MessageOf<T> {
    return this.decode(singleFrame(frames));
  }

  /** A reply that does not decode is the answer to this request: the caller gets the error. */
  protected override rejected(error: DividereError): void {
    super.rejected(error);
    throw error;
  }
}

/**
 * Receives a request and sends its reply, strictly alternating, as Python dividere's
 * `messaging.Response`. Input that is not a valid request is dropped and counted (the
 * requester then times out) and the socket goes on serving others.
 *
 * ```ts
 * await using rep = new messaging.Response("tcp://*:5555", { types: [testMsg01Schema] });
 * for await (const request of rep) await rep.send(testMsg01Schema, { field1: [...request.field1].reverse().join("") });
 * ```
 */
export class Response<const T extends Types> extends ReceivingSocket<T, MessageOf<T>> {
  declare protected readonly connection: routing.Router;
  /** Routes of accepted requests not yet handed to the caller, in arrival order. */
  readonly #arrived: Buffer[][] = [];
  /** The route of the request being answered; undefined when none is. */
  #replyTo: Buffer[] | undefined;
  #receiving = false;

  // A Router underneath (emulating REP) lets invalid requests be dropped without owing a reply.
  constructor(endpoint: Endpoint, options: MessagingOptions<T>) {
    super(new EnvelopeCodec(options.types), new routing.Router(endpoint, { ...options, name: options.name ?? repName(endpoint) }), options);
  }

  /** The next request; rejects with `WRONG_STATE` while the last one is unanswered. */
  override recv(options?: RecvOptions): Promise<MessageOf<T>> {
    if (this.#replyTo || this.#receiving) return Promise.reject(reqrep.alternation.requestBeforeAnswer(this.name));
    this.#receiving = true;
    return super.recv(options).then(
      (request) => {
        this.#receiving = false;
        this.#replyTo = this.#arrived.shift();
        return request;
      },
      (error: unknown) => {
        this.#receiving = false;
        throw error;
      },
    );
  }

  /** True between receiving a request and sending (or abandoning) its reply. */
  get pendingReply(): boolean {
    return this.#replyTo !== undefined;
  }

  /**
   * Gives up answering the request just received, so the next `recv()` may follow: the
   * requester gets no reply and times out. (A ZeroMQ REP socket cannot do this; this one can.)
   */
  abandon(): void {
    this.#replyTo = undefined;
  }

  /** Answers the last request received; its schema is found from `$typeName` among `types`. */
  send(message: MessageOf<T>): Promise<void>;
  /** Answers the last request received with a message built from `init`. */
  send<S extends SchemaOf<T>>(schema: S, init: MessageInitShape<S>): Promise<void>;
  send(first: MessageOf<T> | DescMessage, init?: unknown): Promise<void> {
    const route = this.#replyTo;
    if (!route) return Promise.reject(reqrep.alternation.answerWithoutRequest(this.name));
    this.#replyTo = undefined;
    return this.sendMessage(route, first, init);
  }

  protected accept(frames: Buffer[]): MessageOf<T> {
    const route = requestRoute(frames);
    const message = this.decode(frames[frames.length - 1]!);
    this.#arrived.push(route);
    return message;
  }
}

function repName(endpoint: Endpoint): string {
  return `rep ${typeof endpoint === "string" ? endpoint : JSON.stringify(endpoint)}`;
}
