import * as zmq from "zeromq";
import type { Endpoint } from "./endpoint.js";
import { type SocketOptions, nativeOptions } from "./options.js";
import { DuplexSocket, ReadableSocket, WritableSocket } from "./socket.js";

/** The distributing end of a pipeline: messages go round-robin to connected Pulls; blocks at the high-water mark. */
export class Push extends WritableSocket {
  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("push", new zmq.Push(nativeOptions(options)), endpoint, options);
  }
}

/** The collecting end of a pipeline: receives fairly from every connected Push. */
export class Pull extends ReadableSocket {
  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("pull", new zmq.Pull(nativeOptions(options)), endpoint, options);
  }
}

/** One of two exclusively connected peers; both send and receive freely. */
export class Pair extends DuplexSocket {
  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    super("pair", new zmq.Pair(nativeOptions(options)), endpoint, options);
  }
}
