import { type DescMessage, type Message, toBinary } from "@bufbuild/protobuf";
import type { ConnectionStats, SocketEvents } from "../connection/events.js";
import type { SocketOptions } from "../connection/options.js";
import { type Receiver, type RecvOptions, SKIP, untilClosed } from "../connection/receiver.js";
import { type Frame, type ReadableSocket, type Socket, type SocketEndpoints, receiveThrough, reconnect, sentCount, unsentCount } from "../connection/socket.js";
import { EnvelopeCodec, encodeEnvelope } from "../envelope/codec.js";
import type { MessageOf, Types } from "../envelope/types.js";
import { DividereError, type ErrorCode } from "../errors.js";
import { debug } from "../log.js";

/** Options every messaging socket takes: the message types it speaks, plus the ZeroMQ options. */
export interface MessagingOptions<T extends Types> extends SocketOptions {
  /**
   * The message types this socket sends and receives: schemas (`FooSchema`), generated files
   * (`file_foo`), a `createRegistry(...)` registry, or a list of them. Received envelopes of
   * other types are dropped as `UNKNOWN_TYPE`.
   */
  types: T;
  /**
   * Received envelopes larger than this many bytes are dropped as `OVERSIZED`; the connection
   * stays up. Default 16 MiB. (`maxMessageSize`, 64 MiB by default and 4 MiB on a server's
   * sockets, is ZeroMQ's hard limit, which disconnects the peer; to accept larger envelopes, raise both.)
   */
  maxEnvelopeSize?: number;
}

/** Why received input was dropped: the `code` of the `dropped` event's error. */
export type DropReason = Extract<ErrorCode, "NOT_AN_ENVELOPE" | "UNKNOWN_TYPE" | "CORRUPT_PAYLOAD" | "OVERSIZED">;

/** Counters of one messaging socket. */
export interface MessagingStats {
  /** Messages handed to ZeroMQ. */
  sent: number;
  /**
   * Messages a send dropped instead of sending, because a peer's queue was full: a Publisher's
   * (`whenFull: "drop"`, its default) when a subscriber the message was for cannot keep up. The
   * send resolved; the message went to nobody. Always 0 on other sockets, whose sends wait or fail.
   */
  unsent: number;
  /** Messages received and decoded. */
  received: number;
  /** Received input discarded, by reason. */
  dropped: Record<DropReason, number>;
}

/** How the runtime's RPC layer sends envelopes it wrote itself; not for applications. */
export const sendEnvelope: unique symbol = Symbol("dividere.sendEnvelope");

/** The default `maxEnvelopeSize` of a messaging socket, in bytes: 16 MiB. */
export const DEFAULT_MAX_ENVELOPE_SIZE = 16 * 1024 * 1024;

/** A message and the routing frames (identities, delimiters) that came in front of it. */
export interface Routed<M> {
  /** The frames before the envelope: who to send a reply to. Empty when nothing routed the message. */
  readonly route: Buffer[];
  /** The decoded message. */
  readonly message: M;
}

/** The frames that go out in front of an envelope: a Router identity, and any further routing frames. */
export type Route = readonly Frame[];

/**
 * What every protobuf-typed socket shares: the envelope codec of its `types`, counters, the
 * events and lifecycle of the byte-level socket under it.
 */
export abstract class MessagingSocket<T extends Types> {
  /** Encodes and decodes this socket's envelopes. */
  readonly codec: EnvelopeCodec<T>;
  /** What this socket counts itself; `sent` and `unsent` are the byte-level socket's. */
  protected readonly counts: Pick<MessagingStats, "received" | "dropped"> = {
    received: 0,
    dropped: { NOT_AN_ENVELOPE: 0, UNKNOWN_TYPE: 0, CORRUPT_PAYLOAD: 0, OVERSIZED: 0 },
  };
  /** The byte-level socket underneath. */
  protected readonly connection: Socket;

  /** `codec` comes first so a subclass can check its arguments (topics) before it opens `connection`. */
  protected constructor(codec: EnvelopeCodec<T>, connection: Socket) {
    this.codec = codec;
    this.connection = connection;
  }

  /** A snapshot of the counters: sent, unsent, received, and dropped input by reason. */
  get stats(): MessagingStats {
    return {
      // Counted where the send completes, without a promise of its own per message.
      sent: this.connection[sentCount],
      unsent: this.connection[unsentCount],
      received: this.counts.received,
      dropped: { ...this.counts.dropped },
    };
  }

  /** Monitor events (connect, disconnect, ...) and `dropped` for discarded input. */
  get events(): SocketEvents {
    return this.connection.events;
  }

  /** Where this socket is bound and connected. */
  get endpoints(): SocketEndpoints {
    return this.connection.endpoints;
  }

  /** The connections open now, and those refused for `maxConnections`. */
  get connections(): ConnectionStats {
    return this.connection.connections;
  }

  /** The first bound endpoint with its actual port, else the first connected one. */
  get endpoint(): string {
    return this.connection.endpoint;
  }

  /** The name used in logs and errors. */
  get name(): string {
    return this.connection.name;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.connection.closed;
  }

  /** @internal See the byte-level socket's `reconnect`. */
  [reconnect](): void {
    this.connection[reconnect]();
  }

  /** Closes the socket; pending receives reject with `CLOSED`. */
  close(): Promise<void> {
    return this.connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Encodes `send(message)` / `send(schema, init)` arguments into envelope bytes. */
  protected encode(first: Message | DescMessage, init?: unknown): Uint8Array {
    const [schema, message] = this.codec.resolve(first, init);
    return encodeEnvelope(schema, toBinary(schema, message));
  }

  /**
   * Sends the envelope of `send(message)` / `send(schema, init)` arguments behind `route`
   * (routing frames; empty for none) and counts it. Bad arguments reject, never throw.
   */
  protected sendMessage(route: Route, first: Message | DescMessage, init?: unknown): Promise<void> {
    let envelope: Uint8Array;
    try {
      envelope = this.encode(first, init);
    } catch (error) {
      return Promise.reject(error);
    }
    return this[sendEnvelope](route, envelope);
  }

  /**
   * @internal Sends envelope bytes made elsewhere (the RPC layer writes its own in one pass)
   * behind `route`, counted like every send.
   */
  [sendEnvelope](route: Route, envelope: Uint8Array): Promise<void> {
    const frames = route.length > 0 ? [...route, envelope] : envelope;
    return (this.connection as Socket & { send(frames: Frame | readonly Frame[]): Promise<void> }).send(frames);
  }

  /** Counts, logs and reports discarded input. */
  protected drop(error: DividereError): void {
    this.counts.dropped[error.code as DropReason]++;
    debug("%s dropped input: %s", this.name, error.message);
    this.connection.events.emit("dropped", error);
  }
}

/**
 * A messaging socket that receives: `recv()`, `wait()` and `for await`, each yielding
 * decoded messages; input that does not decode is dropped (see {@link MessagingStats}).
 */
export abstract class ReceivingSocket<T extends Types, R> extends MessagingSocket<T> {
  declare protected readonly connection: ReadableSocket;
  readonly #receiver: Receiver<Buffer[], R>;
  readonly #maxEnvelopeSize: number;

  protected constructor(codec: EnvelopeCodec<T>, connection: ReadableSocket, options: MessagingOptions<T>) {
    super(codec, connection);
    this.#maxEnvelopeSize = options.maxEnvelopeSize ?? DEFAULT_MAX_ENVELOPE_SIZE;
    this.#receiver = connection[receiveThrough]((frames) => this.#accepted(frames));
  }

  /** The next message; rejects with `TIMEOUT` after `timeoutMs`, `CLOSED` when closed. */
  recv(options?: RecvOptions): Promise<R> {
    return this.#receiver.recv(options);
  }

  /** True as soon as a decoded message is ready for `recv()`, false after `timeoutMs` (default: for ever). */
  wait(timeoutMs?: number): Promise<boolean> {
    return this.#receiver.wait(timeoutMs);
  }

  /** Yields messages (through `recv()`) until the socket is closed. */
  [Symbol.asyncIterator](): AsyncIterator<R> {
    return untilClosed(this);
  }

  override close(): Promise<void> {
    this.#receiver.close(new DividereError("CLOSED", `${this.name} is closed`));
    return super.close();
  }

  /**
   * Turns one received multipart message into what `recv()` yields; throws a
   * {@link DividereError} with a {@link DropReason} code for input to drop.
   */
  protected abstract accept(frames: Buffer[]): R;

  /** Decodes one envelope frame, enforcing `maxEnvelopeSize`. */
  protected decode(frame: Buffer): MessageOf<T> {
    if (frame.length > this.#maxEnvelopeSize) {
      throw new DividereError(
        "OVERSIZED",
        `received a ${frame.length}-byte envelope; this socket accepts up to ${this.#maxEnvelopeSize} bytes (maxEnvelopeSize)`,
      );
    }
    return this.codec.decode(frame);
  }

  /**
   * What to do with input `accept` rejected: by default drop it and go on receiving;
   * a socket that owes its caller an answer (Request) rethrows instead.
   */
  protected rejected(error: DividereError): void {
    this.drop(error);
  }

  #accepted(frames: Buffer[]): R | typeof SKIP {
    let result: R;
    try {
      result = this.accept(frames);
    } catch (error) {
      if (!(error instanceof DividereError)) throw error;
      this.rejected(error);
      return SKIP;
    }
    this.counts.received++;
    return result;
  }
}

/** Splits a routed multipart message into its route and envelope frame. */
export function splitRoute(frames: Buffer[]): { route: Buffer[]; envelope: Buffer } {
  const envelope = frames[frames.length - 1];
  if (envelope === undefined) {
    throw new DividereError("NOT_AN_ENVELOPE", "received a message with no frames");
  }
  return { route: frames.slice(0, -1), envelope };
}

/**
 * The route of a request as REP expects it, [identity, ...more routing, empty delimiter,
 * envelope]: everything before the envelope; throws `NOT_AN_ENVELOPE` for any other framing.
 */
export function requestRoute(frames: Buffer[]): Buffer[] {
  const delimiter = frames.findIndex((frame, index) => index > 0 && frame.length === 0);
  if (delimiter < 0 || delimiter !== frames.length - 2) {
    throw new DividereError("NOT_AN_ENVELOPE", `expected a request as routing frames, an empty delimiter and one envelope frame, got ${frames.length - 1} frames`);
  }
  return frames.slice(0, delimiter + 1);
}

/** The frame of a message that must have exactly one; throws `NOT_AN_ENVELOPE` otherwise. */
export function singleFrame(frames: Buffer[]): Buffer {
  const [frame] = frames;
  if (frames.length !== 1 || frame === undefined) {
    throw new DividereError("NOT_AN_ENVELOPE", `expected one frame holding an envelope, got ${frames.length} frames`);
  }
  return frame;
}
