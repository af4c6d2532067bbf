import { setImmediate as nextTurn } from "node:timers/promises";
import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import { Capacity } from "./capacity.js";
import { openNative } from "./context.js";
import type { CurveRefusal } from "./curve.js";
import { keyBytes, keyText } from "./keys.js";
import type { ConnectionCount, SocketEvents } from "./events.js";
import type { SocketOptions } from "./options.js";

/**
 * The process's ZAP handler (ZeroMQ RFC 27): libzmq asks it, over this inproc endpoint of the
 * global context, whether a client that completed its handshake may in. zeromq.js has no
 * handler of its own. It keeps two kinds of rule, each for the sockets of one ZAP domain: a
 * CURVE server's allow list, and a socket's `maxConnections`.
 *
 * It is bound once, with the first socket that has a rule, and stays bound: libzmq releases an
 * inproc endpoint some time after its socket closes, so a handler closed and bound again would
 * fail. Once bound, libzmq asks it about every CURVE server's clients and about every
 * connection of a socket with a ZAP domain, so it answers while any such socket is open, and
 * until libzmq has ended a closed one's connections to it; with none left it stops receiving
 * (within one receive timeout), so it never keeps the process alive.
 */
const ZAP_ENDPOINT = "inproc://zeromq.zap.01";
const IDLE_CHECK_MS = 250;
/** How long the handler serves a closed socket, at most, until libzmq has ended its connections to it. */
const CLOSE_WAIT_MS = 2000;

interface Domain {
  socket: string;
  /** A CURVE server's allow list (raw keys as latin1), and where its refusals go. */
  allow?: { keys: Set<string>; refuse: (refusal: CurveRefusal) => void };
  /** The socket's `maxConnections`. */
  capacity?: Capacity;
}

const domains = new Map<string, Domain>();
let handler: zmq.Router | undefined;
let serving = false;
/** Sockets libzmq asks the handler about: CURVE servers, and sockets with a ZAP domain. */
let asking = 0;
let domainCount = 0;

/** A fresh ZAP domain name: the key under which a socket's rules are looked up. */
export function newZapDomain(): string {
  return `dividere.${process.pid}.${++domainCount}`;
}

/** Counts one more socket libzmq asks the handler about, and makes sure the handler answers if it is bound. */
function openAsking(): () => void {
  asking++;
  if (handler && !serving) serve(handler);
  return () => void asking--;
}

/**
 * Keeps the rules of `domain` in the handler (binding it first if need be); returns the release
 * to call when the socket closes. Must run before the socket binds or connects.
 */
function enforce(domain: string, rules: Domain): () => void {
  handler ??= bindHandler();
  if (!serving) serve(handler);
  domains.set(domain, rules);
  return () => void domains.delete(domain);
}

function bindHandler(): zmq.Router {
  const router = openNative("the ZAP handler", () => new zmq.Router({ linger: 0, receiveTimeout: IDLE_CHECK_MS }));
  try {
    router.bindSync(ZAP_ENDPOINT);
  } catch (error) {
    router.close();
    throw new DividereError(
      "BIND_FAILED",
      `cannot start the ZAP handler that enforces CURVE allow lists and maxConnections: ${ZAP_ENDPOINT} is taken (${(error as Error).message}). ` +
        "Only one handler can run per ZeroMQ context: create allow-listed and connection-limited sockets (servers) in one thread, and do not run another ZAP handler in this process.",
      { cause: error },
    );
  }
  return router;
}

/** Answers ZAP requests until no socket that asks is open. */
function serve(router: zmq.Router): void {
  serving = true;
  void (async () => {
    while (asking > 0) {
      const batch: Buffer[][] = [];
      try {
        batch.push(await router.receive());
        // The requests waiting now are answered together: each counts as waiting while the others are decided.
        while (router.readable) batch.push(await router.receive());
      } catch (error) {
        if (batch.length === 0) {
          if ((error as { code?: string }).code === "EAGAIN") continue;
          debug("ZAP handler stopped: %s", error);
          break;
        }
      }
      const limited = batch.map((frames) => domainOf(frames)?.capacity).filter((capacity) => capacity !== undefined);
      for (const capacity of limited) capacity.asked();
      // ZeroMQ reports a connection's accept before it asks about it, but the two arrive on
      // different sockets: a turn of the event loop lets the accept be counted first.
      if (limited.length > 0) await nextTurn();
      for (const frames of batch) await router.send(answer(frames)).catch((error: unknown) => debug("ZAP handler cannot answer: %s", error));
    }
    serving = false;
  })();
}

/** The rules of the socket a ZAP request is about: [routing id, "", version, request id, domain, ...]. */
function domainOf(frames: Buffer[]): Domain | undefined {
  return domains.get(frames[4]?.toString() ?? "");
}

/** The reply to one ZAP request: [routing id, "", version, request id, domain, address, identity, mechanism, credentials...]. */
function answer(frames: Buffer[]): (Buffer | string)[] {
  const [route = "", delimiter = "", version, requestId = "", , address = "", , mechanism, key] = frames;
  const reply = (status: "200" | "400" | "500", text: string, userId = "") => [route, delimiter, "1.0", requestId, status, text, userId, ""];
  if (version?.toString() !== "1.0") return reply("500", "unsupported ZAP version");
  const domain = domainOf(frames);
  // Sockets without rules (or of another library) are not ours to judge.
  if (!domain) return reply("200", "OK");
  const curveKey = mechanism?.toString() === "CURVE" && key?.length === 32 ? key : undefined;
  if (domain.allow && !(curveKey && domain.allow.keys.has(curveKey.toString("latin1")))) {
    domain.capacity?.refusing();
    domain.allow.refuse({ socket: domain.socket, address: address.toString(), reason: "NOT_ALLOWED", publicKey: curveKey && keyText(curveKey) });
    return reply("400", "not in the allow list");
  }
  if (domain.capacity && !domain.capacity.admits(address.toString())) {
    // Not 300 ("temporary"): libzmq answers that by holding the connection, telling the client
    // nothing, until its handshake interval ends. 500 reaches the client at once, apart from
    // the allow list's 400; a dividere client takes it as "full" and connects again later.
    return reply("500", "the server is full (maxConnections)");
  }
  return reply("200", "OK", curveKey ? keyText(curveKey) : "");
}

/**
 * Reports a CURVE server's refusals through `refuse`: the allow list's (from the ZAP handler)
 * and failed handshakes (a client without CURVE, or with another server's key).
 */
function watchHandshakes(events: SocketEvents, socket: string, refuse: (refusal: CurveRefusal) => void): void {
  const failed = (event: { address: string }) => refuse({ socket, address: event.address, reason: "HANDSHAKE_FAILED" });
  events.on("handshake:error:protocol", failed);
  events.on("handshake:error:other", failed);
}

const REPEAT_MS = 60_000;
const MAX_REMEMBERED = 1024;

/**
 * The default report of refusals: a line on stderr the first time a client is refused, then at
 * most once a minute with the count, since a refused client retries every few hundred ms.
 */
function refusalLogger(): (refusal: CurveRefusal) => void {
  const seen = new Map<string, { at: number; since: number }>();
  return (refusal) => {
    const key = `${refusal.reason} ${refusal.publicKey ?? refusal.address}`;
    const now = Date.now();
    // A client cycling through keys must not grow this without bound.
    if (seen.size >= MAX_REMEMBERED) {
      for (const [remembered, { at }] of seen) if (now - at >= REPEAT_MS) seen.delete(remembered);
      if (seen.size >= MAX_REMEMBERED) seen.clear();
    }
    const last = seen.get(key);
    if (last && now - last.at < REPEAT_MS) {
      last.since++;
      return;
    }
    seen.set(key, { at: now, since: 0 });
    const again = last ? ` (refused ${last.since + 1} times in the last minute)` : "";
    const who =
      refusal.reason === "NOT_ALLOWED"
        ? `client key ${refusal.publicKey} from ${refusal.address} is not in the allow list`
        : `a client at ${refusal.address} failed the CURVE handshake (no CURVE, or not this server's public key)`;
    console.error(`dividere: ${refusal.socket} refused a connection: ${who}${again}`);
  };
}

/**
 * Sets up what a socket's rules need beyond its options: a CURVE server's allow list and the
 * report of its refusals, a `maxConnections` kept against `count`. Returns the release for
 * `close()` (to run once); nothing for a socket without rules.
 */
export function guardSocket(socket: zmq.Socket, options: SocketOptions, count: ConnectionCount, events: SocketEvents, name: string): (() => void) | undefined {
  const { curve, maxConnections } = options;
  const curveServer = curve !== undefined && curve.serverKey === undefined;
  const domain = socket.zapDomain;
  if (!curveServer && !domain) return undefined;
  const rules: Domain = { socket: name };
  if (curveServer) {
    const refuse = curve.onRefused ?? refusalLogger();
    watchHandshakes(events, name, refuse);
    if (curve.allow) rules.allow = { keys: new Set(curve.allow.map((key, i) => Buffer.from(keyBytes(key, `allow[${i}]`)).toString("latin1"))), refuse };
  }
  if (maxConnections !== undefined) rules.capacity = new Capacity(maxConnections, count, events, name);
  // Counted first: the handler serves only while some socket asks it.
  const releaseAsking = openAsking();
  let releaseDomain: (() => void) | undefined;
  try {
    if (domain) releaseDomain = enforce(domain, rules);
  } catch (error) {
    // An allow list fails closed; a connection limit that cannot be kept here (the handler is
    // another thread's) is not worth refusing every client for: the socket goes unlimited.
    if (rules.allow || !DividereError.is(error, "BIND_FAILED")) {
      releaseAsking();
      throw error;
    }
    socket.zapDomain = "";
    debug("%s: maxConnections is not enforced: %s", name, (error as Error).message);
    if (!curveServer) {
      releaseAsking();
      return undefined;
    }
  }
  return () => {
    releaseDomain?.();
    // libzmq ends the socket's connections to the handler only while the handler's socket
    // processes commands, which it does while it receives: stopping at close() left the socket
    // half closed now and then, its monitor never ended, and the process never exited. The
    // handler serves on until the monitor says the socket is gone (or a moment has passed).
    let done = false;
    const stopAsking = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      releaseAsking();
    };
    const timer = setTimeout(stopAsking, CLOSE_WAIT_MS).unref();
    events.once("end", stopAsking);
  };
}
