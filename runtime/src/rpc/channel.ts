import { hostname } from "node:os";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Endpoint } from "../connection/endpoint.js";
import type { SocketOptions } from "../connection/options.js";
import { eachUntilClosed } from "../connection/receiver.js";
import { RpcCancelSchema, RpcRequestSchema, RpcResponseSchema, type RpcResponse } from "../gen/dividere/v1/rpc_pb.js";
import { debug } from "../log.js";
import { Dealer } from "../messaging/routing.js";
import { sendEnvelope } from "../messaging/socket.js";
import { RpcError, fromStatusCode } from "./status.js";
import { callerField, requestEnvelope } from "./wire.js";

/** The message types of the RPC protocol. */
export const rpcTypes = [RpcRequestSchema, RpcCancelSchema, RpcResponseSchema] as const;

/** Who calls, as the server sees it: this host and process. */
export const CALLER = `${hostname()}/${process.pid}`;
const callerBytes = callerField(CALLER);
const NO_ROUTE: readonly never[] = [];

/** Where the replies of one call go. */
export interface CallSink {
  /** A message of the reply (unary) or of the stream. */
  item(payload: Uint8Array): void;
  /** The call ended: OK, or with an error. */
  end(error: RpcError | undefined): void;
}

/**
 * One connection to one server (a Dealer), carrying any number of calls at once, told apart
 * by request id. When the connection drops, the calls in flight on it fail with `UNAVAILABLE`:
 * their replies could not reach this socket any more.
 */
export class Channel {
  readonly endpoint: string;
  readonly #dealer: Dealer<typeof rpcTypes>;
  readonly #pending = new Map<number, CallSink>();
  readonly #loop: Promise<void>;
  #nextId = 1;
  #connected = false;

  constructor(endpoint: Endpoint, options: SocketOptions = {}) {
    this.#dealer = new Dealer(endpoint, { ...options, types: rpcTypes });
    this.endpoint = this.#dealer.endpoint;
    this.#dealer.events.on("handshake", () => (this.#connected = true));
    this.#dealer.events.on("disconnect", () => {
      this.#connected = false;
      this.#failAll(`lost the connection to ${this.endpoint}`);
    });
    this.#loop = this.#receive();
  }

  /** True while the connection to the server is up (its ZeroMQ handshake done). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Resolves true once connected, false if that takes longer than `timeoutMs`. */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.#connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (connected: boolean) => {
        clearTimeout(timer);
        this.#dealer.events.off("handshake", onHandshake);
        resolve(connected);
      };
      const onHandshake = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#dealer.events.on("handshake", onHandshake);
    });
  }

  /** Calls in flight on this channel. */
  get load(): number {
    return this.#pending.size;
  }

  /** Fired with the endpoint whenever the connection drops. */
  onDisconnect(listener: () => void): void {
    this.#dealer.events.on("disconnect", listener);
  }

  /** Sends a request for `method`; replies go to `sink`. Returns the call's id, for `cancel`. */
  start(method: DescMethod, payload: Uint8Array, timeoutMs: number, sink: CallSink): number {
    const id = this.#nextId++;
    this.#pending.set(id, sink);
    let envelope: Uint8Array;
    try {
      envelope = requestEnvelope({ id, method, timeoutMs: Math.max(0, Math.min(Math.ceil(timeoutMs), 0xffffffff)), payload, caller: callerBytes });
    } catch (error) {
      this.#pending.delete(id);
      throw error;
    }
    this.#dealer[sendEnvelope](NO_ROUTE, envelope).catch((error: unknown) =>
      this.#end(id, unavailable(`cannot send to ${this.endpoint}: ${(error as Error).message}`, error)),
    );
    return id;
  }

  /** Forgets a call and tells the server to stop working on it. */
  cancel(id: number): void {
    if (!this.#pending.delete(id)) return;
    this.#dealer.send(RpcCancelSchema, { id: BigInt(id) }).catch((error: unknown) => debug("rpc: cannot cancel call %s: %s", id, error));
  }

  /** Closes the connection; calls in flight fail with `UNAVAILABLE`. */
  async close(): Promise<void> {
    this.#failAll(`the channel to ${this.endpoint} was closed`);
    await this.#dealer.close();
    await this.#loop;
  }

  #receive(): Promise<void> {
    return eachUntilClosed(this.#dealer, ({ message }) => {
      if (message.$typeName === RpcResponseSchema.typeName) this.#deliver(message);
    });
  }

  #deliver(response: RpcResponse): void {
    const id = Number(response.id);
    const sink = this.#pending.get(id);
    if (!sink) {
      debug("rpc: a reply to call %s, which nobody waits for any more", response.id);
      return;
    }
    if (response.more || response.payload.length > 0) sink.item(response.payload);
    if (response.more) return;
    const code = fromStatusCode(response.code);
    this.#end(id, code === "OK" ? undefined : new RpcError(code, response.message || code));
  }

  #end(id: number, error: RpcError | undefined): void {
    const sink = this.#pending.get(id);
    if (!sink) return;
    this.#pending.delete(id);
    sink.end(error);
  }

  #failAll(why: string): void {
    if (this.#pending.size === 0) return;
    debug("rpc: %s with %d calls in flight", why, this.#pending.size);
    const error = unavailable(why);
    for (const id of [...this.#pending.keys()]) this.#end(id, error);
  }
}

function unavailable(message: string, cause?: unknown): RpcError {
  return new RpcError("UNAVAILABLE", message, { cause });
}

