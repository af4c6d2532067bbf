import { create } from "@bufbuild/protobuf";
import type { Router } from "../connection/routing.js";
import { ServerQueue, type ServerQueueEvent } from "../connection/server-queue.js";
import { EnvelopeCodec, parseEnvelope } from "../envelope/codec.js";
import { envelopeTopic } from "../envelope/wire.js";
import { HeartbeatSchema } from "../gen/dividere/MsgLib_pb.js";
import { type ServiceStatus, ServiceStatusSchema } from "../gen/dividere/v1/broker_pb.js";
import { RpcCancelSchema, RpcCreditSchema, RpcRequestItemSchema, RpcRequestSchema } from "../gen/dividere/v1/rpc_pb.js";
import { debug } from "../log.js";

/** How the broker's service list names Python's pattern, which has no services: any server takes any request. */
export const PYTHON_PATTERN_NAME = "python:LoadBalancingPattern";

/** What the pattern counts, in the broker's terms. */
export type PythonPatternEvent = ServerQueueEvent | "answered";

/** What {@link PythonPattern} needs from the broker that holds it. */
export interface PythonPatternHost {
  readonly frontend: Router;
  readonly backend: Router;
  readonly maxQueued: number;
  count(event: PythonPatternEvent): void;
  /** Called whenever no request of the pattern is waiting or on a server. */
  settled(): void;
}

const callTypes: readonly string[] = [RpcRequestSchema.typeName, RpcCancelSchema.typeName, RpcRequestItemSchema.typeName, RpcCreditSchema.typeName];
// An envelope's first bytes name its type exactly, length included: a call is told at a glance.
const callPrefixes = callTypes.map((typeName) => Buffer.from(envelopeTopic(typeName)));

/**
 * Python dividere's `messaging.LoadBalancingPattern` inside a {@link Broker}, on the broker's two
 * ports beside the dividere.v1 traffic: its servers are told from dividere workers by their
 * first message (a `Heartbeat` whose id is the server's own identity, where a worker's names its
 * workerId under a ZeroMQ identity, or a reply of a type outside dividere.v1), its requests
 * from calls by their type. Requests and replies pass through as they came; servers are
 * heartbeated at Python's rate (see {@link ServerQueue}).
 */
export class PythonPattern {
  readonly #host: PythonPatternHost;
  readonly #queue: ServerQueue;
  readonly #codec = new EnvelopeCodec([HeartbeatSchema]);

  constructor(host: PythonPatternHost) {
    this.#host = host;
    this.#queue = new ServerQueue({
      maxQueued: host.maxQueued,
      toServer: (identity, frames) => this.#toServer(identity, frames),
      heartbeat: (identity) => this.#codec.encode(HeartbeatSchema, { id: identity.toString() }),
      count: (event) => host.count(event),
      settled: () => host.settled(),
    });
  }

  /** Requests waiting for a server or on one, not yet answered. */
  get pending(): number {
    return this.#queue.pending;
  }

  /** The pattern's line in the broker's service list, once it has a server or a request. */
  status(): ServiceStatus | undefined {
    const { known, free } = this.#queue.servers;
    const queued = this.#queue.queued;
    if (known === 0 && queued === 0) return undefined;
    return create(ServiceStatusSchema, { name: PYTHON_PATTERN_NAME, workers: known, free, queued });
  }

  /**
   * Takes a caller's `[clientId, envelope]` if it is a request of the pattern, an envelope of
   * any type but a dividere.v1 call (RpcRequest, RpcCancel): true when taken. Calls, and frames
   * that are no envelope, are the broker's.
   */
  takeRequest(frames: Buffer[]): boolean {
    const frame = frames[1]!;
    if (callPrefixes.some((prefix) => frame.length > prefix.length && frame.subarray(0, prefix.length).equals(prefix))) return false;
    let typeName: string;
    try {
      typeName = parseEnvelope(frame).typeName;
    } catch {
      return false;
    }
    if (callTypes.includes(typeName)) return false;
    this.#queue.request(frames);
    return true;
  }

  /**
   * Takes the backend's `frames` if they come from a server of the pattern (known, or
   * announcing itself): true when taken. Anything from a server frees it; a reply
   * `[serverId, clientId, envelope]` goes on to the client as `[clientId, envelope]`.
   */
  claim(frames: Buffer[]): boolean {
    const identity = frames[0]!;
    if (!this.#queue.has(identity) && !this.#announces(identity, frames)) return false;
    if (frames.length >= 3) {
      this.#host.count("answered");
      this.#host.frontend.send(frames.slice(1)).catch((error: unknown) => debug("broker: cannot answer a Python-pattern client: %s", error));
    }
    this.#queue.heard(identity);
    return true;
  }

  /** The broker stops: new requests are refused; those waiting still go to servers. */
  drain(): void {
    this.#queue.drain();
  }

  /** Stops heartbeating; requests still waiting are dropped. */
  close(): void {
    this.#queue.close();
  }

  /** A Python server the broker does not know yet: its first Heartbeat, or a reply after a broker restart. */
  #announces(identity: Buffer, frames: Buffer[]): boolean {
    let typeName: string;
    try {
      typeName = parseEnvelope(frames[frames.length - 1]!).typeName;
    } catch {
      return false;
    }
    if (typeName === HeartbeatSchema.typeName && frames.length === 2) {
      try {
        return this.#codec.decode(frames[1]!).id === identity.toString();
      } catch {
        return false;
      }
    }
    return frames.length >= 3 && !typeName.startsWith("dividere.v1.");
  }

  #toServer(identity: Buffer, frames: readonly (Uint8Array | string)[]): void {
    this.#host.backend.send([identity, ...frames]).catch((error: unknown) => debug("broker: cannot reach a Python-pattern server: %s", error));
  }
}
