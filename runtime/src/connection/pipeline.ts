import * as zmq from "zeromq";
import type { Endpoint } from "./endpoint.js";
import { type SocketOptions, openSocket } from "./options.js";
import { DuplexSocket, ReadableSocket, WritableSocket } from "./socket.js";

/** The distributing end of a pipeline: messages go round-robin to connected Pulls; blocks at the high-water mark. */
export class Push extends WritableSocket {
  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("push", openSocket(zmq.Push, "push", options), endpoint, options);
  }
}

/** The collecting end of a pipeline: receives fairly from every connected Push. */
export class Pull extends ReadableSocket {
  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("pull", openSocket(zmq.Pull, "pull", options), endpoint, options);
  }
}

/** One of two exclusively connected peers; both send and receive freely. */
export class Pair extends DuplexSocket {
  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("pair", openSocket(zmq.Pair, "pair", options), endpoint, options);
  }
}
