import { hostname } from "node:os";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import { DEFAULT_SERVER_MAX_MESSAGE_SIZE, type SocketOptions } from "../connection/options.js";
import { eachUntilClosed } from "../connection/receiver.js";
import { reconnect } from "../connection/socket.js";
import { RpcCancelSchema, RpcCreditSchema, RpcRequestItemSchema, RpcRequestSchema, RpcResponseSchema, type RpcResponse } from "../gen/dividere/v1/rpc_pb.js";
import { debug } from "../log.js";
import { Dealer } from "../messaging/routing.js";
import { sendEnvelope } from "../messaging/socket.js";
import { callerKeyFields } from "./caller-key.js";
import { RpcError, fromStatusCode, toStatusCode } from "./status.js";
import { DEFAULT_RESPONSE_WINDOW } from "./flow.js";
import { callerField, creditEnvelope, requestEnvelope, requestItemEnvelope } from "./wire.js";

/** The message types of the RPC protocol. */
export const rpcTypes = [RpcRequestSchema, RpcCancelSchema, RpcResponseSchema, RpcRequestItemSchema, RpcCreditSchema] as const;

/** Who calls, as the server sees it: this host and process. */
export const CALLER = `${hostname()}/${process.pid}`;
const callerBytes = callerField(CALLER);
const NO_ROUTE: readonly never[] = [];
const NO_HEADERS = new Uint8Array(0);

/** The first pause before connecting again to a server that was full, in ms; it doubles up to the second. */
const FULL_RETRY_MS = 100;
const FULL_RETRY_MAX_MS = 5000;

/** The default {@link ChannelOptions.maxInFlight}: calls one connection carries at once. */
export const DEFAULT_MAX_IN_FLIGHT = 1000;

/** Options of the connection calls go over: the socket options, and how many calls it carries at once. */
export interface ChannelOptions extends SocketOptions {
  /**
   * Calls sent on one connection and not yet answered, at most; default 1000
   * ({@link DEFAULT_MAX_IN_FLIGHT}). A call beyond it waits, unsent, for an earlier call to end,
   * within its own deadline (`DEADLINE_EXCEEDED`, never sent) and `AbortSignal` (`CANCELLED`);
   * waiting calls go out in the order they were made. The bound keeps one client from piling
   * unbounded work on a server, and its own book of calls bounded.
   */
  maxInFlight?: number;
}

/** A call that waits for a free place among the calls in flight. */
interface Waiting {
  method: DescMethod;
  payload: Uint8Array;
  deadline: number | undefined;
  sink: CallSink;
  headers: Uint8Array;
}

/** Where the replies of one call go. */
export interface CallSink {
  /** A message of the reply (unary) or of the stream. */
  item(payload: Uint8Array): void;
  /** The call ended: OK, or with an error. */
  end(error: RpcError | undefined): void;
  /** Each answer as it arrives, before `item` and `end`: for a caller that reads the response metadata. */
  received?(response: RpcResponse): void;
  /** The request went out (a call may wait its turn unsent first, see {@link ChannelOptions.maxInFlight}). */
  sent?(): void;
  /** The server lets the call send `items` more request items (a client or bidi stream). */
  credit?(items: number): void;
}

/**
 * One connection to one server (a Dealer), carrying up to `maxInFlight` calls at once, told
 * apart by request id; further calls wait their turn unsent. When the connection drops, the
 * calls in flight on it fail with `UNAVAILABLE`: their replies could not reach this socket any more.
 * A CURVE server that refuses this client fails them with `UNAUTHENTICATED`.
 */
export class Channel {
  readonly endpoint: string;
  readonly #dealer: Dealer<typeof rpcTypes>;
  readonly #pending = new Map<number, CallSink>();
  /** Calls in flight whose request is larger than a server takes by default, with its size: if the connection drops, that is likely why. */
  readonly #large = new Map<number, number>();
  /** In call order: a Map keeps insertion order and forgets a cancelled call in O(1). */
  readonly #waiting = new Map<number, Waiting>();
  readonly #maxInFlight: number;
  readonly #loop: Promise<void>;
  /** A CURVE client's proof of its key, sent with every call (see caller-key.ts). */
  readonly #identity: Uint8Array;
  /** Whoever waits for the connection (`whenConnected`) stops waiting when the channel closes. */
  readonly #closeListeners = new Set<() => void>();
  #nextId = 1;
  #connected = false;
  /** How far a connection ever got: nothing accepted one, a socket was accepted, a ZeroMQ handshake finished. */
  #reached: "nothing" | "socket" | "handshake" = "nothing";
  /** Why the server refused this client at the last handshake, until one succeeds. */
  #refusal: RpcError | undefined;
  /** The next pause before connecting again to a full server, and the timer of the one under way. */
  #fullRetryMs = FULL_RETRY_MS;
  #fullRetry: NodeJS.Timeout | undefined;

  constructor(endpoint: Endpoint, options: ChannelOptions = {}) {
    const { maxInFlight = DEFAULT_MAX_IN_FLIGHT, ...socketOptions } = options;
    if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
      throw new RpcError("INVALID_ARGUMENT", `maxInFlight must be a whole number of at least 1, got ${maxInFlight}`);
    }
    this.#maxInFlight = maxInFlight;
    this.#identity = callerKeyFields(socketOptions.curve);
    // linger 0: what is still queued at close() is requests and cancels of calls that have
    // failed by then; waiting to deliver them would only hold up a caller that is done (a CLI).
    this.#dealer = new Dealer(endpoint, { linger: 0, ...socketOptions, types: rpcTypes });
    this.endpoint = this.#dealer.endpoint;
    this.#dealer.events.on("connect", () => {
      if (this.#reached === "nothing") this.#reached = "socket";
    });
    this.#dealer.events.on("handshake", () => {
      this.#reached = "handshake";
      this.#connected = true;
      this.#refusal = undefined;
      this.#fullRetryMs = FULL_RETRY_MS;
    });
    this.#dealer.events.on("disconnect", () => {
      this.#connected = false;
      // A server drops a connection whose frame is over its maxMessageSize, and cannot say so; this side knows what it sent.
      for (const [id, bytes] of this.#large) {
        this.#end(
          id,
          new RpcError(
            "RESOURCE_EXHAUSTED",
            `lost the connection to ${this.endpoint} while sending a request of ${bytes} bytes: a server drops a connection that sends a frame over its ` +
              `maxMessageSize, ${DEFAULT_SERVER_MAX_MESSAGE_SIZE} bytes unless its operator raised it. Send smaller requests (split them, or stream), or raise the server's maxMessageSize`,
          ),
        );
      }
      this.#failAll(`lost the connection to ${this.endpoint}`);
    });
    // A refusal is final to libzmq, which does not connect again. The calls fail now, saying why,
    // instead of at their deadlines, and later calls at once, until a handshake succeeds. A full
    // server (500) may have room later: this side connects again, waiting longer each time.
    this.#dealer.events.on("handshake:error:auth", (event) => {
      const status = (event.error as { status?: number }).status;
      this.#refusal = refusal(this.endpoint, status);
      this.#failAll(this.#refusal.message, this.#refusal.code);
      if (status === 500) this.#connectLater();
    });
    this.#loop = this.#receive();
  }

  /** True while the connection to the server is up (its ZeroMQ handshake done). */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Why nothing could have answered, when the connection tells: nothing ever accepted it, or
   * it never finished its ZeroMQ handshake; undefined once one did. Undefined for `inproc://`,
   * which has no connection events.
   */
  get neverConnected(): string | undefined {
    if (this.#reached === "handshake" || this.endpoint.startsWith("inproc://")) return undefined;
    return this.#reached === "nothing"
      ? "no connection to it was ever made: is a server running there, at that address and port?"
      : "a connection was made but its ZeroMQ handshake never finished: a hung server, one that is no ZeroMQ peer, or CURVE on one side only?";
  }

  /** Resolves true once connected, false if that takes longer than `timeoutMs` or the channel closes first. */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.#connected) return Promise.resolve(true);
    if (this.#dealer.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (connected: boolean) => {
        clearTimeout(timer);
        this.#dealer.events.off("handshake", onHandshake);
        this.#closeListeners.delete(onClose);
        resolve(connected);
      };
      const onHandshake = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(onClose, timeoutMs);
      this.#dealer.events.on("handshake", onHandshake);
      this.#closeListeners.add(onClose);
    });
  }

  /** Calls in flight on this channel: sent, not yet answered. */
  get load(): number {
    return this.#pending.size;
  }

  /** Calls waiting, unsent, for one in flight to end (see {@link ChannelOptions.maxInFlight}). */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** True while the call `id` waits for its turn and has not been sent. */
  isWaiting(id: number): boolean {
    return this.#waiting.has(id);
  }

  /** Fired with the endpoint whenever the connection drops. */
  onDisconnect(listener: () => void): void {
    this.#dealer.events.on("disconnect", listener);
  }

  /**
   * Sends a request for `method` (`deadline`: ms since the epoch, or none; `headers`: the
   * request headers, encoded by `requestHeaderFields`), or queues it while `maxInFlight` calls
   * are in flight; replies go to `sink`. Returns the call's id, for `cancel`.
   */
  start(method: DescMethod, payload: Uint8Array, deadline: number | undefined, sink: CallSink, headers: Uint8Array = NO_HEADERS): number {
    const id = this.#nextId++;
    const refusal = this.#refusal;
    if (refusal && !this.#connected) queueMicrotask(() => sink.end(refusal));
    else if (this.#pending.size < this.#maxInFlight && this.#waiting.size === 0) this.#send(id, method, payload, deadline, sink, headers);
    else this.#waiting.set(id, { method, payload, deadline, sink, headers });
    return id;
  }

  #send(id: number, method: DescMethod, payload: Uint8Array, deadline: number | undefined, sink: CallSink, headers: Uint8Array): void {
    // 0 travels as "no deadline": a deadline that has all but passed still asks for 1 ms.
    const timeoutMs = deadline === undefined ? 0 : Math.max(1, Math.min(Math.ceil(deadline - Date.now()), 0xffffffff));
    const responseWindow = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming" ? DEFAULT_RESPONSE_WINDOW : 0;
    const envelope = requestEnvelope({ id, method, timeoutMs, payload, caller: callerBytes, headers, identity: this.#identity, responseWindow });
    this.#pending.set(id, sink);
    if (envelope.length > DEFAULT_SERVER_MAX_MESSAGE_SIZE) this.#large.set(id, envelope.length);
    this.#sendOf(id, envelope);
    sink.sent?.();
  }

  /** Sends a message of the request stream of call `id`, which must hold credit for it (see {@link CallSink.credit}). */
  sendItem(id: number, payload: Uint8Array): void {
    this.#sendOf(id, requestItemEnvelope(id, payload));
  }

  /** Ends the request stream of call `id`: the caller's half-close. */
  halfClose(id: number): void {
    this.#sendOf(id, requestItemEnvelope(id, new Uint8Array(0), true));
  }

  /** Lets the server send `items` more replies of the stream of call `id`. */
  grant(id: number, items: number): void {
    this.#sendOf(id, creditEnvelope(id, items));
  }

  /** Sends a message of a call in flight; a call that ended sends nothing more. */
  #sendOf(id: number, envelope: Uint8Array): void {
    if (!this.#pending.has(id)) return;
    this.#dealer[sendEnvelope](NO_ROUTE, envelope).catch((error: unknown) =>
      this.#end(id, unavailable(`cannot send to ${this.endpoint}: ${(error as Error).message}`, error)),
    );
  }

  /** Sends waiting calls while there is room; one whose deadline passed while it waited ends unsent. */
  #admit(): void {
    for (const [id, call] of this.#waiting) {
      if (this.#pending.size >= this.#maxInFlight) return;
      this.#waiting.delete(id);
      if (call.deadline !== undefined && call.deadline <= Date.now()) {
        call.sink.end(new RpcError("DEADLINE_EXCEEDED", `the deadline passed while the call waited for one of ${this.#maxInFlight} calls in flight to ${this.endpoint} to end (maxInFlight); it was not sent`));
        continue;
      }
      try {
        this.#send(id, call.method, call.payload, call.deadline, call.sink, call.headers);
      } catch (error) {
        call.sink.end(RpcError.from(error));
      }
    }
  }

  /** Forgets a call; a call already sent is cancelled at the server too, telling it `why` (DEADLINE_EXCEEDED, CANCELLED). */
  cancel(id: number, why?: RpcError): void {
    if (this.#waiting.delete(id)) return;
    if (!this.#pending.delete(id)) return;
    const code = why?.code === "DEADLINE_EXCEEDED" ? toStatusCode("DEADLINE_EXCEEDED") : undefined;
    this.#dealer.send(RpcCancelSchema, { id: BigInt(id), code }).catch((error: unknown) => debug("rpc: cannot cancel call %s: %s", id, error));
    if (this.#waiting.size > 0) this.#admit();
  }

  #connectLater(): void {
    if (this.#fullRetry) return;
    const pause = this.#fullRetryMs * (0.5 + Math.random());
    this.#fullRetryMs = Math.min(2 * this.#fullRetryMs, FULL_RETRY_MAX_MS);
    this.#fullRetry = setTimeout(() => {
      this.#fullRetry = undefined;
      this.#dealer[reconnect]();
    }, pause);
  }

  /** Closes the connection; calls in flight, and calls waiting to be sent, fail with `UNAVAILABLE`. */
  async close(): Promise<void> {
    for (const listener of [...this.#closeListeners]) listener();
    clearTimeout(this.#fullRetry);
    const why = `the channel to ${this.endpoint} was closed`;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const call of waiting) call.sink.end(unavailable(why));
    this.#failAll(why);
    await this.#dealer.close();
    await this.#loop;
  }

  #receive(): Promise<void> {
    return eachUntilClosed(this.#dealer, ({ message }) => {
      if (message.$typeName === RpcResponseSchema.typeName) this.#deliver(message);
      else if (message.$typeName === RpcCreditSchema.typeName) this.#pending.get(Number(message.id))?.credit?.(message.items);
    });
  }

  #deliver(response: RpcResponse): void {
    const id = Number(response.id);
    const sink = this.#pending.get(id);
    if (!sink) {
      debug("rpc: a reply to call %s, which nobody waits for any more", response.id);
      return;
    }
    sink.received?.(response);
    if (response.more || response.payload.length > 0) sink.item(response.payload);
    if (response.more) return;
    const code = fromStatusCode(response.code);
    this.#end(id, code === "OK" ? undefined : new RpcError(code, response.message || code, { details: response.details }));
  }

  #end(id: number, error: RpcError | undefined): void {
    const sink = this.#pending.get(id);
    if (!sink) return;
    this.#pending.delete(id);
    this.#large.delete(id);
    sink.end(error);
    if (this.#waiting.size > 0) this.#admit();
  }

  #failAll(why: string, code: RpcError["code"] = "UNAVAILABLE"): void {
    if (this.#pending.size === 0) return;
    debug("rpc: %s with %d calls in flight", why, this.#pending.size);
    const error = new RpcError(code, why);
    for (const id of [...this.#pending.keys()]) this.#end(id, error);
  }
}

/**
 * Why a server refused this client at its handshake, by the ZAP status it sent: 400 from a CURVE
 * allow list, 500 from a full server (the runtime's ZAP handler does not use 300, "temporary":
 * libzmq answers it by telling the client nothing).
 */
function refusal(endpoint: string, status: number | undefined): RpcError {
  if (status === 500) {
    return unavailable(
      `the server at ${endpoint} is full: it holds as many connections as its maxConnections allows, and refused this one for now ` +
        "(ZAP status 500; this client connects again, waiting longer each time, up to 5 s). Try again later or another instance, " +
        "or have the server's operator raise its maxConnections",
    );
  }
  return new RpcError(
    "UNAUTHENTICATED",
    `the server at ${endpoint} refused this client: its CURVE public key is not in the server's allow list (give the server's operator this client's public key)`,
  );
}

function unavailable(message: string, cause?: unknown): RpcError {
  return new RpcError("UNAVAILABLE", message, { cause });
}

