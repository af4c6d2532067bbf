import { EventEmitter } from "node:events";
import type * as zmq from "zeromq";
import type { DividereError } from "../errors.js";
import { debug } from "../log.js";

/** A ZeroMQ socket monitor event: `type` ("connect", "disconnect", "accept", "bind:error", ...) and `address`. */
export type SocketEvent = zmq.Event;

/**
 * What `socket.events` emits: every ZeroMQ monitor event under its own type, `dropped` when
 * a messaging socket discards input it cannot use, and `subscription` on a Publisher.
 */
export type SocketEventMap = { [K in zmq.EventType]: [zmq.EventOfType<K>] } & {
  /** Received input was discarded; the error's code says why (`NOT_AN_ENVELOPE`, `UNKNOWN_TYPE`, ...). */
  dropped: [DividereError];
  /** A Publisher's subscriber subscribed to `topic` (or unsubscribed, or left). */
  subscription: [{ subscribed: boolean; topic: Buffer }];
};

/** The typed emitter behind `socket.events`. */
export type SocketEvents = EventEmitter<SocketEventMap>;

/** The connections of a socket (see `SocketOptions.maxConnections`). */
export interface ConnectionStats {
  /** Open now: accepted or made (TCP, IPC), and not yet ended; from ZeroMQ's monitor events, so a moment late. */
  readonly open: number;
  /** Refused at their handshake because the socket held `maxConnections`; a refused peer tries again, and counts again. */
  readonly refused: number;
}

/** The live counts behind a socket's {@link ConnectionStats}. */
export class ConnectionCount implements ConnectionStats {
  open = 0;
  refused = 0;

  constructor(events: SocketEvents) {
    // Every connection ZeroMQ accepts or makes ends in exactly one disconnect event, whatever ends it.
    events.on("accept", () => this.open++);
    events.on("connect", () => this.open++);
    events.on("disconnect", () => this.open--);
  }
}

/**
 * Forwards the monitor events of `socket` to a new emitter and to the debug log.
 * Must run before the socket binds or connects: zeromq.js starts observing when
 * `socket.events` is first touched.
 */
export function monitor(socket: zmq.Socket, describe: () => string): SocketEvents {
  const events = new EventEmitter<SocketEventMap>();
  const observer = socket.events;
  void (async () => {
    try {
      for await (const event of observer) {
        if (debug.enabled) debug("%s %s%s", describe(), event.type, describeEvent(event));
        (events.emit as (type: string, event: SocketEvent) => boolean)(event.type, event);
      }
    } catch (error) {
      debug("%s monitor stopped: %s", describe(), error);
    }
  })();
  return events;
}

function describeEvent(event: SocketEvent): string {
  const parts: string[] = [];
  if ("address" in event) parts.push(event.address);
  if ("interval" in event) parts.push(`retry in ${event.interval} ms`);
  if ("error" in event) {
    const error = event.error as Error & { code?: string; status?: number };
    const code = error.code ?? error.status;
    parts.push(`${error.message}${code ? ` (${code})` : ""}`);
  }
  return parts.length ? ` ${parts.join(" ")}` : "";
}
