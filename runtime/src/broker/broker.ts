import { hostname } from "node:os";
import { create, toBinary } from "@bufbuild/protobuf";
import { Health } from "../builtin/health.js";
import type { DiscoverySource } from "../builtin/discovery.js";
import { hostBuiltins } from "../builtin/host.js";
import { withServerDefaults } from "../connection/options.js";
import { eachUntilClosed } from "../connection/receiver.js";
import { Router } from "../connection/routing.js";
import { EnvelopeCodec } from "../envelope/codec.js";
import { DividereError } from "../errors.js";
import { BrokerHeartbeatSchema, ServicesReplySchema, type ServiceStatus, ServiceStatusSchema, WorkerDisconnectSchema } from "../gen/dividere/v1/broker_pb.js";
import { type Instance, InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { DEFAULT_TTL_MS, advertisedEndpoint } from "../registry/defaults.js";
import { Registration } from "../registry/registration.js";
import { RpcCancelSchema, type RpcRequest, type RpcResponse, RpcResponseSchema, type StatusCode } from "../gen/dividere/v1/rpc_pb.js";
import { type CloseOptions, DEFAULT_GRACE_MS } from "../lifecycle.js";
import type { WaitForRegistrationOptions } from "../registry/registration.js";
import { debug } from "../log.js";
import { DEFAULT_MAX_ENVELOPE_SIZE, type DropReason } from "../messaging/socket.js";
import { CallerVerifier } from "../rpc/caller-key.js";
import { CallDispatcher } from "../rpc/dispatcher.js";
import { MethodStatsTable } from "../rpc/method-stats.js";
import { RpcError, fromStatusCode, toStatusCode } from "../rpc/status.js";
import { INITIAL_REQUEST_WINDOW } from "../rpc/flow.js";
import { dispatchedRequestEnvelope } from "../rpc/wire.js";
import {
  BROKER_BACKEND_PORT,
  BROKER_FRONTEND_PORT,
  BROKER_SERVICE,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_LIVENESS,
  brokerClock,
  brokerTypes,
} from "./protocol.js";
import type { BrokerOptions, BrokerStats } from "./options.js";
import { DEFAULT_MAX_BACKLOG_BYTES, PeerQueues } from "./peer-queues.js";
import { PythonPattern } from "./python-pattern.js";

let brokers = 0;

interface WorkerState {
  identity: Buffer;
  key: string;
  id: string;
  services: string[];
  capacity: number;
  calls: Set<Call>;
  expiresAt: number;
  lastUsed: number;
  draining: boolean;
}

const NO_KEY = new Uint8Array(0);

type OwnStats = Omit<BrokerStats, "refusedConnections" | "methods" | "backlog">;

interface Call {
  key: string;
  client: Buffer;
  request: RpcRequest;
  /** The RpcRequest's bytes as the caller sent them, to hand on with the broker's fields added. */
  payload: Uint8Array;
  service: string;
  deadline: number | undefined;
  worker: WorkerState | undefined;
  /** A reply (a stream's first message, say) went back: the call can no longer move. */
  started: boolean;
  /** The caller gave up on it (or it was cut): nothing more goes back; it ends when its worker ends it. */
  cancelled: boolean;
  /** The caller's key as the frontend's CURVE check verified it; empty: it proved none. */
  verifiedCallerKey: Uint8Array;
  /** When it came (performance.now()), and how it failed ("CODE: message"): for the stats of its method. */
  arrivedAt: number;
  failure?: string;
  /**
   * Request items (and the half-close) of a client or bidi stream that came while the call
   * waited for a worker: at most the initial request window and the end, the caller's credit.
   */
  early?: Uint8Array[];
}

interface ServiceState {
  workers: Set<WorkerState>;
  queue: Call[];
  /** True once a worker announced the service; before, its calls wait out the grace period only. */
  served: boolean;
}

/**
 * A load-balancing broker between callers and workers (the ZeroMQ guide's Paranoid Pirate with
 * Majordomo's service routing): callers send RPC calls to the frontend as to a server; workers
 * connect to the backend and announce the services they serve; each call goes to the least
 * recently used worker with a free slot, or waits in its service's queue (bounded). A slot is
 * free again only once its worker says the call ended (its last answer, also after a cancel),
 * or the worker is lost: a worker never runs more calls than its capacity, whatever its
 * callers abandon. Heartbeats go both ways; a silent worker is dropped and its unanswered calls
 * move to another worker, so every call is answered once. Each call a worker is handed carries
 * the time by which it may start it: a worker that was stopped and comes back gives calls it
 * got too late back unrun, since they may have been answered elsewhere meanwhile.
 *
 * The broker answers `grpc.health.v1.Health` itself: for `""` its own health (`NOT_SERVING` once
 * it closes), for a service `SERVING` while a worker that is not stopping serves it,
 * `NOT_SERVING` when none does (but one did), `NOT_FOUND` (Watch: `SERVICE_UNKNOWN`) for a service
 * no worker announced.
 *
 * It is also the broker of Python dividere's `messaging.LoadBalancingPattern`, on the same two
 * ports and with nothing to set: Python servers and clients are told from dividere workers and
 * callers by what they send (see {@link PythonPattern}); a Python request goes only to a Python
 * server, a dividere.v1 call only to a dividere worker.
 *
 * ```ts
 * await using broker = new Broker({ frontend: "tcp://*:5555", backend: "tcp://*:5556" });
 * ```
 */
export class Broker {
  readonly #counts: OwnStats = zeroCounts();
  readonly #frontend: Router;
  readonly #backend: Router;
  /** What goes to callers and to workers: per peer in order, waiting for room (see peer-queues.ts). */
  readonly #toCallers: PeerQueues<Call>;
  readonly #toWorkers: PeerQueues;
  readonly #codec = new EnvelopeCodec(brokerTypes);
  readonly #services = new Map<string, ServiceState>();
  readonly #workers = new Map<string, WorkerState>();
  readonly #calls = new Map<string, Call>();
  readonly #intervalMs: number;
  readonly #expiryMs: number;
  readonly #maxQueued: number;
  readonly #graceUntil: number;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #loops: Promise<void>[];
  readonly #python: PythonPattern;
  /** Checks the caller keys of a CURVE frontend's calls; the key it verified goes to the worker with the call. */
  readonly #verifier: CallerVerifier | undefined;
  /** What the broker's health service reports: kept by the workers' comings and goings. */
  readonly #health = new Health();
  /** Answers the built-in services (health) on the frontend. */
  readonly #own = new CallDispatcher("broker");
  /** The figures of the calls the broker took, per method, from their arrival to their last answer. */
  readonly #methods = new MethodStatsTable();
  #closing: Promise<void> | undefined;
  /** Set once the calls have had their grace: nothing more goes to workers. */
  #closed = false;
  /** Called when the last call ends while the broker closes. */
  #drained: (() => void) | undefined;
  /** The frontend's entry in the registry. */
  readonly #registration: Registration | undefined;

  constructor(options: BrokerOptions = {}) {
    const { frontend = `tcp://*:${BROKER_FRONTEND_PORT}`, backend = `tcp://*:${BROKER_BACKEND_PORT}`, ...socketOptions } = options;
    this.#intervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.#expiryMs = this.#intervalMs * (options.liveness ?? HEARTBEAT_LIVENESS);
    this.#maxQueued = options.maxQueued ?? 1000;
    this.#graceUntil = Date.now() + (options.unknownServiceGraceMs ?? this.#expiryMs);
    this.#verifier = CallerVerifier.of(socketOptions.curve);
    // mandatory: ZeroMQ would drop a reply to a caller whose queue is full without a word.
    this.#frontend = new Router(frontend, { ...withServerDefaults(socketOptions), mandatory: true, name: "broker frontend" });
    try {
      this.#backend = new Router(backend, { ...withServerDefaults(socketOptions, DEFAULT_MAX_ENVELOPE_SIZE), mandatory: true, name: "broker backend" });
    } catch (error) {
      void this.#frontend.close();
      throw error;
    }
    const maxBacklogBytes = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
    const stopped = () => this.#closed;
    this.#toCallers = new PeerQueues(this.#frontend, { maxBacklogBytes, stopped, undelivered: (_, calls, error) => this.#callerGone(calls, error) });
    this.#toWorkers = new PeerQueues(this.#backend, {
      maxBacklogBytes,
      stopped,
      // The worker's heartbeats stop too: it is lost after liveness intervals, and its calls move.
      undelivered: (identity, _, error) => debug("broker: cannot reach worker %s: %s", this.#workers.get(identity.toString("latin1"))?.id, error),
    });
    this.#python = new PythonPattern({
      frontend: this.#frontend,
      backend: this.#backend,
      maxQueued: this.#maxQueued,
      count: (event) => this.#counts[event === "lost" ? "workersLost" : event]++,
      settled: () => this.#settled(),
    });
    hostBuiltins(this.#own, { health: this.#health, info: { name: "dividere broker" }, discovery: this.#discoverySource() });
    this.#heartbeat = setInterval(() => this.#tick(), this.#intervalMs);
    this.#loops = [this.#serveClients(), this.#serveWorkers()];
    debug("broker: clients at %s, workers at %s", this.frontendEndpoint, this.backendEndpoint);
    if (options.registry !== undefined) {
      const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
      this.#registration = new Registration(options.registry, {
        ttlMs,
        holder: "broker",
        onError: options.onError ?? ((error) => console.error(`dividere broker: ${error.message}`)),
      });
      this.#registration.add(
        create(InstanceSchema, {
          service: options.registerAs ?? BROKER_SERVICE,
          instanceId: `${hostname()}/${process.pid}/broker/${++brokers}`,
          endpoint: advertisedEndpoint(this.frontendEndpoint, options.host),
          ttlMs,
          // Where its workers connect, for tools (and workers) that look brokers up.
          metadata: { backend: advertisedEndpoint(this.backendEndpoint, options.host) },
        }),
      );
    }
  }

  /** The broker's entry in the registry (its frontend, under `registerAs`) when given a `registry`. */
  get instance(): Instance | undefined {
    return this.#registration?.entries[0];
  }

  /**
   * Resolves once the registry has taken the broker's entry (at once without a `registry`): a
   * broker serves as soon as it is bound, and registers in the background, trying again until
   * the registry answers. Rejects with `TIMEOUT` (saying why registering fails), `CANCELLED`,
   * or `CLOSED` when the broker closes first.
   */
  waitForRegistration(options: WaitForRegistrationOptions = {}): Promise<void> {
    return this.#registration?.waitForRegistration(options) ?? Promise.resolve();
  }

  /** A snapshot of the counters of calls, lost workers and dropped input; see {@link BrokerStats}. */
  get stats(): BrokerStats {
    return {
      ...this.#counts,
      methods: this.#methods.snapshot(),
      dropped: { ...this.#counts.dropped },
      backlog: ((callers, workers) => ({ messages: callers.messages + workers.messages, bytes: callers.bytes + workers.bytes }))(
        this.#toCallers.waiting,
        this.#toWorkers.waiting,
      ),
      refusedConnections: this.#frontend.connections.refused + this.#backend.connections.refused,
    };
  }

  /**
   * What the broker's Discovery answers from: its own built-in services, the services its
   * workers announced (names only: the broker holds no descriptors of them), and the figures
   * of the calls it took, per method, as its callers see them.
   */
  #discoverySource(): DiscoverySource {
    const own = this.#own;
    const services = () => [...this.#services.keys()];
    const methods = () => this.#methods.snapshot();
    const calls = () => this.#calls.size;
    return {
      get descriptors() {
        return own.descriptors;
      },
      get services() {
        return services();
      },
      get stats() {
        const ownStats = own.stats;
        return { ...ownStats, methods: { ...ownStats.methods, ...methods() } };
      },
      get inFlight() {
        return calls() + own.inFlight;
      },
    };
  }

  /** Where callers connect (with the real port). */
  get frontendEndpoint(): string {
    return this.#frontend.endpoint;
  }

  /** Where workers connect (with the real port). */
  get backendEndpoint(): string {
    return this.#backend.endpoint;
  }

  /** The services the broker has workers for, or calls waiting for; Python's pattern as `python:LoadBalancingPattern`. */
  services(): ServiceStatus[] {
    const python = this.#python.status();
    return [...this.#services]
      .map(([name, { workers, queue }]) =>
        create(ServiceStatusSchema, {
          name,
          workers: workers.size,
          free: [...workers].reduce((free, worker) => free + (worker.draining ? 0 : worker.capacity - worker.calls.size), 0),
          queued: queue.length,
        }),
      )
      .concat(python ? [python] : [])
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Closes gracefully: every health status turns `NOT_SERVING` (health checks are answered until
   * the sockets close); new calls are refused with `UNAVAILABLE`; the calls in flight and waiting
   * get `graceMs` (default {@link DEFAULT_GRACE_MS}) to be answered by the workers, those left
   * then get `UNAVAILABLE`; then both sockets close. Later calls return the same promise.
   * Python-pattern requests get the same grace; new ones, and those still waiting at its end,
   * are dropped (its clients know no error reply). A broker with a `registry` takes its entry
   * away first, within the same grace, so that callers stop choosing it.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= (async () => {
      const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
      // Out of the registry first, so that callers stop choosing this broker while it drains.
      const unregistered = this.#registration?.close(Date.now() + graceMs);
      this.#health.shutdown();
      this.#python.drain();
      // Health watches end once they said NOT_SERVING: their last answers go out before the sockets close.
      const ownCalls = this.#own.drain(graceMs, "the broker is closing");
      if (this.#calls.size > 0 || this.#python.pending > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
          timer = setTimeout(resolve, graceMs);
        });
        clearTimeout(timer);
      }
      await ownCalls;
      this.#closed = true;
      clearInterval(this.#heartbeat);
      this.#python.close();
      for (const call of [...this.#calls.values()]) this.#answerError(call, new RpcError("UNAVAILABLE", "the broker is closing"));
      await Promise.all([this.#frontend.close(), this.#backend.close()]);
      await Promise.all(this.#loops);
      await unregistered;
      debug("broker closed: %j", this.stats);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #serveClients(): Promise<void> {
    return eachUntilClosed(this.#frontend, (frames) => {
      const [client, frame] = frames;
      if (!client || !frame || frames.length !== 2) {
        this.#drop(new DividereError("NOT_AN_ENVELOPE", `a caller sent ${frames.length - 1} frames; a call is one envelope`));
        return;
      }
      // Any envelope but a call is a request of Python's pattern; what is left is a call or no envelope.
      if (this.#python.takeRequest(frames)) return;
      const decoded = this.#decode(frame);
      const message = decoded?.message;
      if (message?.$typeName === "dividere.v1.RpcRequest") this.#request(client, decoded!.payload, message);
      else if (message?.$typeName === "dividere.v1.RpcCancel") {
        const key = `${client.toString("latin1")}/${message.id}`;
        if (!this.#own.cancel(key, message.code)) this.#cancel(key, message.code);
      } else if (message?.$typeName === "dividere.v1.RpcRequestItem" || message?.$typeName === "dividere.v1.RpcCredit") {
        const key = `${client.toString("latin1")}/${message.id}`;
        const own = message.$typeName === "dividere.v1.RpcCredit" ? this.#own.credit(key, message.items) : this.#own.item(key, message);
        if (!own) this.#streamToWorker(key, frame);
      }
    });
  }

  #serveWorkers(): Promise<void> {
    return eachUntilClosed(this.#backend, (frames) => {
      const identity = frames[0]!;
      const frame = frames[frames.length - 1]!;
      const worker = this.#workers.get(identity.toString("latin1"));
      if (!worker && frames.length >= 2 && this.#python.claim(frames)) return;
      const message = frames.length >= 2 ? this.#decode(frame)?.message : undefined;
      if (!message) return;
      if (worker) worker.expiresAt = Date.now() + this.#expiryMs;
      switch (message.$typeName) {
        case "dividere.v1.WorkerReady":
          this.#ready(identity, message.services, message.workerId, message.capacity);
          break;
        case "dividere.v1.RpcResponse":
        case "dividere.v1.RpcCancel":
        case "dividere.v1.RpcCredit":
          if (worker && frames.length === 3) {
            if (message.$typeName === "dividere.v1.RpcResponse") this.#response(worker, frames[1]!, frame, message);
            else if (message.$typeName === "dividere.v1.RpcCredit") this.#streamToClient(worker, `${frames[1]!.toString("latin1")}/${message.id}`, frame);
            else this.#givenBack(worker, `${frames[1]!.toString("latin1")}/${message.id}`);
          } else if (!worker) this.#unknownWorker(identity);
          else this.#drop(new DividereError("NOT_AN_ENVELOPE", `worker ${worker.id} sent an answer in ${frames.length - 1} frames; an answer is its caller's frame and one envelope`));
          break;
        case "Heartbeat":
          if (!worker) this.#unknownWorker(identity);
          break;
        case "dividere.v1.WorkerDisconnect":
          if (worker) this.#leaving(worker);
          break;
        default:
          this.#drop(new DividereError("UNKNOWN_TYPE", `a worker sent a ${message.$typeName}`));
      }
    });
  }

  #decode(frame: Buffer) {
    try {
      return this.#codec.decodeWithPayload(frame);
    } catch (error) {
      if (error instanceof DividereError) this.#drop(error);
      return undefined;
    }
  }

  #request(client: Buffer, payload: Uint8Array, request: RpcRequest): void {
    const key = `${client.toString("latin1")}/${request.id}`;
    // Before the closing check: health checks are answered while the broker closes.
    if (this.#own.isBuiltin(request.method)) {
      return this.#own.start(key, request, request.caller || client.toString("hex"), (envelope) => this.#frontend.send([client, envelope]));
    }
    const service = request.method.split("/")[1] ?? "";
    const call: Call = {
      key,
      client,
      request,
      payload,
      service,
      deadline: request.timeoutMs > 0 ? Date.now() + request.timeoutMs : undefined,
      worker: undefined,
      started: false,
      cancelled: false,
      verifiedCallerKey: NO_KEY,
      arrivedAt: performance.now(),
    };
    if (service === BROKER_SERVICE) {
      if (request.method === "/dividere.v1.Broker/Services") return this.#answerServices(call);
      return this.#refuse(call, new RpcError("UNIMPLEMENTED", `${request.method}: the broker's own service has one method, /dividere.v1.Broker/Services`));
    }
    // Ids tell a caller's calls apart; a second call under one in flight could only be answered in its place.
    if (this.#calls.has(key)) {
      this.#counts.refused++;
      this.#endWithError(call, new RpcError("ALREADY_EXISTS", `call ${request.id} is already in flight from this caller; give each call its own id`));
      return;
    }
    if (this.#closing) return this.#refuse(call, new RpcError("UNAVAILABLE", "the broker is closing; call again once it is back"));
    if (this.#verifier && request.callerKey.length > 0) {
      try {
        this.#verifier.verify(request);
        call.verifiedCallerKey = request.callerKey;
      } catch (error) {
        return this.#refuse(call, RpcError.from(error));
      }
    }
    const state = this.#services.get(service);
    if (!state && Date.now() > this.#graceUntil) {
      const known = [...this.#services.keys()].join(", ") || "none";
      return this.#refuse(call, new RpcError("NOT_FOUND", `no worker serves ${service} at this broker (services: ${known})`));
    }
    const queue = this.#service(service).queue;
    if (queue.length >= this.#maxQueued) {
      return this.#refuse(
        call,
        new RpcError("RESOURCE_EXHAUSTED", `the broker's queue for ${service} is full (${this.#maxQueued} calls wait for a free worker); try again later`),
      );
    }
    this.#calls.set(key, call);
    queue.push(call);
    this.#dispatch(service);
  }

  /** A caller's cancel: a queued call is dropped; a call on a worker is cancelled there, and holds its slot until the worker ends it. */
  #cancel(key: string, why: StatusCode): void {
    const call = this.#calls.get(key);
    if (!call || call.cancelled) {
      this.#counts.unmatched++;
      return;
    }
    this.#counts.cancelled++;
    call.failure ??= fromStatusCode(why) === "DEADLINE_EXCEEDED" ? "DEADLINE_EXCEEDED: the caller's deadline passed" : "CANCELLED: the caller cancelled the call";
    this.#cancelOnWorker(call, why);
  }

  /** Tells the call's worker the call is off (`why`: the caller's reason, passed on). */
  #cancelOnWorker(call: Call, why?: StatusCode): void {
    if (!call.worker) {
      this.#forget(call);
      return;
    }
    call.cancelled = true;
    this.#toWorker(call.worker, [call.client, this.#codec.encode(RpcCancelSchema, { id: call.request.id, code: why })], false);
  }

  /**
   * A request item, half-close or credit of a caller's stream: on to the call's worker; an item
   * that comes while the call waits for one waits with it, within the caller's initial credit.
   * Once an item went to a worker the call cannot move to another: its requests are spent.
   */
  #streamToWorker(key: string, frame: Uint8Array): void {
    const call = this.#calls.get(key);
    if (!call || call.cancelled) {
      this.#counts.unmatched++;
      return;
    }
    if (call.worker) {
      call.started = true;
      const worker = call.worker;
      if (!this.#toWorker(worker, [call.client, frame])) {
        this.#cut(call, `${call.request.method}: worker ${worker.id} reads its calls' messages too slowly; what waited for it at the broker reached maxBacklogBytes, and the call was cut`);
      }
      return;
    }
    (call.early ??= []).push(frame);
    if (call.early.length > INITIAL_REQUEST_WINDOW + 1) {
      this.#refuse(call, new RpcError("RESOURCE_EXHAUSTED", `${call.request.method}: the caller sent more request items than its credit while the call waited for a worker`));
    }
  }

  /** A worker's credit for its caller's stream: on to the caller. */
  #streamToClient(worker: WorkerState, key: string, frame: Uint8Array): void {
    const call = this.#calls.get(key);
    if (!call || call.worker !== worker || call.cancelled) {
      this.#counts.unmatched++;
      return;
    }
    this.#toClient(call, frame);
  }

  /** A worker gave a call back unrun (it reached it too late to start): it goes to another worker. */
  #givenBack(worker: WorkerState, key: string): void {
    const call = this.#calls.get(key);
    if (!call || call.worker !== worker) {
      this.#counts.unmatched++;
      return;
    }
    this.#counts.givenBack++;
    worker.calls.delete(call);
    call.worker = undefined;
    if (call.cancelled) this.#forget(call);
    else this.#services.get(call.service)?.queue.unshift(call);
    this.#freed(worker);
  }

  #ready(identity: Buffer, services: string[], id: string, capacity: number): void {
    const key = identity.toString("latin1");
    const known = this.#workers.get(key);
    if (known) this.#lose(known, "it announced itself again");
    const worker: WorkerState = {
      identity,
      key,
      id: id || identity.toString("hex"),
      services,
      capacity: Math.max(1, capacity),
      calls: new Set(),
      expiresAt: Date.now() + this.#expiryMs,
      lastUsed: 0,
      draining: false,
    };
    this.#workers.set(key, worker);
    for (const service of services) {
      const state = this.#service(service);
      state.workers.add(worker);
      state.served = true;
    }
    this.#reportHealth(services);
    debug("broker: worker %s serves %j (capacity %d)", worker.id, services, worker.capacity);
    // Before any call: the worker learns the broker's clock from a heartbeat it read in time.
    this.#toWorker(worker, [this.#heartbeatFrame()], false);
    for (const service of services) this.#dispatch(service);
  }

  #response(worker: WorkerState, client: Buffer, frame: Buffer, response: RpcResponse): void {
    const call = this.#calls.get(`${client.toString("latin1")}/${response.id}`);
    if (!call || call.worker !== worker) {
      debug("broker: a late answer from %s to a call that moved or ended", worker.id);
      this.#counts.unmatched++;
      return;
    }
    // A call whose caller gave up goes on only until its worker ends it: that frees the slot.
    if (!call.cancelled) {
      call.started = true;
      this.#toClient(call, frame, !response.more);
    }
    if (response.more) return;
    if (!call.cancelled) this.#counts.answered++;
    if (response.code !== 0) call.failure ??= `${fromStatusCode(response.code)}: ${response.message}`;
    this.#forget(call);
    this.#freed(worker);
  }

  #leaving(worker: WorkerState): void {
    worker.draining = true;
    this.#reportHealth(worker.services);
    debug("broker: worker %s is stopping with %d calls in flight", worker.id, worker.calls.size);
    if (worker.calls.size === 0) this.#remove(worker);
  }

  /** A worker the broker does not know (it restarted): tell it to connect anew. */
  #unknownWorker(identity: Buffer): void {
    void this.#backend.send([identity, this.#codec.encode(WorkerDisconnectSchema, {})]).catch(() => undefined);
  }

  #dispatch(service: string): void {
    const state = this.#services.get(service);
    if (!state || this.#closed) return;
    while (state.queue.length > 0) {
      let chosen: WorkerState | undefined;
      for (const worker of state.workers) {
        if (worker.draining || worker.calls.size >= worker.capacity) continue;
        if (!chosen || worker.lastUsed < chosen.lastUsed) chosen = worker;
      }
      if (!chosen) return;
      const call = state.queue.shift()!;
      const now = Date.now();
      if (call.deadline !== undefined && call.deadline <= now) {
        this.#counts.expired++;
        this.#answerError(call, new RpcError("DEADLINE_EXCEEDED", `no worker of ${call.service} was free before the deadline`));
        continue;
      }
      call.worker = chosen;
      chosen.calls.add(call);
      chosen.lastUsed = now;
      this.#counts.dispatched++;
      // The worker may start the call until the broker could take it for dead and move the call.
      const brokerTimeMs = brokerClock();
      const frame = dispatchedRequestEnvelope(call.payload, {
        timeoutMs: call.deadline === undefined ? 0 : Math.min(call.deadline - now, 0xffffffff),
        brokerTimeMs,
        startByMs: brokerTimeMs + chosen.expiresAt - now,
        verifiedCallerKey: call.verifiedCallerKey,
      });
      // Unbounded: requests to a worker are bounded by its capacity, and early items by their call's initial credit.
      this.#toWorker(chosen, [call.client, frame], false);
      if (call.early) {
        call.started = true;
        for (const item of call.early) this.#toWorker(chosen, [call.client, item], false);
        call.early = undefined;
      }
    }
  }

  #freed(worker: WorkerState): void {
    if (worker.draining) {
      if (worker.calls.size === 0) this.#remove(worker);
      return;
    }
    for (const service of worker.services) this.#dispatch(service);
  }

  /** Heartbeats out; silent workers out, their calls moved; queued calls past their deadline answered. */
  #tick(): void {
    const now = Date.now();
    const heartbeat = this.#heartbeatFrame();
    for (const worker of [...this.#workers.values()]) {
      if (worker.expiresAt < now) this.#lose(worker, `no heartbeat for ${this.#expiryMs} ms`);
      else this.#toWorker(worker, [heartbeat]);
    }
    for (const [name, state] of this.#services) {
      for (const call of state.queue.filter((waiting) => waiting.deadline !== undefined && waiting.deadline < now)) {
        this.#counts.expired++;
        this.#answerError(call, new RpcError("DEADLINE_EXCEEDED", `no worker of ${call.service} was free before the deadline`));
      }
      // Calls that came in the grace period for a service no worker announced by its end
      // would otherwise wait for ever when they have no deadline.
      if (!state.served && now > this.#graceUntil) {
        for (const call of [...state.queue]) this.#refuse(call, new RpcError("NOT_FOUND", `no worker serves ${call.service} at this broker`));
        this.#services.delete(name);
      }
    }
  }

  /** A worker is gone: calls it had not begun to answer go to another worker; the others fail. */
  #lose(worker: WorkerState, why: string): void {
    this.#counts.workersLost++;
    debug("broker: lost worker %s (%s) with %d calls", worker.id, why, worker.calls.size);
    this.#remove(worker);
    this.#toWorkers.drop(worker.identity);
    for (const call of worker.calls) {
      call.worker = undefined;
      if (call.cancelled) {
        this.#forget(call);
      } else if (call.started) {
        this.#answerError(call, new RpcError("UNAVAILABLE", `the worker answering ${call.request.method} was lost midway`));
      } else {
        this.#counts.requeued++;
        this.#services.get(call.service)?.queue.unshift(call);
      }
    }
    worker.calls.clear();
    for (const service of worker.services) this.#dispatch(service);
  }

  #remove(worker: WorkerState): void {
    this.#workers.delete(worker.key);
    for (const service of worker.services) this.#services.get(service)?.workers.delete(worker);
    this.#reportHealth(worker.services);
  }

  /** The health of `services` as their workers make it: SERVING while one that is not stopping serves it. */
  #reportHealth(services: readonly string[]): void {
    for (const service of services) {
      const state = this.#services.get(service);
      if (!state?.served) continue;
      this.#health.set(service, [...state.workers].some((worker) => !worker.draining) ? "SERVING" : "NOT_SERVING");
    }
  }

  #service(name: string): ServiceState {
    let state = this.#services.get(name);
    if (!state) this.#services.set(name, (state = { workers: new Set(), queue: [], served: false }));
    return state;
  }

  #answerServices(call: Call): void {
    const reply = toBinary(ServicesReplySchema, create(ServicesReplySchema, { services: this.services() }));
    this.#toClient(call, this.#codec.encode(RpcResponseSchema, { id: call.request.id, payload: reply }), true);
    this.#counts.answered++;
  }

  #refuse(call: Call, error: RpcError): void {
    this.#counts.refused++;
    debug("broker: refused %s: %s", call.request.method, error.message);
    this.#answerError(call, error);
  }

  #answerError(call: Call, error: RpcError): void {
    call.failure ??= `${error.code}: ${error.message}`;
    const worker = this.#forget(call);
    this.#endWithError(call, error);
    if (worker) this.#freed(worker);
  }

  /** A heartbeat to workers: the broker lives, and its clock reads this now. */
  #heartbeatFrame(): Uint8Array {
    return this.#codec.encode(BrokerHeartbeatSchema, { timeMs: BigInt(brokerClock()) });
  }

  /** The RpcResponse that ends `call` with `error`. */
  #errorFrame(call: Call, error: RpcError): Uint8Array {
    return this.#codec.encode(RpcResponseSchema, { id: call.request.id, code: toStatusCode(error.code), message: error.message });
  }

  /** Takes a call off the books (the calls, its queue, its worker's slots); returns the worker it had. */
  #forget(call: Call): WorkerState | undefined {
    if (this.#calls.get(call.key) === call) this.#methods.record(call.request.method, performance.now() - call.arrivedAt, call.failure);
    this.#calls.delete(call.key);
    this.#settled();
    const queue = this.#services.get(call.service)?.queue;
    const at = queue?.indexOf(call) ?? -1;
    if (at >= 0) queue!.splice(at, 1);
    call.worker?.calls.delete(call);
    return call.worker;
  }

  /** Ends a stop's grace once no call and no Python-pattern request is left. */
  #settled(): void {
    if (this.#calls.size === 0 && this.#python.pending === 0) this.#drained?.();
  }

  /**
   * A message to the call's caller, after what waits for it. One that does not fit what may wait
   * ends the call instead: a reply of a stream, or a credit, cuts it; its last reply becomes the
   * error (`final`).
   */
  #toClient(call: Call, frame: Uint8Array, final = false): void {
    if (this.#toCallers.send(call.client, [frame], { tag: call })) return;
    const why = `${call.request.method}: the caller reads its replies too slowly; what waited for it at the broker reached maxBacklogBytes`;
    if (final) {
      this.#counts.overflowed++;
      call.failure = `RESOURCE_EXHAUSTED: ${why}`;
      this.#endWithError(call, new RpcError("RESOURCE_EXHAUSTED", `${why}, and its reply was dropped`));
    } else this.#cut(call, `${why}, and the call was cut`);
  }

  /** The error that ends `call`, to its caller: small, one per call, so it waits beyond the bound. */
  #endWithError(call: Call, error: RpcError): void {
    this.#toCallers.send(call.client, [this.#errorFrame(call, error)], { bounded: false, tag: call });
  }

  /**
   * A message of the call could not wait (see {@link BrokerOptions.maxBacklogBytes}): a stream
   * must not go on with a hole in it, so the call ends `RESOURCE_EXHAUSTED` at its caller, and
   * its worker is told to stop (its slot is taken until the worker ends it).
   */
  #cut(call: Call, why: string): void {
    if (call.cancelled || this.#calls.get(call.key) !== call) return;
    this.#counts.overflowed++;
    debug("broker: %s", why);
    call.failure ??= `RESOURCE_EXHAUSTED: ${why}`;
    this.#cancelOnWorker(call);
    this.#endWithError(call, new RpcError("RESOURCE_EXHAUSTED", why));
  }

  /** A caller is gone (its connection dropped): its calls are off, and their workers told. */
  #callerGone(calls: Call[], error: unknown): void {
    debug("broker: cannot answer a caller: %s", error);
    for (const call of new Set(calls)) {
      if (call.cancelled || this.#calls.get(call.key) !== call) continue;
      call.failure ??= "UNAVAILABLE: the caller's connection dropped";
      this.#cancelOnWorker(call);
    }
  }

  /** A message to a worker, after what waits for it; `bounded`: false for what its capacity or calls bound. Returns false if it did not fit. */
  #toWorker(worker: WorkerState, frames: Uint8Array[], bounded = true): boolean {
    return this.#toWorkers.send(worker.identity, frames, { bounded });
  }

  #drop(error: DividereError): void {
    this.#counts.dropped[error.code as DropReason]++;
    debug("broker: dropped input: %s", error.message);
  }
}

/** A broker's own counters, all at zero (`refusedConnections` is its sockets'). */
function zeroCounts(): OwnStats {
  return {
    dispatched: 0,
    answered: 0,
    requeued: 0,
    givenBack: 0,
    cancelled: 0,
    refused: 0,
    expired: 0,
    workersLost: 0,
    unmatched: 0,
    overflowed: 0,
    dropped: { NOT_AN_ENVELOPE: 0, UNKNOWN_TYPE: 0, CORRUPT_PAYLOAD: 0, OVERSIZED: 0 },
  };
}
