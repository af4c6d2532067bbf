import * as zmq from "zeromq";
import type { Endpoint } from "./endpoint.js";
import { type RoutingOptions, openSocket } from "./options.js";
import { DuplexSocket } from "./socket.js";

/**
 * An asynchronous request/reply socket without the strict alternation: send many, receive
 * many. Received messages carry any routing frames a Router put in front of them.
 */
export class Dealer extends DuplexSocket {
  constructor(endpoint: Endpoint, options: RoutingOptions = {}) {
    super("dealer", openSocket(zmq.Dealer, "dealer", options), endpoint, options);
  }
}

/** Options of a {@link Router}. */
export interface RouterOptions extends RoutingOptions {
  /** Fail sends to an unknown or disconnected identity with `UNROUTABLE` instead of dropping them (ZMQ_ROUTER_MANDATORY). */
  mandatory?: boolean;
  /** Let a new connection take over an identity already in use (ZMQ_ROUTER_HANDOVER). */
  handover?: boolean;
}

/**
 * The routing end: every received message starts with the sender's identity frame, and
 * every sent message starts with the identity of the peer it goes to. With `mandatory`,
 * a send to an unknown identity rejects with `UNROUTABLE` (and, unless `sendTimeout` says
 * otherwise, a send to a peer whose queue is full rejects with `TIMEOUT` at once).
 *
 * ```ts
 * const [identity, ...rest] = await router.recv();
 * await router.send([identity, ...reply]);
 * ```
 */
export class Router extends DuplexSocket {
  constructor(endpoint: Endpoint, options: RouterOptions = {}) {
    // A mandatory Router with no writable peer never becomes writable, so zeromq.js would wait
    // for ever; failing at once is what "mandatory" asks for.
    const sendTimeout = options.sendTimeout ?? (options.mandatory ? 0 : undefined);
    super(
      "router",
      openSocket(zmq.Router, "router", { ...options, sendTimeout }, { mandatory: options.mandatory, handover: options.handover }),
      endpoint,
      options,
    );
  }
}
