/** What a {@link Broker} is given, and the counters it keeps. */
import type { Endpoint } from "../connection/endpoint.js";
import type { SocketOptions } from "../connection/options.js";
import type { DividereError } from "../errors.js";
import type { MessagingStats } from "../messaging/socket.js";
import type { RegistryClient, RegistryClientOptions } from "../registry/client.js";
import type { MethodStatsSnapshot } from "../rpc/method-stats.js";

/**
 * Options of a {@link Broker}; the socket options apply to both its sockets, with a server's
 * defaults (`withServerDefaults`: 1024 connections, heartbeats), except that the backend takes
 * frames of up to 16 MiB (the largest reply a caller accepts, its `maxEnvelopeSize`) and the
 * frontend of up to 4 MiB, unless `maxMessageSize` says otherwise.
 */
export interface BrokerOptions extends SocketOptions {
  /** Where clients connect; default `tcp://*:5555`. */
  frontend?: Endpoint;
  /** Where workers connect; default `tcp://*:5556`. */
  backend?: Endpoint;
  /** How often the broker and its workers tell each other they live, in ms; default 1000. */
  heartbeatIntervalMs?: number;
  /** Heartbeats a worker may miss before it is dropped; default 3. */
  liveness?: number;
  /**
   * Calls that may wait per service for a free worker; more are refused with `RESOURCE_EXHAUSTED`.
   * Requests of Python dividere's pattern wait in a queue of their own, as long; more are dropped
   * (its clients know no error reply). Default 1000.
   */
  maxQueued?: number;
  /**
   * For how long after start calls for a service no worker has announced yet wait (workers
   * reconnect after a broker restart); later such calls are answered `NOT_FOUND` at once.
   * Default: liveness × interval.
   */
  unknownServiceGraceMs?: number;
  /**
   * What may wait in the broker, per caller and per worker, for room in its connection's queue
   * (`sendHighWaterMark`, full when the peer reads more slowly than messages come), in bytes;
   * default 32 MiB ({@link DEFAULT_MAX_BACKLOG_BYTES}). Messages to a peer go out in order, so
   * they wait in order. A message beyond it fails its call with `RESOURCE_EXHAUSTED` (counted
   * in `overflowed`): a stream item, credit or reply that does not fit cuts its call (its
   * worker told to stop), a call's last reply that does not fit becomes that error. What flows
   * to a peer that keeps to its streams' credit stays far below it; requests to a worker are
   * bounded by its capacity instead, and small control messages (cancels, a call's error end)
   * by the calls in flight.
   */
  maxBacklogBytes?: number;
  /**
   * Register the frontend with this registry while the broker runs, so that callers find it by
   * name (`brokerTransport({ registry, brokers })`): the registry's request endpoint
   * (`tcp://host:5000`), several registries of one view in order of preference, or a client of
   * it (which stays yours). The entry is leased (`ttlMs`),
   * renewed, registered again when the registry restarts, and taken away by `close()`.
   */
  registry?: NonNullable<RegistryClientOptions["endpoint"]> | RegistryClient;
  /**
   * The service name the broker registers under; default `dividere.v1.Broker` (the service
   * its frontend answers). Brokers that share workers and callers share it; give brokers of
   * another pool another.
   */
  registerAs?: string;
  /**
   * The host the registry tells callers, as `serve()`'s: default the address the frontend is
   * bound to, or for a wildcard (`tcp://*:5555`) this host's first external IPv4 address.
   */
  host?: string;
  /** The lease of the broker's entry in ms, renewed every third of it; default 3000. */
  ttlMs?: number;
  /** Where a failure to register goes (once, until registering works again); default a line on stderr. The broker keeps trying. */
  onError?: (error: DividereError) => void;
}

/**
 * Counters of a broker. Requests of Python dividere's load-balancing pattern count too: handed
 * to a server (`dispatched`), replies passed back (`answered`), dropped for a full queue or a
 * stopping broker (`refused`), servers silent for 9 s (`workersLost`).
 */
export interface BrokerStats {
  /** Calls handed to a worker (a call moved to another worker counts again). */
  dispatched: number;
  /**
   * Per method ("/package.Service/Method") of the calls the broker took: calls, errors, the
   * last error, and their time from arrival to last answer, as their callers see it.
   */
  methods: Record<string, MethodStatsSnapshot>;
  /** Calls whose final answer went back to the caller. */
  answered: number;
  /** Calls moved to another worker because theirs was lost. */
  requeued: number;
  /** Calls a worker gave back unrun, because they reached it too late to start (it had been closed, say); moved to another worker. */
  givenBack: number;
  /** Calls their caller cancelled (a cancel, an abandoned attempt); one on a worker holds its slot until the worker ends it. */
  cancelled: number;
  /** Calls refused: queue full, unknown service. */
  refused: number;
  /** Queued calls whose deadline passed before a worker was free. */
  expired: number;
  /** Workers dropped because they stopped heartbeating. */
  workersLost: number;
  /** Cancels of no call in flight, and workers' answers to a call that moved or ended: ignored. */
  unmatched: number;
  /** Calls cut with `RESOURCE_EXHAUSTED` because what waited for their caller or worker reached `maxBacklogBytes`. */
  overflowed: number;
  /** Messages waiting in the broker for room in a caller's or worker's queue now, and their bytes (see `maxBacklogBytes`). */
  readonly backlog: { messages: number; bytes: number };
  /** Input that was no valid message, by reason. */
  dropped: MessagingStats["dropped"];
  /** Connections refused at their handshake, on either socket, because it held `maxConnections`. */
  readonly refusedConnections: number;
}
