import type { Message } from "@bufbuild/protobuf";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { Routed } from "../messaging/socket.js";
import { Response } from "../messaging/reqrep.js";
import { Dealer, Router } from "../messaging/routing.js";
import { type MessageContext, ReceivedContext, type ReactorSocket } from "./context.js";
import { type Dispatch, mergeDispatch } from "./dispatch.js";

/** Options of a {@link Reactor}. */
export interface ReactorOptions {
  /** Called every `idleIntervalMs` while the reactor runs, never twice at once (Python's `idle()`). */
  idle?: () => void | Promise<void>;
  /** How often `idle` runs, in ms; default 1000. */
  idleIntervalMs?: number;
  /**
   * Messages handled at the same time per socket; default 1: one after the other, in arrival
   * order. A Response always handles one at a time (it must reply before the next request).
   */
  concurrency?: number;
  /**
   * Where failures go: a handler that threw (`HANDLER_FAILED`), a message no handler takes or
   * a request left unanswered (`UNHANDLED`). Default: a line on stderr. The loop goes on.
   */
  onError?: (error: DividereError, ctx: MessageContext | undefined) => void;
  /** @internal Where to count: a WorkerReactor's thread counts into memory its parent reads. */
  [countInto]?: ReactorStats;
}

/** @internal The option a WorkerReactor's thread counts through. */
export const countInto: unique symbol = Symbol("dividere.countInto");

/** Counters of a reactor. */
export interface ReactorStats {
  /** Messages a handler took and finished without throwing. */
  handled: number;
  /** Messages no handler takes. */
  unhandled: number;
  /** Messages whose handler threw. */
  failed: number;
}

function reportToStderr(error: DividereError): void {
  console.error(`dividere reactor: ${error.message}`);
}

/**
 * One event loop serving any number of messaging sockets (Subscriber, Response, Router,
 * Dealer, Pull): each message is decoded by its socket and handed to the handler of its type,
 * with the socket it came on. The successor of Python dividere's `MtMsgReactor`. It starts at
 * once, and owns its sockets: `close()` closes them.
 *
 * ```ts
 * const reactor = new Reactor([new ChatSubscriber("tcp://localhost:5555")], chatDispatch(moderator));
 * await reactor.close();
 * ```
 */
export class Reactor {
  readonly #counts: ReactorStats;
  readonly #sockets: readonly ReactorSocket[];
  readonly #dispatch: Dispatch;
  readonly #options: ReactorOptions;
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[];
  readonly #idleTimer: NodeJS.Timeout | undefined;
  #idling: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(sockets: ReactorSocket | readonly ReactorSocket[], dispatch: Dispatch | readonly Dispatch[], options: ReactorOptions = {}) {
    this.#sockets = Array.isArray(sockets) ? [...(sockets as readonly ReactorSocket[])] : [sockets as ReactorSocket];
    this.#dispatch = Array.isArray(dispatch) ? mergeDispatch(dispatch as readonly Dispatch[]) : (dispatch as Dispatch);
    this.#options = options;
    this.#counts = options[countInto] ?? { handled: 0, unhandled: 0, failed: 0 };
    const concurrency = options.concurrency ?? 1;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
      throw new DividereError("INVALID_ARGUMENT", `concurrency must be a whole number of at least 1, got ${concurrency}`);
    }
    this.#loops = this.#sockets.map((socket) => this.#serve(socket, socket instanceof Response ? 1 : concurrency));
    if (options.idle) {
      const idle = options.idle;
      this.#idleTimer = setInterval(() => {
        this.#idling ??= this.#runIdle(idle).finally(() => (this.#idling = undefined));
      }, options.idleIntervalMs ?? 1000);
    }
    debug("reactor started on %s", this.#sockets.map((socket) => socket.name).join(", "));
  }

  /** A snapshot of the counters: handled, unhandled and failed messages. */
  get stats(): ReactorStats {
    return { handled: this.#counts.handled, unhandled: this.#counts.unhandled, failed: this.#counts.failed };
  }

  /** True until `close()` is called. */
  get running(): boolean {
    return this.#closing === undefined;
  }

  /**
   * Stops receiving, waits for the handlers in flight to finish, then closes the sockets.
   * Messages not yet received stay unread. Later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort();
      clearInterval(this.#idleTimer);
      await Promise.all(this.#loops);
      await this.#idling;
      await Promise.all(this.#sockets.map((socket) => socket.close()));
      debug("reactor closed: %j", this.stats);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #serve(socket: ReactorSocket, concurrency: number): Promise<void> {
    const signal = this.#abort.signal;
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      let received: Message | Routed<Message>;
      try {
        received = await (socket.recv as (options: { signal: AbortSignal }) => Promise<Message | Routed<Message>>)({ signal });
      } catch (error) {
        if (DividereError.is(error, "CANCELLED") || DividereError.is(error, "CLOSED")) break;
        this.#report(new DividereError("ZMQ", `${socket.name}: receive failed: ${(error as Error).message}`, { cause: error }), undefined);
        continue;
      }
      if (concurrency === 1) {
        // One at a time: no bookkeeping of tasks in flight.
        await this.#handle(socket, received);
        continue;
      }
      const task = this.#handle(socket, received).finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }

  async #handle(socket: ReactorSocket, received: Message | Routed<Message>): Promise<void> {
    const routed = socket instanceof Router || socket instanceof Dealer;
    const message = routed ? (received as Routed<Message>).message : (received as Message);
    const ctx = new ReceivedContext(socket, routed ? (received as Routed<Message>).route : [], this.#abort.signal);
    const handler = this.#dispatch.handlers.get(message.$typeName);
    // Reported already (no handler, or it threw): that it did not reply follows, and is not said again.
    let reported = false;
    if (!handler) {
      reported = true;
      this.#counts.unhandled++;
      this.#report(new DividereError("UNHANDLED", `${socket.name}: no handler for ${message.$typeName}`), ctx);
    } else {
      try {
        await handler(message, ctx);
        this.#counts.handled++;
      } catch (error) {
        reported = true;
        this.#counts.failed++;
        this.#report(
          new DividereError("HANDLER_FAILED", `${socket.name}: the handler of ${message.$typeName} threw: ${(error as Error)?.message ?? error}`, {
            cause: error,
          }),
          ctx,
        );
      }
    }
    if (socket instanceof Response && socket.pendingReply) {
      socket.abandon();
      if (reported) return;
      this.#report(
        new DividereError("UNHANDLED", `${socket.name}: the ${message.$typeName} request got no reply; call ctx.reply() in its handler`),
        ctx,
      );
    }
  }

  async #runIdle(idle: () => void | Promise<void>): Promise<void> {
    try {
      await idle();
    } catch (error) {
      this.#report(new DividereError("HANDLER_FAILED", `idle() threw: ${(error as Error)?.message ?? error}`, { cause: error }), undefined);
    }
  }

  #report(error: DividereError, ctx: MessageContext | undefined): void {
    debug("reactor: %s", error.message);
    try {
      (this.#options.onError ?? reportToStderr)(error, ctx);
    } catch (thrown) {
      debug("reactor: onError threw: %s", thrown);
    }
  }
}
