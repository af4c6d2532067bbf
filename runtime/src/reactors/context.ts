import type { DescMessage, Message, MessageInitShape } from "@bufbuild/protobuf";
import type { Types } from "../envelope/types.js";
import { DividereError } from "../errors.js";
import { Dealer, Router } from "../messaging/routing.js";
import { Response } from "../messaging/reqrep.js";
import type { Pull } from "../messaging/pipeline.js";
import type { Subscriber } from "../messaging/pubsub.js";

/** The sockets a Reactor watches, whatever their message types. */
export type ReactorSocket = Subscriber<Types> | Response<Types> | Router<Types> | Dealer<Types> | Pull<Types>;

/** What a handler gets beside the message: where it came from, and a way to answer. */
export interface MessageContext {
  /** The socket the message arrived on. */
  readonly socket: ReactorSocket;
  /** The routing frames in front of the message (Router, Dealer); empty otherwise. */
  readonly route: readonly Buffer[];
  /** Aborts when the reactor closes; pass it on to long work. */
  readonly signal: AbortSignal;
  /**
   * Answers on the socket the message came on: the reply of a Response, a message back along
   * the route on a Router or Dealer. Rejects with `WRONG_STATE` on a Subscriber or Pull.
   */
  reply(message: Message): Promise<void>;
  reply<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Promise<void>;
}

/** The context of one received message. */
export class ReceivedContext implements MessageContext {
  constructor(
    readonly socket: ReactorSocket,
    readonly route: readonly Buffer[],
    readonly signal: AbortSignal,
  ) {}

  reply(message: Message): Promise<void>;
  reply<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Promise<void>;
  reply(first: Message | DescMessage, init?: unknown): Promise<void> {
    const socket = this.socket;
    type Sends = { send(...args: unknown[]): Promise<void> };
    if (socket instanceof Response) return (socket as Response<Types> & Sends).send(first, init);
    if (socket instanceof Router || socket instanceof Dealer) return (socket as Sends).send(this.route, first, init);
    return Promise.reject(
      new DividereError(
        "WRONG_STATE",
        `${socket.name}: a ${socket.constructor.name} cannot reply; answer on a Response, Router or Dealer, or publish on a Publisher`,
      ),
    );
  }
}
