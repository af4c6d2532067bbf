import { debug } from "../log.js";
import type { Frame } from "./socket.js";

/** Python dividere's `LoadBalancingPattern.Broker.HeartbeatRate`: a server not heard from for this long gets a heartbeat. */
export const PATTERN_HEARTBEAT_MS = 3000;
/** A server not heard from for this long (Python: its 3 s entry plus twice the rate) is dropped. */
export const PATTERN_EXPIRY_MS = 3 * PATTERN_HEARTBEAT_MS;
/** How often the queue looks for servers to heartbeat or drop: finer than Python's poll of up to 3 s. */
const CHECK_MS = 250;
/**
 * A server handed a request and silent this long is asked for a heartbeat: a Python server
 * answers it once done with its request, so one that ignored its request (or lost it) is free
 * again within a second rather than at the 3 s heartbeat.
 */
const TAKEN_PROBE_MS = 1000;

/** What a {@link ServerQueue} counts, named as the broker that holds it counts it. */
export type ServerQueueEvent = "dispatched" | "refused" | "lost";

/** What a {@link ServerQueue} needs from the broker that holds it. */
export interface ServerQueueHost {
  /** Sends `frames` to the server of `identity` on the backend. */
  toServer(identity: Buffer, frames: readonly Frame[]): void;
  /** The heartbeat a server of this pattern answers: `02` at the byte level, a `Heartbeat` envelope above. */
  heartbeat(identity: Buffer): Frame;
  /** Requests at most waiting for a free server; more are refused. */
  maxQueued: number;
  count(event: ServerQueueEvent): void;
  /** Called when the last waiting request went to a server and no server is taken any more. */
  settled(): void;
}

interface ServerState {
  readonly identity: Buffer;
  heardAt: number;
  /** When the broker last sent it something it answers: a request, a heartbeat. */
  askedAt: number;
  /** Handed a request and not heard from since: out of the queue, as Python's broker takes it out. */
  taken: boolean;
  /** The request it was handed, while taken. */
  request: Waiting | undefined;
}

interface Waiting {
  readonly client: string;
  /** `[clientId, ...frames]` as the frontend received them. */
  readonly frames: readonly Buffer[];
}

/**
 * The server side of Python dividere's `LoadBalancingPattern` broker, at either level: servers
 * that said anything lately, in the order they became free; each request goes to the one free
 * longest, which leaves the queue until it says anything again (a reply, a heartbeat). Python's
 * broker fails on a request while no server is free; here it waits, up to `maxQueued`. Servers
 * are heartbeated after {@link PATTERN_HEARTBEAT_MS} of silence, taken ones after 1 s, and
 * dropped after {@link PATTERN_EXPIRY_MS}.
 */
export class ServerQueue {
  readonly #host: ServerQueueHost;
  readonly #servers = new Map<string, ServerState>();
  /** Free servers; a Map keeps insertion order, so the first is the one free longest. */
  readonly #free = new Map<string, ServerState>();
  readonly #waiting: Waiting[] = [];
  readonly #timer: NodeJS.Timeout;
  /** Set once the broker stops: new requests are refused; those waiting still go to servers. */
  #draining = false;
  #closed = false;

  constructor(host: ServerQueueHost) {
    this.#host = host;
    this.#timer = setInterval(() => this.#check(), CHECK_MS);
  }

  /** True when `identity` is a server of this pattern the queue knows. */
  has(identity: Buffer): boolean {
    return this.#servers.has(identity.toString("latin1"));
  }

  /** Servers known, and how many of them are free. */
  get servers(): { known: number; free: number } {
    return { known: this.#servers.size, free: this.#free.size };
  }

  /** Requests waiting for a free server. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * Requests a server may still answer: on a server not heard from since, or waiting while
   * servers are connected (with none, nobody will take those that wait).
   */
  get pending(): number {
    let taken = 0;
    for (const server of this.#servers.values()) if (server.taken) taken++;
    return (this.#servers.size > 0 ? this.#waiting.length : 0) + taken;
  }

  /** A server said something (it registered, answered, heartbeated): it is alive and free. */
  heard(identity: Buffer): void {
    const key = identity.toString("latin1");
    const now = Date.now();
    let server = this.#servers.get(key);
    if (!server) {
      server = { identity, heardAt: now, askedAt: now, taken: false, request: undefined };
      this.#servers.set(key, server);
      debug("load-balancing pattern: server %s joined", printable(identity));
    }
    server.heardAt = now;
    server.taken = false;
    server.request = undefined;
    this.#free.delete(key);
    this.#free.set(key, server);
    this.#dispatch();
  }

  /**
   * A request from a client, `[clientId, ...frames]`: to the free server, else it waits. A
   * request equal to one of the same client's that still waits, or is on a server not heard
   * from since, is its resend (a Lazy Pirate client's, after its timeout, on the same socket):
   * passed on once, it is answered once, and a late answer to the first is not taken for the
   * answer to the next request. (A client that sends the very same request twice at once gets
   * one answer.)
   */
  request(frames: readonly Buffer[]): void {
    const client = frames[0]!.toString("latin1");
    if (this.#draining) {
      this.#refuse("the broker is stopping");
      return;
    }
    if (this.#resent(client, frames)) return;
    if (this.#waiting.length >= this.#host.maxQueued) {
      this.#refuse(`${this.#host.maxQueued} requests wait for a free server (maxQueued)`);
      return;
    }
    this.#waiting.push({ client, frames });
    this.#dispatch();
  }

  /** The broker stops: new requests are refused from now on; those waiting still go to servers that free up. */
  drain(): void {
    this.#draining = true;
  }

  /** Stops: no more heartbeats, waiting requests are dropped (refused). */
  close(): void {
    this.#draining = true;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const _ of this.#waiting.splice(0)) this.#host.count("refused");
  }

  #dispatch(): void {
    while (this.#waiting.length > 0 && this.#free.size > 0 && !this.#closed) {
      const [key, server] = this.#free.entries().next().value!;
      this.#free.delete(key);
      const request = this.#waiting.shift()!;
      server.taken = true;
      server.request = request;
      server.askedAt = Date.now();
      this.#host.count("dispatched");
      this.#host.toServer(server.identity, request.frames);
    }
    if (this.pending === 0) this.#host.settled();
  }

  #check(): void {
    const now = Date.now();
    for (const [key, server] of this.#servers) {
      if (now - server.heardAt > PATTERN_EXPIRY_MS) {
        this.#servers.delete(key);
        this.#free.delete(key);
        this.#host.count("lost");
        debug("load-balancing pattern: dropped server %s, silent for %d ms", printable(server.identity), now - server.heardAt);
      } else if (this.#due(server, now)) {
        server.askedAt = now;
        this.#host.toServer(server.identity, [this.#host.heartbeat(server.identity)]);
      }
    }
    if (this.pending === 0) this.#host.settled();
  }

  #resent(client: string, frames: readonly Buffer[]): boolean {
    const same = (request: Waiting | undefined) => request?.client === client && sameFrames(request.frames, frames);
    if (this.#waiting.some(same)) return true;
    for (const server of this.#servers.values()) if (same(server.request)) return true;
    return false;
  }

  /** Whether `server` gets a heartbeat now: silent for the heartbeat rate, or for a second since it was handed a request. */
  #due(server: ServerState, now: number): boolean {
    const every = server.taken ? TAKEN_PROBE_MS : PATTERN_HEARTBEAT_MS;
    return now - server.heardAt >= every && now - server.askedAt >= every;
  }

  #refuse(why: string): void {
    this.#host.count("refused");
    debug("load-balancing pattern: refused a request: %s", why);
  }
}

function sameFrames(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((frame, i) => frame.equals(b[i]!));
}

/** An identity for logs: Python's are uuid strings, ZeroMQ's five bytes from 0x00. */
export function printable(identity: Buffer): string {
  return identity[0] === 0 ? identity.toString("hex") : identity.toString("latin1");
}
