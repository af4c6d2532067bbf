/**
 * The verified caller: the CURVE public key a call comes from, as the server can prove it.
 *
 * libzmq's ZAP handler sees each connection's key, but zeromq.js gives no way to learn which
 * connection a message came on (zmq_msg_gets "User-Id"), and the ZAP request names the
 * server's own routing id, not the client's. So a CURVE client proves its key in each request:
 * `caller_key` (its public key) and `caller_proof`, an HMAC-SHA256 keyed by the X25519 secret
 * its key pair shares with the server's (`X25519(client secret, server public)`, which only
 * the holders of either secret key can compute), over both public keys. The server computes
 * the same from its secret key and the claimed public key. The proof travels only inside the
 * CURVE-encrypted connection, so no one else sees it to replay; a server that is no CURVE
 * server never takes one (it could have been read on the way). docs/security.md has the
 * reasoning and its limits.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { CurveOptions } from "../connection/curve.js";
import { keyBytes, keyText, publicKeyOf, sharedSecret } from "../connection/keys.js";
import { type RpcRequest, RpcRequestSchema } from "../gen/dividere/v1/rpc_pb.js";
import { RpcError } from "./status.js";

const LABEL = Buffer.from("dividere.v1 caller key proof");
const NO_BYTES = new Uint8Array(0);
/** Proofs a server remembers, by client key: one HMAC compare per call instead of an X25519 per call. */
const MAX_REMEMBERED = 1024;

function proof(shared: Uint8Array, clientKey: Uint8Array, serverKey: Uint8Array): Buffer {
  return createHmac("sha256", shared).update(LABEL).update(clientKey).update(serverKey).digest();
}

/**
 * Fields 9 and 10 of RpcRequest for a CURVE client with its own secret key, encoded once per
 * connection; nothing for any other socket (a client with a fresh key pair has no identity to prove).
 */
export function callerKeyFields(curve: CurveOptions | undefined): Uint8Array {
  if (!curve?.serverKey || !curve.secretKey) return NO_BYTES;
  const clientKey = keyBytes(publicKeyOf(curve.secretKey), "the public key");
  const serverKey = keyBytes(curve.serverKey, "serverKey");
  const callerProof = proof(sharedSecret(curve.secretKey, serverKey), clientKey, serverKey);
  return toBinary(RpcRequestSchema, create(RpcRequestSchema, { callerKey: clientKey, callerProof }));
}

/** What tells a dispatcher who calls: the Z85 key a request proves it comes from, or undefined. */
export interface CallerCheck {
  /** Throws `UNAUTHENTICATED` for a proof that does not hold. */
  verify(request: RpcRequest): string | undefined;
}

/**
 * A worker's: the key its broker verified (`verified_caller_key`). The broker writes it on
 * every call it hands over, over anything the caller sent, so it is the broker's word.
 */
export const vouchedByBroker: CallerCheck = {
  verify: (request) => (request.verifiedCallerKey.length === 32 ? keyText(request.verifiedCallerKey) : undefined),
};

/** Checks the caller keys of the calls a CURVE server takes. */
export class CallerVerifier implements CallerCheck {
  readonly #secretKey: string;
  readonly #serverKey: Uint8Array;
  readonly #allow: Set<string> | undefined;
  readonly #proofs = new Map<string, Buffer>();

  constructor(curve: CurveOptions & { secretKey: string }) {
    this.#secretKey = curve.secretKey;
    this.#serverKey = keyBytes(curve.publicKey ?? publicKeyOf(curve.secretKey), "the public key");
    this.#allow = curve.allow && new Set(curve.allow.map((key, i) => keyText(keyBytes(key, `allow[${i}]`))));
  }

  /** The verifier of a server's socket options: one for a CURVE server, none else. */
  static of(curve: CurveOptions | undefined): CallerVerifier | undefined {
    return curve?.secretKey !== undefined && curve.serverKey === undefined ? new CallerVerifier({ ...curve, secretKey: curve.secretKey }) : undefined;
  }

  /**
   * The Z85 key the request proves it comes from; undefined when it proves none. Throws
   * `UNAUTHENTICATED` for a proof that does not hold, or a key the allow list lacks.
   */
  verify(request: RpcRequest): string | undefined {
    const { callerKey, callerProof } = request;
    if (callerKey.length === 0) return undefined;
    if (callerKey.length !== 32) throw new RpcError("UNAUTHENTICATED", `${request.method}: the caller key is ${callerKey.length} bytes, not a CURVE key's 32`);
    const remembered = Buffer.from(callerKey).toString("latin1");
    let expected = this.#proofs.get(remembered);
    if (!expected) {
      expected = proof(sharedSecret(this.#secretKey, callerKey), callerKey, this.#serverKey);
      if (this.#proofs.size >= MAX_REMEMBERED) this.#proofs.clear();
      this.#proofs.set(remembered, expected);
    }
    const key = keyText(callerKey);
    if (callerProof.length !== expected.length || !timingSafeEqual(callerProof, expected)) {
      throw new RpcError("UNAUTHENTICATED", `${request.method}: the caller's proof of its key ${key} does not hold; is its secret key the one of that public key, and this server's public key its serverKey?`);
    }
    if (this.#allow && !this.#allow.has(key)) throw new RpcError("UNAUTHENTICATED", `${request.method}: the caller key ${key} is not in this server's allow list`);
    return key;
  }
}
