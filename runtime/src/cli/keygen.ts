import { existsSync } from "node:fs";
import { join } from "node:path";
import { keyPair, writeCertificates } from "../connection/curve.js";
import { type Command, UsageError, parse } from "./command.js";

export const keygen: Command = {
  name: "keygen",
  summary: "write a CURVE key pair, as czmq and pyzmq write them",
  usage: `usage: dividere keygen NAME [options]

Writes NAME.key (the public key, to hand to peers) and NAME.key_secret (both keys, readable by
you only), in the certificate format czmq and pyzmq's zmq.auth use, and prints the public key.

A server loads its NAME.key_secret; a server's allow list is a folder of its clients' .key files;
a client needs the server's .key. See the README's "Security" section.

options:
  --dir FOLDER               where to write (default: the current folder; made if missing)
  --force                    overwrite existing files of that name
  -h, --help                 this text
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      { dir: { type: "string" }, force: { type: "boolean" } },
      { min: 1, max: 1, names: "a NAME for the key files" },
    );
    const name = positionals[0]!;
    if (!/^[\w.-]+$/.test(name)) throw new UsageError(`NAME is a file name without folders (letters, digits, ".", "-", "_"), not "${name}"`);
    const folder = values.dir ?? ".";
    const base = join(folder, name);
    if (!values.force && (existsSync(`${base}.key`) || existsSync(`${base}.key_secret`))) {
      throw new UsageError(`${base}.key or ${base}.key_secret exists; pick another NAME, or pass --force to replace them`);
    }
    const pair = keyPair();
    const { publicFile, secretFile } = writeCertificates(base, pair);
    console.log(`public key ${pair.publicKey}`);
    console.log(`wrote ${publicFile} (public: hand it to peers) and ${secretFile} (secret: keep it)`);
    return 0;
  },
};
