import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import { debug } from "../log.js";
import type { CurveOptions, CurveRefusal } from "./curve.js";
import { keyBytes, keyText } from "./keys.js";
import type { SocketEvents } from "./events.js";

/**
 * The process's ZAP handler (ZeroMQ RFC 27): libzmq asks it, over this inproc endpoint of the
 * global context, whether a client that completed the CURVE handshake may in. zeromq.js has no
 * handler of its own.
 *
 * It is bound once, with the first allow list, and stays bound: libzmq releases an inproc
 * endpoint some time after its socket closes, so a handler closed and bound again would fail.
 * Once bound, every CURVE server in the process asks it, so it answers while any CURVE server
 * is open; with none open it stops receiving (within one receive timeout), so it never keeps
 * the process alive.
 */
const ZAP_ENDPOINT = "inproc://zeromq.zap.01";
const IDLE_CHECK_MS = 250;

interface Domain {
  allowed: Set<string>;
  socket: string;
  refuse: (refusal: CurveRefusal) => void;
}

const domains = new Map<string, Domain>();
let handler: zmq.Router | undefined;
let serving = false;
let curveServers = 0;
let domainCount = 0;

/** A fresh ZAP domain name: the key under which a socket's allow list is looked up. */
export function newZapDomain(): string {
  return `dividere.${process.pid}.${++domainCount}`;
}

/** Counts one more open CURVE server, and makes sure the handler answers if it is bound. */
function openCurveServer(): () => void {
  curveServers++;
  if (handler && !serving) serve(handler);
  return () => void curveServers--;
}

/**
 * Enforces `allow` (raw 32-byte keys) for the sockets with ZAP domain `domain`; returns the
 * release to call when the socket closes. Must run before the socket binds or connects.
 */
function enforceAllowList(domain: string, allow: readonly Uint8Array[], socket: string, refuse: (refusal: CurveRefusal) => void): () => void {
  handler ??= bindHandler();
  if (!serving) serve(handler);
  domains.set(domain, { allowed: new Set(allow.map((key) => Buffer.from(key).toString("latin1"))), socket, refuse });
  return () => void domains.delete(domain);
}

function bindHandler(): zmq.Router {
  const router = new zmq.Router({ linger: 0, receiveTimeout: IDLE_CHECK_MS });
  try {
    router.bindSync(ZAP_ENDPOINT);
  } catch (error) {
    router.close();
    throw new DividereError(
      "BIND_FAILED",
      `cannot start the ZAP handler that enforces CURVE allow lists: ${ZAP_ENDPOINT} is taken (${(error as Error).message}). ` +
        "Only one handler can run per ZeroMQ context: create allow-listed sockets in one thread, and do not run another ZAP handler in this process.",
      { cause: error },
    );
  }
  return router;
}

/** Answers ZAP requests until no CURVE server is open. */
function serve(router: zmq.Router): void {
  serving = true;
  void (async () => {
    while (curveServers > 0) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch (error) {
        if ((error as { code?: string }).code === "EAGAIN") continue;
        debug("ZAP handler stopped: %s", error);
        break;
      }
      await router.send(answer(frames)).catch((error: unknown) => debug("ZAP handler cannot answer: %s", error));
    }
    serving = false;
  })();
}

/** The reply to one ZAP request: [routing id, "", version, request id, domain, address, identity, mechanism, credentials...]. */
function answer(frames: Buffer[]): (Buffer | string)[] {
  const [route = "", delimiter = "", version, requestId = "", domainName, address, , mechanism, key] = frames;
  const reply = (status: "200" | "400" | "500", text: string, userId = "") => [route, delimiter, "1.0", requestId, status, text, userId, ""];
  if (version?.toString() !== "1.0") return reply("500", "unsupported ZAP version");
  const domain = domains.get(domainName?.toString() ?? "");
  // Sockets without an allow list (or of another library) are not ours to judge.
  if (!domain) return reply("200", "OK");
  if (mechanism?.toString() === "CURVE" && key?.length === 32 && domain.allowed.has(key.toString("latin1"))) {
    return reply("200", "OK", keyText(key));
  }
  domain.refuse({
    socket: domain.socket,
    address: address?.toString() ?? "",
    reason: "NOT_ALLOWED",
    publicKey: key?.length === 32 ? keyText(key) : undefined,
  });
  return reply("400", "not in the allow list");
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
 * Sets up what a CURVE server socket needs beyond its options: the allow list in the ZAP
 * handler and the report of refusals. Returns the release for `close()`; nothing for other sockets.
 * The release must run once.
 */
export function guardCurveServer(socket: zmq.Socket, curve: CurveOptions | undefined, events: SocketEvents, name: string): (() => void) | undefined {
  if (!curve || curve.serverKey !== undefined) return undefined;
  const refuse = curve.onRefused ?? refusalLogger();
  watchHandshakes(events, name, refuse);
  // Counted first: the handler serves only while some CURVE server is open.
  const releaseServer = openCurveServer();
  const domain = socket.zapDomain;
  let releaseDomain: (() => void) | undefined;
  try {
    if (curve.allow && domain) releaseDomain = enforceAllowList(domain, curve.allow.map((key, i) => keyBytes(key, `allow[${i}]`)), name, refuse);
  } catch (error) {
    releaseServer();
    throw error;
  }
  return () => {
    releaseDomain?.();
    releaseServer();
  };
}
