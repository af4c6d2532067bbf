// Input for a broker from both sides: calls from a client that gets them wrong, and messages
// from a "worker" that announces itself with strange fields, answers calls it never had, and
// gets the framing wrong. Each says what the broker must count or answer.
import { type DescMessage, type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { MsgLib, brokerProtocol, rpcProtocol } from "@dividere/runtime";
import type { Random } from "../random.js";
import { BadEnvelopes, wellFormed } from "./envelopes.js";
import { type CallInput, ECHO, EchoCalls } from "./rpc.js";
import type { Counts, FuzzInput } from "./tally.js";

function frame<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Buffer {
  return wellFormed(schema.typeName, toBinary(schema, create(schema, init)));
}

/** What the broker must count for a call, given where its method path sends it (a stray response is the caller's to model). */
export function brokerOutcome(call: CallInput): Counts {
  if (call.stray === "cancel") return { unmatched: 1 };
  const service = call.method.split("/")[1] ?? "";
  if (service === "dividere.v1.Broker") {
    return call.method === "/dividere.v1.Broker/Services" ? { answered: 1, "reply.OK": 1 } : { refused: 1, "reply.UNIMPLEMENTED": 1 };
  }
  if (service !== ECHO) return { refused: 1, "reply.NOT_FOUND": 1 };
  const { status, streamed } = call.outcome!;
  return { dispatched: 1, answered: 1, [`reply.${status}`]: 1, "reply.more": streamed, [status === "OK" ? "worker.ok" : "worker.failed"]: 1 };
}

const WORKER_TYPES = [brokerProtocol.WorkerReadySchema, MsgLib.HeartbeatSchema, rpcProtocol.RpcResponseSchema, brokerProtocol.WorkerDisconnectSchema];

/**
 * What a client sends a broker's frontend: calls, bad envelopes, the wrong frame count, a
 * worker's messages. An envelope of a type that is no call is a request of Python dividere's
 * load-balancing pattern: with no Python server at the broker it waits in the pattern's queue
 * (`python.queued`), once, however often the same bytes come (a Lazy Pirate resend).
 */
export class ClientInputs {
  readonly #random: Random;
  readonly #bad: BadEnvelopes;
  readonly #calls: EchoCalls;
  readonly #queued = new Set<string>();

  constructor(random: Random, bad: BadEnvelopes) {
    this.#random = random;
    this.#bad = bad;
    this.#calls = new EchoCalls(random, { slowCalls: false });
  }

  next(): FuzzInput {
    const random = this.#random;
    return random.weighted<() => FuzzInput>([
      [10, () => this.#call()],
      [1, () => this.#sameIdTwice()],
      [1, () => ({ kind: "services of the broker", frames: [this.#calls.request("broker services", "/dividere.v1.Broker/Services", new Uint8Array(0), 0, undefined).bytes], expect: { answered: 1, "reply.OK": 1 } })],
      [8, () => {
        const bad = this.#bad.next();
        const expect = bad.reason === "UNKNOWN_TYPE" ? this.#pythonRequest(bad.bytes) : BadEnvelopes.dropped(bad.reason);
        return { kind: bad.kind, frames: [bad.bytes], expect };
      }],
      [2, () => ({ kind: "more than one frame", frames: [random.pick([Buffer.alloc(0), random.bytes(4)]), this.#call().frames[0]!], expect: BadEnvelopes.dropped("NOT_AN_ENVELOPE") })],
      [1, () => {
        const bytes = frame(random.pick(WORKER_TYPES), {});
        return { kind: "a worker's message to the frontend", frames: [bytes], expect: this.#pythonRequest(bytes) };
      }],
    ])();
  }

  #call(): FuzzInput {
    const call = this.#calls.next();
    const expect = call.stray === "response" ? this.#pythonRequest(call.bytes) : brokerOutcome(call);
    return { kind: call.kind, frames: [call.bytes], expect };
  }

  #pythonRequest(bytes: Buffer): Counts {
    const key = bytes.toString("latin1");
    if (this.#queued.has(key)) return {};
    this.#queued.add(key);
    return { "python.queued": 1 };
  }

  /**
   * A call, then another with the same id while the first is surely in flight (its handler
   * sleeps 100 ms): the second must be refused, not taken for the first.
   */
  #sameIdTwice(): FuzzInput {
    const id = this.#calls.id();
    const slow = this.#calls.request("slow call", `/${ECHO}/Say`, this.#calls.echoRequest({ delayMs: 100 }), 0, { status: "OK", streamed: 0 }, id);
    const again = this.#calls.request("same id again", `/${ECHO}/Say`, this.#calls.echoRequest({}), 0, undefined, id);
    const then = { kind: "an id already in flight", frames: [again.bytes], expect: { refused: 1, "reply.ALREADY_EXISTS": 1 } };
    return { kind: "slow call", frames: [slow.bytes], expect: brokerOutcome(slow), then };
  }
}

/**
 * What a "worker" sends a broker's backend. The broker's answer depends on whether it knows the
 * worker, so this follows that: WorkerReady makes it known (a second one replaces it, which
 * counts as a lost worker), WorkerDisconnect unknown again. It announces only services no
 * client calls, so no real call ever waits for it.
 */
export class WorkerInputs {
  readonly #random: Random;
  readonly #bad: BadEnvelopes;
  #known = false;

  constructor(random: Random, bad: BadEnvelopes) {
    this.#random = random;
    this.#bad = bad;
  }

  next(): FuzzInput {
    const random = this.#random;
    const unknown = { "backend.WorkerDisconnect": 1 };
    return random.weighted<() => FuzzInput>([
      [8, () => {
        const bad = this.#bad.next();
        return { kind: bad.kind, frames: [bad.bytes], expect: BadEnvelopes.dropped(bad.reason) };
      }],
      [1, () => this.#ready()],
      [this.#known ? 1 : 0, () => ((this.#known = false), { kind: "goodbye", frames: [frame(brokerProtocol.WorkerDisconnectSchema, {})], expect: {} })],
      [this.#known ? 0 : 1, () => ({ kind: "heartbeat of a worker the broker does not know", frames: [frame(MsgLib.HeartbeatSchema, { id: random.text(10) })], expect: unknown })],
      [3, () => {
        const answer = frame(rpcProtocol.RpcResponseSchema, { id: BigInt(random.below(2 ** 32)), payload: random.bytes(random.below(30)), more: random.chance(0.3) });
        const route = random.pick([[], [random.bytes(5)], [random.bytes(5), Buffer.alloc(0)]]);
        const known = route.length === 1 ? { unmatched: 1 } : BadEnvelopes.dropped("NOT_AN_ENVELOPE");
        return { kind: route.length === 1 ? "answer to no call" : "answer without its client frame", frames: [...route, answer], expect: this.#known ? known : unknown };
      }],
      [1, () => {
        // A cancel from a worker gives back a call it was handed: of no call here.
        const { typeName, bytes } = this.#bad.validOf();
        const expect = typeName !== "dividere.v1.RpcCancel" ? BadEnvelopes.dropped("UNKNOWN_TYPE") : this.#known ? { unmatched: 1 } : unknown;
        return { kind: "a client's message to the backend", frames: [random.bytes(5), bytes], expect };
      }],
    ])();
  }

  #ready(): FuzzInput {
    const random = this.#random;
    const services = Array.from({ length: random.below(4) }, () => `fuzz.backend.${random.text(20)}`);
    const capacity = random.pick([0, 1, 2 ** 31, 2 ** 32 - 1]);
    // Its first heartbeat comes at once: a worker learns the broker's clock before any call.
    const expect: Counts = { "backend.BrokerHeartbeat": 1, ...(this.#known ? { workersLost: 1 } : {}) };
    this.#known = true;
    return { kind: "worker announces itself", frames: [frame(brokerProtocol.WorkerReadySchema, { services, workerId: random.text(30), capacity })], expect };
  }
}
