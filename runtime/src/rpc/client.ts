import {
  type DescMessage,
  type DescMethod,
  type MessageInitShape,
  type MessageShape,
  create,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import type { Channel, ChannelOptions } from "./channel.js";
import { RpcError } from "./status.js";
import type { Transport } from "./transport.js";
import { type CallOptions, methodPath } from "./types.js";

type Method<I extends DescMessage, O extends DescMessage> = DescMethod & { readonly input: I; readonly output: O };

/** First pause between attempts, unless a call or its transport says otherwise; it doubles with each retry. */
const RETRY_DELAY_MS = 25;

/**
 * Makes calls over a transport: deadlines, cancellation, retries. Generated clients
 * (`HistoryClient`) are thin wrappers of this. How many calls go out at once is bounded per
 * connection by the transport's `maxInFlight` (default 1000): a call beyond it waits, unsent,
 * within its deadline and signal (see {@link ChannelOptions.maxInFlight}).
 */
export class RpcClient {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** Calls a unary method; resolves with its reply, rejects with an {@link RpcError}. */
  async unary<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    const payload = encodeRequest(method, request);
    let reply: MessageShape<O> | undefined;
    await this.#attempts(method, options, () => true, (attempt) =>
      attempt.run(payload, (message) => (reply = message)),
    );
    // An all-default reply travels as zero bytes, and so as no message at all.
    return reply ?? create(method.output);
  }

  /** Calls a server-streaming method; yields each reply, throws an {@link RpcError} when the call fails. */
  async *serverStream<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>, void, undefined> {
    const payload = encodeRequest(method, request);
    const queue: MessageShape<O>[] = [];
    let ended = false;
    let failure: RpcError | undefined;
    let wake: (() => void) | undefined;
    let current: Attempt<O> | undefined;
    const finished = this.#attempts(
      method,
      options,
      () => !current?.delivered, // once messages arrived, a retry would repeat them
      (attempt) => {
        current = attempt;
        return attempt.run(payload, (message) => {
          queue.push(message);
          wake?.();
        });
      },
    ).then(
      () => undefined,
      (error: unknown) => {
        failure = RpcError.from(error);
      },
    ).finally(() => {
      ended = true;
      wake?.();
    });
    try {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
        } else if (ended) {
          break;
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      }
      await finished;
      if (failure) throw failure;
    } finally {
      if (!ended) current?.cancel(new RpcError("CANCELLED", `${methodPath(method)}: the caller stopped reading the stream`));
    }
  }

  /** Runs attempts on channels of the transport until one succeeds, the error is final, or time is up. */
  async #attempts<O extends DescMessage>(
    method: Method<DescMessage, O>,
    callOptions: CallOptions,
    mayRetry: () => boolean,
    run: (attempt: Attempt<O>) => Promise<void>,
  ): Promise<void> {
    const defaults = this.#transport.defaults;
    const options = defaults ? { ...defaults, ...callOptions } : callOptions;
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const tried: Channel[] = [];
    for (let retry = 0; ; retry++) {
      try {
        const offered = this.#transport.channel(method.parent.typeName, tried);
        const channel = offered instanceof Promise ? await offered : offered;
        tried.push(channel);
        await run(new Attempt(method, channel, deadline, options.attemptTimeoutMs, options.signal));
        return;
      } catch (error) {
        const rpcError = RpcError.from(error);
        const left = deadline === undefined ? Number.POSITIVE_INFINITY : deadline - Date.now();
        const retries = options.retries ?? 0;
        if (rpcError.code !== "UNAVAILABLE" || left <= 0 || !mayRetry()) throw rpcError;
        if (retry >= retries) {
          if (retries === 0) throw rpcError;
          throw new RpcError("UNAVAILABLE", `${methodPath(method)}: ${rpcError.message} (gave up after ${retries + 1} attempts)`, { cause: rpcError });
        }
        const pause = (options.retryDelayMs ?? RETRY_DELAY_MS) * 2 ** retry;
        await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
      }
    }
  }
}

/** One attempt of a call on one channel, watching its deadline and abort signal. */
class Attempt<O extends DescMessage> {
  /** True once a reply message arrived. */
  delivered = false;
  #id: number | undefined;
  #settle: ((error: RpcError | undefined) => void) | undefined;

  constructor(
    readonly method: Method<DescMessage, O>,
    readonly channel: Channel,
    readonly deadline: number | undefined,
    readonly attemptTimeoutMs: number | undefined,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** Sends the request; `onMessage` gets each reply message; settles when the call ends. */
  run(payload: Uint8Array, onMessage: (message: MessageShape<O>) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { signal, deadline, attemptTimeoutMs } = this;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = signal && (() => this.cancel(new RpcError("CANCELLED", `${this.#path}: the call was cancelled by its AbortSignal`, { cause: signal.reason })));
      this.#settle = (error) => {
        this.#settle = undefined;
        if (timer) clearTimeout(timer);
        if (onAbort) signal.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve();
      };
      if (signal?.aborted) return onAbort!();
      const left = deadline === undefined ? 0 : deadline - Date.now();
      if (deadline !== undefined && left <= 0) {
        return this.#settle(new RpcError("DEADLINE_EXCEEDED", `${this.#path}: the deadline passed before the call was sent`));
      }
      if (onAbort) signal.addEventListener("abort", onAbort, { once: true });
      if (attemptTimeoutMs !== undefined && (deadline === undefined || attemptTimeoutMs < left)) {
        timer = setTimeout(() => this.cancel(new RpcError("UNAVAILABLE", `no reply within ${attemptTimeoutMs} ms from ${this.channel.endpoint}`)), attemptTimeoutMs);
      } else if (deadline !== undefined) {
        timer = setTimeout(() => this.cancel(this.#deadlineExceeded()), left);
      }
      this.#id = this.channel.start(this.method, payload, deadline, {
        item: (bytes) => {
          let message: MessageShape<O>;
          try {
            message = fromBinary(this.method.output, bytes);
          } catch (error) {
            this.cancel(new RpcError("DATA_LOSS", `${this.#path}: the reply is not a ${this.method.output.typeName}: ${(error as Error).message}`));
            return;
          }
          this.delivered = true;
          onMessage(message);
        },
        end: (error) => this.#settle?.(error),
      });
    });
  }

  get #path(): string {
    return methodPath(this.method);
  }

  #deadlineExceeded(): RpcError {
    if (this.#id !== undefined && this.channel.isWaiting(this.#id)) {
      return new RpcError(
        "DEADLINE_EXCEEDED",
        `${this.#path}: the deadline passed while the call waited for a free place among the calls in flight to ${this.channel.endpoint} (maxInFlight); it was never sent`,
      );
    }
    return new RpcError("DEADLINE_EXCEEDED", `${this.#path}: no reply within the deadline`);
  }

  /** Gives up: the server is told, the attempt fails with `error`. */
  cancel(error: RpcError): void {
    if (!this.#settle) return;
    if (this.#id !== undefined) this.channel.cancel(this.#id);
    this.#settle(error);
  }
}

function encodeRequest<I extends DescMessage>(method: DescMethod & { input: I }, request: MessageInitShape<I>): Uint8Array {
  try {
    return toBinary(method.input, create(method.input, request));
  } catch (error) {
    throw new RpcError("INVALID_ARGUMENT", `${methodPath(method)}: the request is not a ${method.input.typeName}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
