import type * as zmq from "zeromq";
import { DividereError, fromNative } from "../errors.js";
import { debug } from "../log.js";
import { countOpenSocket, openNative } from "./context.js";
import { type Endpoint, resolveEndpoint } from "./endpoint.js";
import { ConnectionCount, type ConnectionStats, type SocketEvents, monitor } from "./events.js";
import { DEFAULT_LINGER_MS, type SocketOptions } from "./options.js";
import { type Accept, Receiver, type RecvOptions } from "./receiver.js";
import { Sender } from "./sender.js";
import { guardSocket } from "./zap.js";

/** One ZeroMQ frame as a caller may pass it: bytes or a UTF-8 string. */
export type Frame = Uint8Array | string;

/** What a send accepts: one frame, or the frames of one multipart message. */
export type Frames = Frame | readonly Frame[];

/** The zeromq.js socket behind a facade; for the runtime's own layers, not for applications. */
export const native: unique symbol = Symbol("dividere.native");

/** How the runtime's messaging layer takes over a socket's receive path; for the runtime's own layers. */
export const receiveThrough: unique symbol = Symbol("dividere.receiveThrough");

/**
 * Connects anew to the endpoints a socket connects to; for the runtime's own layers. libzmq does
 * not try again by itself after a peer refused the handshake (a ZAP refusal is final to it).
 */
export const reconnect: unique symbol = Symbol("dividere.reconnect");

/** How many messages a socket has handed to ZeroMQ; for the runtime's own layers. */
export const sentCount: unique symbol = Symbol("dividere.sentCount");

/** How many messages a socket's sends dropped for a full queue (a Publisher's `whenFull: "drop"`); for the runtime's own layers. */
export const unsentCount: unique symbol = Symbol("dividere.unsentCount");

/** Native sockets whose monitor could not be made (out of sockets): kept from the garbage collector, whose close would hang ZeroMQ. */
const unclosable = new Set<zmq.Socket>();

/** Where a socket is bound (with the real ports) and where it connects. */
export interface SocketEndpoints {
  /** The bound endpoints as ZeroMQ reports them, with the real ports (`tcp://*:0` becomes `tcp://0.0.0.0:41234`). */
  readonly bound: readonly string[];
  /** The endpoints connected to, as given. */
  readonly connected: readonly string[];
}

/**
 * What every socket facade shares: bind/connect by the endpoint convention, monitor
 * events (`events`), and closing (`close()`, `await using`).
 */
export abstract class Socket {
  /** Monitor events of this socket (connect, disconnect, accept, bind:error, ...); see {@link SocketEvents}. */
  readonly events: SocketEvents;
  /** Where this socket is bound and connected. */
  readonly endpoints: SocketEndpoints;
  /** The name used in logs and error messages. */
  readonly name: string;

  /** @internal */
  readonly [native]: zmq.Socket;
  #closed = false;
  #closing: Promise<void> | undefined;
  #sender: Sender<Frames> | undefined;
  #receiver: Receiver<Buffer[]> | undefined;
  readonly #linger: number;
  readonly #connections: ConnectionCount;
  /** What closing gives back: the ZAP handler's rules of this socket, its place in the count of open sockets. */
  readonly #release: Array<() => void> = [];

  protected constructor(kind: string, socket: zmq.Socket, endpoint: Endpoint, options: SocketOptions) {
    this[native] = socket;
    this.#linger = options.linger ?? DEFAULT_LINGER_MS;
    let resolved;
    try {
      resolved = resolveEndpoint(endpoint);
    } catch (error) {
      socket.close();
      throw error;
    }
    this.name = options.name ?? `${kind} ${[...resolved.bind, ...resolved.connect].join(",")}`;
    const fail = (error: unknown): never => {
      socket.close();
      this.#releaseAll();
      throw error;
    };
    let events: SocketEvents;
    try {
      events = openNative(this.name, () => monitor(socket, () => this.name));
    } catch (error) {
      // The monitor may be half made: libzmq's end of it open, with no reader. Closing the socket
      // would then block ZeroMQ's reaper thread for ever (it tells the monitor that it stops, and
      // waits for a reader), and every later close with it: the socket is kept, unused, for good.
      unclosable.add(socket);
      throw error;
    }
    this.events = events;
    this.#release.push(countOpenSocket());
    this.#connections = new ConnectionCount(this.events);
    try {
      const release = guardSocket(socket, options, this.#connections, this.events, this.name);
      if (release) this.#release.push(release);
    } catch (error) {
      fail(error);
    }
    const bound: string[] = [];
    for (const address of resolved.bind) {
      try {
        socket.bindSync(address);
      } catch (error) {
        const { message, code } = error as { message?: string; code?: string };
        fail(
          new DividereError(
            "BIND_FAILED",
            `${this.name}: cannot bind ${address}: ${message}${code ? ` (${code})` : ""}. ` +
              (code === "EADDRINUSE"
                ? "Another socket or process holds it; stop it, pick another port, or bind tcp://*:0 for a free one."
                : "Check the address and interface, or connect instead of binding."),
            { cause: error },
          ),
        );
      }
      bound.push(socket.lastEndpoint ?? address);
    }
    for (const address of resolved.connect) {
      try {
        socket.connect(address);
      } catch (error) {
        fail(new DividereError("INVALID_ARGUMENT", `${this.name}: cannot connect to ${address}: ${(error as Error).message}`, { cause: error }));
      }
    }
    this.endpoints = { bound, connected: [...resolved.connect] };
    debug("%s open (bound %j, connected %j)", this.name, bound, resolved.connect);
  }

  /**
   * True when ZeroMQ only makes progress while a receive is pending: a Subscriber that binds
   * sends its subscriptions to a connecting Publisher only when it processes commands, which
   * happens on a receive (libzmq#2267). The receiver of such a socket keeps one receive pending.
   */
  protected get keepsReceiving(): boolean {
    return false;
  }

  /** The first bound endpoint with its actual port (`tcp://*:0` becomes `tcp://0.0.0.0:41234`), else the first connected one. */
  get endpoint(): string {
    return this.endpoints.bound[0] ?? this.endpoints.connected[0]!;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The connections open now, and those refused for `maxConnections`; see {@link ConnectionStats}. */
  get connections(): ConnectionStats {
    return { open: this.#connections.open, refused: this.#connections.refused };
  }

  /**
   * Closes the socket: later calls and pending receives reject with `CLOSED`; sends already
   * queued get up to `linger` ms to reach ZeroMQ. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    const error = this.closedError();
    this.#sender?.close(error);
    this.#receiver?.close(error);
    this.beforeClose(error);
    await this.#sender?.drain(this.#linger);
    this[native].close();
    this.#releaseAll();
    debug("%s closed", this.name);
  }

  #releaseAll(): void {
    for (const release of this.#release.splice(0)) release();
  }

  /** Subclasses release what they hold; called once, before the native socket closes. */
  protected beforeClose(_error: DividereError): void {}

  /** The queued send path of this socket, shared by every layer that sends on it. */
  protected get sender(): Sender<Frames> {
    if (!this.#sender) {
      const socket = this[native] as zmq.Socket & zmq.Writable;
      this.#sender = new Sender<Frames>(
        (frames) => socket.send(frames as zmq.MessageLike[]),
        (error) => this.#sendError(error),
      );
      if (this.closed) this.#sender.close(this.closedError());
    }
    return this.#sender;
  }

  /** @internal See {@link reconnect}. */
  [reconnect](): void {
    if (this.closed) return;
    for (const address of this.endpoints.connected) {
      try {
        this[native].disconnect(address);
      } catch {
        // libzmq may have forgotten the refused connection already.
      }
      this[native].connect(address);
    }
  }

  /** @internal Messages handed to ZeroMQ so far. */
  get [sentCount](): number {
    return this.#sender?.sent ?? 0;
  }

  /** @internal Messages dropped for a full queue instead of sent. */
  get [unsentCount](): number {
    return this.#sender?.unsent ?? 0;
  }

  #sendError(error: unknown): DividereError {
    return this.closed ? this.closedError() : fromNative(error, this.name, "send");
  }

  protected closedError(): DividereError {
    return new DividereError("CLOSED", `${this.name} is closed`);
  }

  /** The queued receive path of this socket, created on first use. */
  protected get receiver(): Receiver<Buffer[]> {
    if (!this.#receiver) {
      this.#receiver = new Receiver(() => this.receiveOnce(), { eager: this.keepsReceiving });
      if (this.closed) this.#receiver.close(this.closedError());
    }
    return this.#receiver;
  }

  /**
   * @internal Hands this socket's receive path to a layer above: every received message goes
   * through `accept` (see {@link Receiver.acceptWith}), so decoded messages are queued once,
   * not once as frames and again as messages.
   */
  [receiveThrough]<T>(accept: Accept<Buffer[], T>): Receiver<Buffer[], T> {
    return this.receiver.acceptWith(accept);
  }

  /** One receive on the native socket, without queueing: the pull of this socket's {@link Receiver}. */
  protected receiveOnce(): Promise<Buffer[]> {
    const fail = (error: unknown) => (this.closed ? this.closedError() : fromNative(error, this.name, "receive"));
    try {
      return (this[native] as zmq.Socket & zmq.Readable).receive().catch((error: unknown) => {
        throw fail(error);
      });
    } catch (error) {
      return Promise.reject(fail(error));
    }
  }
}

/** A socket that receives: `recv()`, `wait()` and `for await`. */
export abstract class ReadableSocket extends Socket {
  /** The next message as its frames; rejects with `TIMEOUT` after `timeoutMs`, `CLOSED` when closed. */
  recv(options?: RecvOptions): Promise<Buffer[]> {
    return this.receiver.recv(options);
  }

  /** True as soon as a message is ready for `recv()`, false after `timeoutMs` (default: wait for ever). */
  wait(timeoutMs?: number): Promise<boolean> {
    return this.receiver.wait(timeoutMs);
  }

  /** Yields each message's frames until the socket is closed. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer[]> {
    return this.receiver[Symbol.asyncIterator]();
  }
}

/** A socket that sends and receives. */
export abstract class DuplexSocket extends ReadableSocket {
  /** Sends one message (one frame or several); resolves once ZeroMQ has queued it. */
  send(frames: Frames): Promise<void> {
    return this.sender.send(frames);
  }
}

/** A socket that only sends. */
export abstract class WritableSocket extends Socket {
  /** Sends one message (one frame or several); resolves once ZeroMQ has queued it. */
  send(frames: Frames): Promise<void> {
    return this.sender.send(frames);
  }
}
