/** Checking and converting CURVE keys; the runtime's own, behind `curve` and the socket options. */
import { createPrivateKey, createPublicKey, diffieHellman } from "node:crypto";
import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import type { CurveOptions, KeyPair } from "./curve.js";
import { z85Decode, z85Encode } from "./z85.js";

/** The 32 bytes of a Z85 key; `INVALID_ARGUMENT` naming `what` when it is no key. */
export function keyBytes(key: string, what: string): Uint8Array {
  const bytes = typeof key === "string" && key.length === 40 ? z85Decode(key) : undefined;
  if (!bytes) {
    throw new DividereError(
      "INVALID_ARGUMENT",
      `${what} is not a CURVE key: expected 40 characters of Z85 (as "dividere keygen" writes), got ${describe(key)}`,
    );
  }
  return bytes;
}

/** The Z85 text of a key's 32 bytes. */
export function keyText(bytes: Uint8Array): string {
  return z85Encode(bytes);
}

// The fixed DER header of a PKCS#8 X25519 private key; CURVE keys are X25519 keys.
const X25519_PKCS8_HEADER = Buffer.from("302e020100300506032b656e04220420", "hex");

const X25519_SPKI_HEADER = Buffer.from("302a300506032b656e032100", "hex");

/** The public key that belongs to a secret key. */
export function publicKeyOf(secretKey: string): string {
  const secret = keyBytes(secretKey, "the secret key");
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_HEADER, secret]), format: "der", type: "pkcs8" });
  return z85Encode(createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32));
}

/** The X25519 secret two CURVE key pairs share: one's secret key with the other's public key gives what the other's secret with the one's public gives. */
export function sharedSecret(secretKey: string, publicKey: Uint8Array): Buffer {
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_HEADER, keyBytes(secretKey, "the secret key")]), format: "der", type: "pkcs8" });
  return diffieHellman({ privateKey, publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI_HEADER, publicKey]), format: "der", type: "spki" }) });
}

/** Checks `options` and completes the socket's own key pair. */
export function resolveCurve(options: CurveOptions): KeyPair & { serverKey?: string; allow?: Uint8Array[] } {
  const server = options.serverKey === undefined;
  if (server && options.secretKey === undefined) {
    throw new DividereError(
      "INVALID_ARGUMENT",
      "a CURVE server needs its secretKey (and a client the server's public key as serverKey); make a pair with `dividere keygen NAME`",
    );
  }
  if (!server && (options.allow !== undefined || options.onRefused !== undefined)) {
    throw new DividereError("INVALID_ARGUMENT", "allow and onRefused are for CURVE servers; a socket with serverKey is a client");
  }
  const own = options.secretKey === undefined ? zmq.curveKeyPair() : { secretKey: options.secretKey, publicKey: publicKeyOf(options.secretKey) };
  if (options.publicKey !== undefined && keyText(keyBytes(options.publicKey, "the public key")) !== own.publicKey) {
    throw new DividereError("INVALID_ARGUMENT", "the public key does not belong to the secret key; pass the pair from one certificate");
  }
  if (server) return { ...own, allow: options.allow?.map((key, i) => keyBytes(key, `allow[${i}]`)) };
  keyBytes(options.serverKey!, "serverKey");
  return { ...own, serverKey: options.serverKey };
}

function describe(value: unknown): string {
  return typeof value === "string" ? `${value.length} characters` : String(value);
}
