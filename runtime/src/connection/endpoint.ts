import { DividereError } from "../errors.js";

/**
 * Where a socket binds or connects.
 *
 * - A string follows the Python dividere convention: `tcp://*:5555` (host `*`) binds,
 *   anything else (`tcp://localhost:5555`, `ipc:///tmp/x`, `inproc://x`) connects.
 *   `tcp://*:0` binds an ephemeral port; read it back from `socket.endpoint`.
 * - An array applies the convention to each entry (a Request may connect to several servers).
 * - `{ bind, connect }` says it explicitly, e.g. `{ bind: "ipc:///tmp/feed" }` or
 *   `{ bind: "tcp://127.0.0.1:0" }`.
 */
export type Endpoint =
  | string
  | readonly string[]
  | { readonly bind?: string | readonly string[]; readonly connect?: string | readonly string[] };

/** An {@link Endpoint} sorted into what to bind and what to connect. */
export interface ResolvedEndpoint {
  /** Addresses to bind: the `tcp://*:N` strings and the explicit `bind` entries. */
  readonly bind: readonly string[];
  /** Addresses to connect to: every other string and the explicit `connect` entries. */
  readonly connect: readonly string[];
}

const TRANSPORT = /^(tcp|ipc|inproc|ws|wss|tipc|udp|pgm|epgm|vmci):\/\/./;

/** A port-based address whose (destination) port is 0. */
const PORT_ZERO = /^(tcp|udp|ws|wss):\/\/[^/]*:0(\/|$)/;

function check(address: string): string {
  if (typeof address !== "string" || !TRANSPORT.test(address)) {
    throw new DividereError(
      "INVALID_ARGUMENT",
      `"${String(address)}" is not a ZeroMQ endpoint; write transport://address, ` +
        `e.g. tcp://*:5555 (bind), tcp://localhost:5555 (connect), ipc:///tmp/name or inproc://name.`,
    );
  }
  return address;
}

function list(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return (typeof value === "string" ? [value] : [...value]).map(check);
}

/** True for the endpoints the string convention binds: tcp with host `*`. */
export function bindsByConvention(address: string): boolean {
  return address.startsWith("tcp://*:");
}

/** Sorts an {@link Endpoint} into bind and connect lists; throws `INVALID_ARGUMENT` on bad input. */
export function resolveEndpoint(endpoint: Endpoint): ResolvedEndpoint {
  let resolved: ResolvedEndpoint;
  if (typeof endpoint === "string" || Array.isArray(endpoint)) {
    const all = list(endpoint as string | readonly string[]);
    resolved = { bind: all.filter(bindsByConvention), connect: all.filter((a) => !bindsByConvention(a)) };
  } else if (endpoint !== null && typeof endpoint === "object") {
    const explicit = endpoint as { bind?: string | readonly string[]; connect?: string | readonly string[] };
    resolved = { bind: list(explicit.bind), connect: list(explicit.connect) };
  } else {
    throw new DividereError("INVALID_ARGUMENT", `expected an endpoint string, array or { bind, connect }, got ${String(endpoint)}`);
  }
  if (resolved.bind.length === 0 && resolved.connect.length === 0) {
    throw new DividereError("INVALID_ARGUMENT", "no endpoint given: pass at least one address to bind or connect");
  }
  const portZero = resolved.connect.find((address) => PORT_ZERO.test(address));
  if (portZero !== undefined) {
    // libzmq would accept it and try for ever: nothing ever listens on port 0.
    throw new DividereError(
      "INVALID_ARGUMENT",
      `cannot connect to ${portZero}: port 0 means "a free port" only when binding. ` +
        `To bind, write tcp://*:0 or { bind: "${portZero}" } (the port bound is in .endpoint); ` +
        `to connect, give the port the other side is bound to.`,
    );
  }
  return resolved;
}
