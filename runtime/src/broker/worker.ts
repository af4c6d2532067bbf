import type { DescService } from "@bufbuild/protobuf";
import { hostname } from "node:os";
import type { SocketOptions } from "../connection/options.js";
import type { ServerInterceptorOptions } from "../rpc/interceptor.js";
import type { MetadataLimits } from "../rpc/metadata.js";
import { eachUntilClosed } from "../connection/receiver.js";
import { HeartbeatSchema } from "../gen/dividere/MsgLib_pb.js";
import { WorkerDisconnectSchema, WorkerReadySchema } from "../gen/dividere/v1/broker_pb.js";
import { RpcCancelSchema, type RpcRequest } from "../gen/dividere/v1/rpc_pb.js";
import { type CloseOptions, DEFAULT_GRACE_MS } from "../lifecycle.js";
import { debug } from "../log.js";
import { Dealer } from "../messaging/routing.js";
import { sendEnvelope } from "../messaging/socket.js";
import { vouchedByBroker } from "../rpc/caller-key.js";
import { CallDispatcher, type CallStats, type Respond } from "../rpc/dispatcher.js";
import { RpcError } from "../rpc/status.js";
import type { ServiceImpl } from "../rpc/types.js";
import { CLOSE_SIGNALS, type CloseOnSignalsOptions, SignalClose } from "../signals.js";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS, brokerClock, brokerTypes } from "./protocol.js";

/** Options of a {@link Worker}; the socket options apply to its connection to the broker. */
export interface WorkerOptions extends SocketOptions, MetadataLimits, ServerInterceptorOptions {
  /** How often the worker tells the broker it lives, in ms; default 1000 (the broker's must match). */
  heartbeatIntervalMs?: number;
  /** Heartbeats from the broker the worker may miss before it reconnects; default 3. */
  liveness?: number;
  /** The first pause before reconnecting to a lost broker, doubling up to `reconnectMaxMs`; default 1000. */
  reconnectInitialMs?: number;
  /** The longest pause between reconnects; default 32000. */
  reconnectMaxMs?: number;
  /** Calls the worker takes at once; default 1, as the ZeroMQ guide's workers. */
  capacity?: number;
  /** Names the worker in the broker's logs; default host/pid/n. */
  workerId?: string;
}

/** Counters of a worker: its calls, and its reconnects. */
export interface WorkerStats extends CallStats {
  /** Times the worker dropped its connection and connected anew: the broker fell silent, or did not know it. */
  reconnects: number;
  /**
   * Calls given back to the broker unrun because they reached the worker after the time the
   * broker gave it to start them (the worker had been closed, or its event loop blocked): the
   * broker may have handed them to another worker by then.
   */
  givenBack: number;
}

let workers = 0;

/**
 * Hosts service implementations behind a broker (the ZeroMQ guide's Paranoid Pirate worker):
 * connects to the broker's backend, announces its services, answers the calls the broker hands
 * it, heartbeats, and when the broker falls silent reconnects with exponential backoff and
 * announces itself again. `close()` tells the broker, finishes the calls in flight, and leaves.
 *
 * ```ts
 * const worker = new Worker("tcp://localhost:5556").add(HistoryDefinition, history).start();
 * await worker.close();
 * ```
 */
export class Worker {
  readonly #broker: string;
  readonly #options: WorkerOptions;
  readonly #calls: CallDispatcher;
  readonly #id: string;
  readonly #intervalMs: number;
  readonly #liveness: number;
  #dealer: Dealer<typeof brokerTypes> | undefined;
  #heard = 0;
  /**
   * What the broker's clock read minus this worker's, at most (ms): the largest such difference
   * any message from the broker showed, since each was sent before it was read. Learned anew on
   * each connection; -Infinity until the first message.
   */
  #skew = Number.NEGATIVE_INFINITY;
  #givenBack = 0;
  #backoff: number;
  #heartbeat: NodeJS.Timeout | undefined;
  #reconnecting: NodeJS.Timeout | undefined;
  #reconnects = 0;
  #closing: Promise<void> | undefined;
  #signalClose: SignalClose | undefined;

  constructor(broker: string, options: WorkerOptions = {}) {
    this.#broker = broker;
    this.#options = options;
    this.#id = options.workerId ?? `${hostname()}/${process.pid}/${++workers}`;
    this.#intervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    // A call's caller is checked through the broker as often as the worker heartbeats it.
    this.#calls = new CallDispatcher(`worker ${this.#id}`, { ...options, callerCheckMs: this.#intervalMs }, vouchedByBroker);
    this.#liveness = options.liveness ?? HEARTBEAT_LIVENESS;
    this.#backoff = options.reconnectInitialMs ?? 1000;
  }

  /** The name the worker gives the broker, as in its logs: `workerId`, else host/pid/n. */
  get id(): string {
    return this.#id;
  }

  /** A snapshot of the counters: calls answered OK, failed and cancelled, and reconnects. */
  get stats(): WorkerStats {
    return { ...this.#calls.stats, reconnects: this.#reconnects, givenBack: this.#givenBack };
  }

  /**
   * Hosts `implementation` of `service`, a protoc-gen-es descriptor (`History`, or the generated
   * `HistoryDefinition`, which is it), whose methods type the implementation's; call before `start()`.
   */
  add<S extends DescService>(service: S, implementation: NoInfer<ServiceImpl<S>>): this {
    this.#calls.add(service, implementation);
    return this;
  }

  /** Connects to the broker and announces the services added. */
  start(): this {
    if (!this.#heartbeat && !this.#closing) {
      this.#connect();
      this.#heartbeat = setInterval(() => this.#tick(), this.#intervalMs);
    }
    return this;
  }

  /**
   * Closes gracefully: tells the broker to send nothing new, finishes the calls in flight (up to
   * `graceMs`, default {@link DEFAULT_GRACE_MS}, then their signals abort), and disconnects.
   * Later calls return the same promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= (async () => {
      this.#signalClose?.release();
      clearTimeout(this.#reconnecting);
      const dealer = this.#dealer;
      await dealer?.send(WorkerDisconnectSchema, {}).catch(() => undefined);
      await this.#calls.drain(options.graceMs ?? DEFAULT_GRACE_MS, "the worker is closing");
      clearInterval(this.#heartbeat);
      await dealer?.close();
      debug("worker %s closed: %j", this.#id, this.stats);
    })().finally(() => this.#signalClose?.finished());
    return this.#closing;
  }

  /**
   * Closes gracefully when the process gets SIGTERM or SIGINT (or `signals`): as {@link close}.
   * Once the worker has closed the process exits by itself, with code 0, unless something else
   * of the program keeps it alive. Only the first signal is handled; a second one ends the
   * process at once. Resolves once the worker closed, with the signal, or `undefined` when
   * `close()` was called instead. Later calls return the same promise.
   *
   * ```ts
   * const worker = new Worker("tcp://localhost:5556").add(HistoryDefinition, history).start();
   * await worker.closeOnSignals();
   * ```
   */
  closeOnSignals(options: CloseOnSignalsOptions = {}): Promise<NodeJS.Signals | undefined> {
    if (this.#signalClose) return this.#signalClose.closed;
    if (this.#closing) return this.#closing.then(() => undefined);
    this.#signalClose = new SignalClose(options.signals ?? CLOSE_SIGNALS, () => void this.close(options));
    return this.#signalClose.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #connect(): void {
    const dealer = new Dealer(this.#broker, { ...this.#options, types: brokerTypes, name: `worker ${this.#id}` });
    this.#dealer = dealer;
    this.#heard = this.#liveness;
    this.#skew = Number.NEGATIVE_INFINITY;
    dealer.send(WorkerReadySchema, { services: this.#calls.services, workerId: this.#id, capacity: this.#options.capacity ?? 1 }).catch(() => undefined);
    void this.#serve(dealer);
  }

  #serve(dealer: Dealer<typeof brokerTypes>): Promise<void> {
    return eachUntilClosed(dealer, ({ route, message }) => {
      this.#heard = this.#liveness;
      this.#backoff = this.#options.reconnectInitialMs ?? 1000;
      const client = route[0];
      switch (message.$typeName) {
        case "dividere.v1.RpcRequest": {
          if (!client) break;
          const key = `${client.toString("latin1")}/${message.id}`;
          const respond: Respond = (envelope) => dealer[sendEnvelope]([client], envelope);
          if (this.#closing) void this.#calls.refuse(message, new RpcError("UNAVAILABLE", "the worker is closing"), respond);
          else {
            const verdict = this.#judge(message);
            if (verdict === "late") this.#giveBack(dealer, client, message);
            else if (verdict === "expired") void this.#calls.refuse(message, new RpcError("DEADLINE_EXCEEDED", `${message.method}: its deadline passed before worker ${this.#id} got it`), respond);
            else this.#calls.start(key, message, message.caller || client.toString("hex"), respond);
          }
          break;
        }
        case "dividere.v1.BrokerHeartbeat":
          this.#learnSkew(Number(message.timeMs));
          break;
        case "dividere.v1.RpcCancel":
          if (client) this.#calls.cancel(`${client.toString("latin1")}/${message.id}`, message.code);
          break;
        case "dividere.v1.RpcRequestItem":
          if (client) this.#calls.item(`${client.toString("latin1")}/${message.id}`, message);
          break;
        case "dividere.v1.RpcCredit":
          if (client) this.#calls.credit(`${client.toString("latin1")}/${message.id}`, message.items);
          break;
        case "dividere.v1.WorkerDisconnect":
          // The broker does not know this worker (it restarted): announce again on a new connection.
          if (!this.#closing) this.#reconnect(0, "the broker asked");
          break;
      }
    });
  }

  /**
   * What to do with a call by the times the broker put on it (a call without them starts):
   * `"late"` once the time the broker gave to start it has passed, even by the broker's clock
   * read as late as this worker can be sure of; `"expired"` once its deadline has; else it starts,
   * its `timeoutMs` turned into the time it has left.
   */
  #judge(request: RpcRequest): "start" | "late" | "expired" {
    const sent = Number(request.brokerTimeMs);
    if (sent === 0) return "start";
    this.#learnSkew(sent);
    // No later than what the broker's clock reads now; the margin covers what the skew misses.
    const brokerNow = brokerClock() + this.#skew;
    if (request.startByMs > 0n && brokerNow > Number(request.startByMs) - this.#intervalMs / 4) return "late";
    if (request.timeoutMs > 0) {
      const left = sent + request.timeoutMs - brokerNow;
      if (left <= 0) return "expired";
      request.timeoutMs = Math.ceil(left);
    }
    return "start";
  }

  /** A message sent at `brokerTime` by the broker's clock, read now: the skew is at least their difference. */
  #learnSkew(brokerTime: number): void {
    this.#skew = Math.max(this.#skew, brokerTime - brokerClock());
  }

  /** Hands a call back unrun: the broker gives it to another worker (or knows it answered already). */
  #giveBack(dealer: Dealer<typeof brokerTypes>, client: Buffer, request: RpcRequest): void {
    this.#givenBack++;
    debug("worker %s: %s reached it too late to start; given back", this.#id, request.method);
    dealer.send([client], RpcCancelSchema, { id: request.id }).catch(() => undefined);
  }

  #tick(): void {
    if (!this.#dealer || this.#reconnecting) return;
    if (--this.#heard < 0) {
      this.#reconnect(this.#backoff, `no heartbeat from the broker for ${this.#liveness * this.#intervalMs} ms`);
      this.#backoff = Math.min(this.#backoff * 2, this.#options.reconnectMaxMs ?? 32_000);
      return;
    }
    this.#dealer.send(HeartbeatSchema, { id: this.#id }).catch(() => undefined);
  }

  #reconnect(delayMs: number, why: string): void {
    if (this.#closing || this.#reconnecting) return;
    debug("worker %s: reconnecting in %d ms: %s", this.#id, delayMs, why);
    const old = this.#dealer;
    this.#dealer = undefined;
    void old?.close();
    this.#reconnects++;
    this.#reconnecting = setTimeout(() => {
      this.#reconnecting = undefined;
      if (!this.#closing) this.#connect();
    }, delayMs);
  }
}
