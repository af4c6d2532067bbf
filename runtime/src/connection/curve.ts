/**
 * CurveZMQ keys and their files: make a key pair, read and write certificates in the format
 * czmq and pyzmq use (so Python dividere peers share them), and read keys from the environment.
 *
 * ```ts
 * import { curve } from "@dividere/runtime";
 * const server = curve.readCertificate("keys/registry.key_secret");
 * const allow = curve.readAllowList("keys/clients"); // every *.key in the folder
 * await using registry = new RegistryServer({ curve: { ...server, allow } });
 * ```
 * @module
 */
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as zmq from "zeromq";
import { DividereError } from "../errors.js";
import { keyBytes, publicKeyOf } from "./keys.js";
import { z85Decode } from "./z85.js";

export { publicKeyOf };

/**
 * CurveZMQ on a socket: traffic encrypted, and the server's clients authenticated. The socket
 * is a CURVE client when `serverKey` is given, else a CURVE server. Keys are 40-character Z85
 * strings, as `dividere keygen`, zeromq.js and pyzmq write them.
 */
export interface CurveOptions {
  /** This socket's secret key. A server needs one; a client without one uses a fresh key pair (a server with `allow` then refuses it). */
  secretKey?: string;
  /** This socket's public key; default: derived from `secretKey`. If given, it must belong to `secretKey`. */
  publicKey?: string;
  /** The server's public key: present makes this socket a CURVE client of that server. */
  serverKey?: string;
  /**
   * Server only: the public keys of the clients let in; any other client is refused before it
   * can send or receive anything. Absent: every client that knows the server's public key gets
   * in (encryption without authentication).
   */
  allow?: readonly string[];
  /** Server only: told of each refused connection; default: a line on stderr, the first time for each client and then at most once a minute. */
  onRefused?: (refusal: CurveRefusal) => void;
}

/** A connection a CURVE server refused. */
export interface CurveRefusal {
  /** The refusing socket's name. */
  socket: string;
  /** For `NOT_ALLOWED`, the client's IP address; for `HANDSHAKE_FAILED`, the server's endpoint (ZeroMQ does not tell whose handshake failed). */
  address: string;
  /** `NOT_ALLOWED`: a valid CURVE client whose key is not in `allow`; `HANDSHAKE_FAILED`: no CURVE, or not this server's key. */
  reason: "NOT_ALLOWED" | "HANDSHAKE_FAILED";
  /** The client's public key, for `NOT_ALLOWED`. */
  publicKey?: string;
}

/** A CURVE key pair in Z85. */
export interface KeyPair {
  /** The key to hand out. */
  publicKey: string;
  /** The key that never leaves its owner. */
  secretKey: string;
}

/** A certificate read from a file: always a public key, a secret key if the file holds one. */
export interface Certificate {
  /** The certificate's public key. */
  publicKey: string;
  /** Its secret key, in a `.key_secret` file. */
  secretKey?: string;
}

/** A fresh CURVE key pair. */
export function keyPair(): KeyPair {
  return zmq.curveKeyPair();
}

/**
 * Reads a certificate file as czmq, pyzmq (`zmq.auth.create_certificates`) and
 * `dividere keygen` write it: `NAME.key` holds the public key, `NAME.key_secret` both.
 */
export function readCertificate(path: string): Certificate {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DividereError("INVALID_ARGUMENT", `cannot read the certificate ${path}: ${(error as Error).message}`, { cause: error });
  }
  const field = (name: string) => new RegExp(`^\\s*${name}\\s*=\\s*"([^"]*)"`, "m").exec(text)?.[1];
  const publicKey = field("public-key");
  if (publicKey === undefined) {
    throw new DividereError("INVALID_ARGUMENT", `${path} is not a CURVE certificate: it has no public-key line (make one with \`dividere keygen NAME\`)`);
  }
  keyBytes(publicKey, `the public-key of ${path}`);
  const secretKey = field("secret-key");
  if (secretKey === undefined) return { publicKey };
  if (publicKeyOf(secretKey) !== publicKey) {
    throw new DividereError("INVALID_ARGUMENT", `${path}: its public-key does not belong to its secret-key`);
  }
  return { publicKey, secretKey };
}

/**
 * Writes a key pair as `BASE.key` (the public key, to hand out) and `BASE.key_secret` (both
 * keys, readable by the owner only), in czmq's and pyzmq's format, making BASE's folder if
 * missing; returns the two paths.
 */
export function writeCertificates(base: string, pair: KeyPair = keyPair()): { publicFile: string; secretFile: string } {
  const header = (kind: string) =>
    `#   ****  Generated on ${new Date().toISOString()} by dividere  ****\n#   ZeroMQ CURVE ${kind} Certificate\n`;
  mkdirSync(dirname(base), { recursive: true });
  const publicFile = `${base}.key`;
  const secretFile = `${base}.key_secret`;
  writeFileSync(
    publicFile,
    `${header("Public")}#   Exchange securely, or use a secure mechanism to verify the contents\n#   of this file after exchange. Store public certificates in your home\n#   directory, in the .curve subdirectory.\n\nmetadata\ncurve\n    public-key = "${pair.publicKey}"\n`,
  );
  writeFileSync(
    secretFile,
    `${header("**Secret**")}#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\nmetadata\ncurve\n    public-key = "${pair.publicKey}"\n    secret-key = "${pair.secretKey}"\n`,
    { mode: 0o600 },
  );
  chmodSync(secretFile, 0o600); // the mode above applies to a new file only
  return { publicFile, secretFile };
}

/** The public keys of a certificate file, or of every `*.key` file in a folder (pyzmq's `configure_curve(location=...)` layout). */
export function readAllowList(path: string): string[] {
  let folder = false;
  try {
    folder = statSync(path).isDirectory();
  } catch (error) {
    throw new DividereError("INVALID_ARGUMENT", `cannot read the allow list ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!folder) return [readCertificate(path).publicKey];
  return readdirSync(path)
    .filter((name) => name.endsWith(".key"))
    .sort()
    .map((name) => readCertificate(join(path, name)).publicKey);
}

/**
 * CURVE options from environment variables, so that keys stay out of code and command lines;
 * undefined when none is set.
 *
 * - `DIVIDERE_CURVE_SECRET_KEY` (Z85) or `DIVIDERE_CURVE_CERT` (a `.key_secret` file): this process's key pair.
 * - `DIVIDERE_CURVE_SERVER_KEY`: the server's public key, Z85 or a `.key` file; makes the sockets clients.
 * - `DIVIDERE_CURVE_ALLOW`: comma-separated Z85 keys, `.key` files or folders of them; the clients a server lets in.
 */
export function fromEnv(env: NodeJS.ProcessEnv = process.env): CurveOptions | undefined {
  const { DIVIDERE_CURVE_SECRET_KEY: secret, DIVIDERE_CURVE_CERT: cert, DIVIDERE_CURVE_SERVER_KEY: server, DIVIDERE_CURVE_ALLOW: allow } = env;
  if (!secret && !cert && !server && !allow) return undefined;
  const options: CurveOptions = {};
  if (secret) options.secretKey = secret;
  else if (cert) {
    const certificate = readCertificate(cert);
    if (!certificate.secretKey) throw new DividereError("INVALID_ARGUMENT", `DIVIDERE_CURVE_CERT=${cert} holds no secret key; point it at the .key_secret file`);
    options.secretKey = certificate.secretKey;
  }
  if (server) options.serverKey = keyOrFile(server);
  if (allow) {
    options.allow = allow
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean)
      .flatMap((entry) => (isKey(entry) ? [entry] : readAllowList(entry)));
  }
  return options;
}

/** A Z85 key as given, or the public key of the certificate file it names. */
export function keyOrFile(value: string): string {
  return isKey(value) ? value : readCertificate(value).publicKey;
}

function isKey(value: string): boolean {
  return value.length === 40 && z85Decode(value) !== undefined;
}
