import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import type { Endpoint } from "./endpoint.js";
import { type RoutingOptions, type SocketOptions, openSocket } from "./options.js";
import type { RecvOptions } from "./receiver.js";
import { DuplexSocket, type Frames } from "./socket.js";

/** Options of a {@link Request}. */
export interface RequestOptions extends RoutingOptions {
  /**
   * Allow a new request before the reply to the last one came (ZMQ_REQ_RELAXED); pair it with
   * `correlate` so a late reply to an abandoned request is discarded (ZMQ_REQ_CORRELATE).
   */
  relaxed?: boolean;
  /** Tag requests so only the reply to the newest one is delivered (ZMQ_REQ_CORRELATE). */
  correlate?: boolean;
}

/**
 * The asking end of request/reply: `send()` then `recv()`, strictly alternating. Connects to
 * one or several Responses (requests go round-robin).
 *
 * ```ts
 * await using req = new connection.Request("tcp://localhost:5555");
 * await req.send("ping");
 * const [reply] = await req.recv({ timeoutMs: 1000 });
 * ```
 */
export class Request extends DuplexSocket {
  #awaitingReply = false;
  readonly #relaxed: boolean;

  constructor(endpoint: Endpoint, options: RequestOptions = {}) {
    super(
      "req",
      openSocket(zmq.Request, "req", options, { relaxed: options.relaxed, correlate: options.correlate }),
      endpoint,
      options,
    );
    this.#relaxed = options.relaxed ?? false;
  }

  /** True between a request and the arrival of its reply. */
  get awaitingReply(): boolean {
    return this.#awaitingReply;
  }

  /** Sends a request; rejects with `WRONG_STATE` while the last reply is outstanding (unless `relaxed`). */
  override send(frames: Frames): Promise<void> {
    // zeromq.js would wait for ever here (the socket never becomes writable), so check first.
    if (this.#awaitingReply && !this.#relaxed) return Promise.reject(alternation.requestBeforeReply(this.name));
    this.#awaitingReply = true;
    return super.send(frames).catch((error: unknown) => {
      this.#awaitingReply = false;
      throw error;
    });
  }

  /** The reply to the last request; rejects with `WRONG_STATE` when no request is outstanding. */
  override recv(options?: RecvOptions): Promise<Buffer[]> {
    return this.#awaitingReply ? super.recv(options) : Promise.reject(alternation.replyWithoutRequest(this.name));
  }

  override wait(timeoutMs?: number): Promise<boolean> {
    return this.#awaitingReply ? super.wait(timeoutMs) : Promise.reject(alternation.replyWithoutRequest(this.name));
  }

  protected override receiveOnce(): Promise<Buffer[]> {
    return super.receiveOnce().then((frames) => {
      this.#awaitingReply = false;
      return frames;
    });
  }
}

/**
 * The answering end of request/reply: `recv()` a request, then `send()` its reply.
 * `tcp://*:N` binds (the usual server); a connect endpoint attaches it to a Dealer, as
 * behind a {@link Proxy}.
 */
export class Response extends DuplexSocket {
  #replying = false;

  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("rep", openSocket(zmq.Reply, "rep", options), endpoint, options);
  }

  /** Sends the reply to the request just received; rejects with `WRONG_STATE` when there is none. */
  override send(frames: Frames): Promise<void> {
    // zeromq.js would wait for ever here (the socket never becomes writable), so check first.
    if (!this.#replying) return Promise.reject(alternation.answerWithoutRequest(this.name));
    this.#replying = false;
    return super.send(frames);
  }

  /** The next request; rejects with `WRONG_STATE` while the last one is unanswered. */
  override recv(options?: RecvOptions): Promise<Buffer[]> {
    return this.#replying ? Promise.reject(alternation.requestBeforeAnswer(this.name)) : super.recv(options);
  }

  protected override receiveOnce(): Promise<Buffer[]> {
    return super.receiveOnce().then((frames) => {
      this.#replying = true;
      return frames;
    });
  }
}

/** The `WRONG_STATE` errors of request/reply alternation, shared by the byte and messaging layers. */
export const alternation = {
  requestBeforeReply: (name: string) =>
    new DividereError(
      "WRONG_STATE",
      `${name}: send() while the reply to the previous request has not been received. A Request alternates ` +
        `send() and recv(): receive the reply first, create it with relaxed: true to give up on a reply, ` +
        `or use a Dealer for overlapping requests.`,
    ),
  replyWithoutRequest: (name: string) =>
    new DividereError("WRONG_STATE", `${name}: recv() without a request: a Request sends first, then receives the reply.`),
  answerWithoutRequest: (name: string) =>
    new DividereError("WRONG_STATE", `${name}: send() without a request to answer: a Response receives first, then replies once.`),
  requestBeforeAnswer: (name: string) =>
    new DividereError("WRONG_STATE", `${name}: recv() before the last request was answered (or while another recv() is pending): a Response alternates recv() and send().`),
};
