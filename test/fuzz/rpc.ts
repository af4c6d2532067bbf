// RPC calls with wrong headers: unknown methods, absurd deadlines and ids, payloads that are
// not the method's input, cancels of calls that never were; each with the answer it must get.
// The Echo implementation they are made for is here too, so the two cannot drift apart.
import { create, toBinary } from "@bufbuild/protobuf";
import { type CallContext, type RpcCode, rpcProtocol } from "@dividere/runtime";
import type { EchoService } from "../fixtures/gen/test/services/v1/echo_dividere.js";
import { type EchoRequest, EchoRequestSchema } from "../fixtures/gen/test/services/v1/echo_pb.js";
import type { Random } from "../random.js";
import { type Sample, corruption, wellFormed } from "./envelopes.js";

export const ECHO = "test.services.v1.Echo";

/** Waits `ms`, or rejects with the signal's reason when it aborts first: a handler that honours its deadline. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

/**
 * The Echo service the fuzzed servers host: `say` sleeps `delayMs` watching its signal, a stream
 * has `count % 4` replies (none for a negative count). `unfinished` is left out on purpose: its calls must be answered
 * UNIMPLEMENTED, as a real server missing a method does.
 */
export const fuzzEcho = {
  async say(request: EchoRequest, ctx: CallContext) {
    if (request.delayMs) await sleep(request.delayMs, ctx.signal);
    if (request.fail) throw new Error(`told to fail: ${request.text}`);
    return { text: request.text, servedBy: "fuzz" };
  },
  async *count(request: EchoRequest) {
    for (let index = 0; index < request.count % 4; index++) yield { text: request.text, index, servedBy: "fuzz" };
  },
} satisfies Omit<EchoService, "unfinished" | "upload" | "collect" | "chat"> as Partial<EchoService> as EchoService;

/**
 * How a call must end: the status of its last answer, and the streamed answers before it;
 * `givenUp` when the server gives it up (its deadline passes in the handler): it is answered
 * with the reason all the same.
 */
export interface CallOutcome {
  readonly status: RpcCode | "OK";
  readonly streamed: number;
  readonly givenUp?: boolean;
}

/** One RpcRequest envelope (or RpcCancel, or a stray RpcResponse) and how it must end. */
export interface CallInput {
  readonly kind: string;
  readonly method: string;
  readonly bytes: Buffer;
  /** Undefined for input that is no call (a cancel, a response): it gets no answer. */
  readonly outcome: CallOutcome | undefined;
  /** An RpcCancel of a call not in flight, or an RpcResponse sent to a server. */
  readonly stray?: "cancel" | "response";
}

/** Ids at the edges of uint64, each used once per run, then 1, 2, 3, ... */
const EDGE_IDS = [0n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 2n ** 32n];
/** Cancels name ids no request uses. */
const STRAY_IDS = 2n ** 62n;

/** A deadline far enough out that it never passes during a run, often beyond what a timer can hold (2^31 - 1 ms). */
function farDeadline(random: Random): number {
  return random.pick([0, 0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, random.between(120_000, 2 ** 32 - 1)]);
}

const METHODS_NOT_SERVED = ["", "/", "//", `/${ECHO}/say`, `/${ECHO}/Say/`, `${ECHO}/Say`, `/${ECHO}`, "/nobody.v1.Service/Method", "/dividere.v1.Broker/Nope"];

/** The RpcRequest message (with the Echo request as its payload) as a frame; see {@link rpcSamples}. */
export const rpcSamples: Sample[] = [
  {
    schema: rpcProtocol.RpcRequestSchema,
    init: (random) => ({ id: BigInt(random.below(1000)), method: `/${ECHO}/Say`, payload: toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: random.text(10) })) }),
  },
  { schema: rpcProtocol.RpcCancelSchema, init: (random) => ({ id: STRAY_IDS + BigInt(random.below(1000)) }) },
];

/**
 * Calls of the Echo service and around it. `slowCalls` adds calls that sleep in the handler:
 * with a far deadline (they must be answered), and with a 1-5 ms one (they must be given up).
 */
export class EchoCalls {
  readonly #random: Random;
  readonly #slowCalls: boolean;
  #edgeIds = [...EDGE_IDS];
  #nextId = 1n;

  constructor(random: Random, options: { slowCalls: boolean }) {
    this.#random = random;
    this.#slowCalls = options.slowCalls;
  }

  /** A fresh id: the edge ids first, then counting up. */
  id(): bigint {
    return this.#edgeIds.shift() ?? this.#nextId++;
  }

  /** One call (or cancel, or stray response). */
  next(): CallInput {
    const random = this.#random;
    return random.weighted<() => CallInput>([
      [6, () => this.#say({})],
      [1, () => this.#say({ fail: true })],
      [this.#slowCalls ? 0.3 : 0, () => this.#say({ delayMs: random.between(5, 30) })],
      [this.#slowCalls ? 0.3 : 0, () => this.#say({ delayMs: random.between(30, 50) }, random.between(1, 5))],
      [2, () => this.#count()],
      [1, () => this.request("unimplemented method", `/${ECHO}/${random.pick(["Unfinished", "Upload"])}`, this.echoRequest({}), farDeadline(random), { status: "UNIMPLEMENTED", streamed: 0 })],
      [2, () => this.request("unknown method", random.pick([...METHODS_NOT_SERVED, random.text(30)]), this.echoRequest({}), farDeadline(random), { status: "UNIMPLEMENTED", streamed: 0 })],
      [2, () => this.#notTheInput()],
      [1, () => this.#strayCancel()],
      [1, () => this.#strayResponse()],
    ])();
  }

  /** An RpcRequest envelope, written by protobuf-es: the fields are wrong, not the encoding. */
  request(kind: string, method: string, payload: Uint8Array, timeoutMs: number, outcome: CallOutcome | undefined, id = this.id()): CallInput {
    const caller = this.#random.pick(["", this.#random.text(20), "x".repeat(300)]);
    const request = create(rpcProtocol.RpcRequestSchema, { id, method, timeoutMs, payload, caller });
    return { kind, method, bytes: wellFormed(rpcProtocol.RpcRequestSchema.typeName, toBinary(rpcProtocol.RpcRequestSchema, request)), outcome };
  }

  /** An Echo request with random text and these fields. */
  echoRequest(fields: { fail?: boolean; delayMs?: number; count?: number }): Uint8Array {
    const text = this.#random.text(40);
    return toBinary(EchoRequestSchema, create(EchoRequestSchema, { text, ...fields }));
  }

  #say(fields: { fail?: boolean; delayMs?: number }, timeoutMs = farDeadline(this.#random)): CallInput {
    const givenUp = fields.delayMs !== undefined && timeoutMs > 0 && timeoutMs < fields.delayMs;
    const kind = fields.fail ? "handler throws" : fields.delayMs ? (givenUp ? "deadline passes in the handler" : "slow call, far deadline") : "call";
    const outcome: CallOutcome = givenUp ? { status: "DEADLINE_EXCEEDED", streamed: 0, givenUp } : { status: fields.fail ? "INTERNAL" : "OK", streamed: 0 };
    return this.request(kind, `/${ECHO}/Say`, this.echoRequest(fields), timeoutMs, outcome);
  }

  #count(): CallInput {
    const count = this.#random.pick([0, 1, 2, 3, 2 ** 31 - 1, -1, -(2 ** 31), this.#random.below(2 ** 32) - 2 ** 31]);
    return this.request("stream", `/${ECHO}/Count`, this.echoRequest({ count }), farDeadline(this.#random), { status: "OK", streamed: Math.max(0, count % 4) });
  }

  #notTheInput(): CallInput {
    const payload = Buffer.concat([this.#random.chance(0.5) ? this.echoRequest({}) : Buffer.alloc(0), corruption(this.#random)]);
    const method = `/${ECHO}/${this.#random.pick(["Say", "Count"])}`;
    return this.request("payload not the method's input", method, payload, farDeadline(this.#random), { status: "INVALID_ARGUMENT", streamed: 0 });
  }

  #strayCancel(): CallInput {
    const cancel = create(rpcProtocol.RpcCancelSchema, { id: STRAY_IDS + BigInt(this.#random.below(2 ** 30)) });
    return { kind: "cancel of no call", method: "", bytes: wellFormed(rpcProtocol.RpcCancelSchema.typeName, toBinary(rpcProtocol.RpcCancelSchema, cancel)), outcome: undefined, stray: "cancel" };
  }

  #strayResponse(): CallInput {
    const response = create(rpcProtocol.RpcResponseSchema, { id: this.id(), payload: this.#random.bytes(this.#random.below(20)), code: this.#random.below(17) });
    return { kind: "response sent to a server", method: "", bytes: wellFormed(rpcProtocol.RpcResponseSchema.typeName, toBinary(rpcProtocol.RpcResponseSchema, response)), outcome: undefined, stray: "response" };
  }
}

/** What an RpcServer must count for a call: a drop, a stray cancel, or its answer. */
export function serverOutcome(call: CallInput): Record<string, number> {
  if (call.stray === "cancel") return { unmatched: 1 };
  if (call.stray === "response") return { "dropped.UNKNOWN_TYPE": 1 };
  const { status, streamed, givenUp } = call.outcome!;
  if (givenUp) return { cancelled: 1, [`reply.${status}`]: 1 };
  return status === "OK" ? { ok: 1, "reply.OK": 1, "reply.more": streamed } : { failed: 1, [`reply.${status}`]: 1 };
}
