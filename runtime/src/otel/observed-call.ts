/**
 * One call as a span and a duration measurement, shared by the client's and the server's
 * interceptor: started as the call enters the interceptor, ended once, when its answer is
 * complete (a unary or client-streaming call's reply, the end of a stream) or it fails.
 * @module
 */
import { type Attributes, type Context, type Histogram, type Span, SpanKind, SpanStatusCode, type Tracer, context, trace } from "@opentelemetry/api";
import type { Message } from "@bufbuild/protobuf";
import type { CallResponse } from "../rpc/interceptor.js";
import { RpcError } from "../rpc/status.js";
import { ATTR_ERROR_TYPE, ATTR_RPC_RESPONSE_STATUS_CODE, isFailure } from "./semconv.js";

/** What a side records with: its tracer and its duration histogram. */
export interface Instruments {
  readonly tracer: Tracer;
  readonly duration: Histogram;
}

/** A call being observed, from its start until {@link end}. */
export class ObservedCall {
  /** The context the call's span is active in: what the rest of the chain (and a server's handler) runs in. */
  readonly context: Context;
  readonly #span: Span;
  readonly #side: "client" | "server";
  readonly #attributes: Attributes;
  readonly #duration: Histogram;
  readonly #started = performance.now();
  #ended = false;

  constructor(side: "client" | "server", instruments: Instruments, parent: Context, name: string, attributes: Attributes) {
    this.#side = side;
    this.#attributes = attributes;
    this.#duration = instruments.duration;
    const kind = side === "client" ? SpanKind.CLIENT : SpanKind.SERVER;
    this.#span = instruments.tracer.startSpan(name, { kind, attributes }, parent);
    this.context = trace.setSpan(parent, this.#span);
  }

  /** Runs `fn` with the call's span active. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  /**
   * Runs the rest of the chain with the call's span active, and ends the call with its answer:
   * at once for one message; for a stream, when it has been read to its end, failed or was
   * left early (CANCELLED). Every step of the stream runs with the span active too, so that a
   * streaming handler's own calls are its children.
   */
  async around(next: () => Promise<CallResponse>): Promise<CallResponse> {
    let res: CallResponse;
    try {
      res = await this.run(next);
    } catch (error) {
      this.end(error);
      throw error;
    }
    if (!res.stream) {
      this.end();
      return res;
    }
    return { ...res, message: this.#observedStream(res.message) };
  }

  /** Ends the span and records the duration, with the code the call ended with (OK without an error); only the first end counts. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    const failure = error === undefined ? undefined : RpcError.from(error);
    const code = failure?.code ?? "OK";
    const attributes: Attributes = { ...this.#attributes, [ATTR_RPC_RESPONSE_STATUS_CODE]: code };
    this.#span.setAttribute(ATTR_RPC_RESPONSE_STATUS_CODE, code);
    if (failure && isFailure(this.#side, failure.code)) {
      attributes[ATTR_ERROR_TYPE] = failure.code;
      this.#span.setAttribute(ATTR_ERROR_TYPE, failure.code);
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
    }
    this.#duration.record((performance.now() - this.#started) / 1000, attributes, this.context);
    this.#span.end();
  }

  #observedStream(messages: AsyncIterable<Message>): AsyncIterable<Message> {
    return {
      [Symbol.asyncIterator]: () => {
        const inner = messages[Symbol.asyncIterator]();
        return {
          next: async () => {
            try {
              const result = await this.run(() => inner.next());
              if (result.done) this.end();
              return result;
            } catch (error) {
              this.end(error);
              throw error;
            }
          },
          return: async (value?: unknown) => {
            this.end(new RpcError("CANCELLED", "the stream was left before its end"));
            return (await this.run(() => inner.return?.(value))) ?? { done: true, value: undefined };
          },
        };
      },
    };
  }
}
