import type { Message } from "@bufbuild/protobuf";
import { DividereError } from "../errors.js";
import type { MessageContext } from "./context.js";

/** Handles one message; `ctx` says where it came from and can reply. */
export type Handler = (message: Message, ctx: MessageContext) => void | Promise<void>;

/** Which handler takes which message type (by full name): what a Reactor dispatches with. */
export interface Dispatch {
  /** The handler of each message type, keyed by the type's full name (`chat.v1.Said`). */
  readonly handlers: ReadonlyMap<string, Handler>;
}

/**
 * A dispatch table that calls methods of `handlers`: `routes` maps a message type's full name
 * to the name of the method that handles it. Generated `fooDispatch()` functions call this;
 * methods the object lacks are left out (the reactor reports their messages as unhandled).
 *
 * ```ts
 * const dispatch = createDispatch(moderator, { "chat.v1.Said": "handleSaid" });
 * ```
 */
export function createDispatch(handlers: object, routes: Readonly<Record<string, string>>): Dispatch {
  const table = new Map<string, Handler>();
  for (const [typeName, method] of Object.entries(routes)) {
    const handler = (handlers as Record<string, unknown>)[method];
    if (handler === undefined) continue;
    if (typeof handler !== "function") {
      throw new DividereError("INVALID_ARGUMENT", `handler ${method} for ${typeName} is a ${typeof handler}, not a function`);
    }
    table.set(typeName, (message, ctx) => (handler as Handler).call(handlers, message, ctx));
  }
  return { handlers: table };
}

/** Several dispatch tables as one; a message type with handlers in two of them is an error. */
export function mergeDispatch(tables: readonly Dispatch[]): Dispatch {
  const merged = new Map<string, Handler>();
  for (const table of tables) {
    for (const [typeName, handler] of table.handlers) {
      if (merged.has(typeName)) {
        throw new DividereError("INVALID_ARGUMENT", `two dispatch tables handle ${typeName}; give each message type one handler`);
      }
      merged.set(typeName, handler);
    }
  }
  return { handlers: merged };
}
