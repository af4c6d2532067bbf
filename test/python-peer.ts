import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Child } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const INSTALL = "apt-get install -y python3-zmq python3-protobuf protobuf-compiler";

/** The Python with pyzmq and protobuf (Debian's packages live beside /usr/bin/python3, not in a pyenv). */
export function findPython(): string {
  for (const candidate of ["/usr/bin/python3", "python3"]) {
    try {
      execFileSync(candidate, ["-c", "import zmq, google.protobuf"], { stdio: "ignore" });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(`no python3 with pyzmq and protobuf; install Debian's packages: ${INSTALL}`);
}

/** Generates the Python modules of dividere's and the tests' messages with Debian's protoc; returns their folder. */
export function generatePythonModules(): string {
  const out = mkdtempSync(join(tmpdir(), "dividere-py-"));
  for (const [folder, file] of [
    ["proto/dividere", "MsgLib.proto"],
    ["proto/test", "TestMsg.proto"],
  ] as const) {
    try {
      execFileSync("protoc", [`-I${join(root, folder)}`, `--python_out=${out}`, file], { stdio: "pipe" });
    } catch (error) {
      throw new Error(`protoc failed (${(error as Error).message}); install Debian's packages: ${INSTALL}`);
    }
  }
  return out;
}

/** Starts test/python/peer.py in a mode, with `env` added: one JSON object per stdout line. */
export function pythonPeer(python: string, modules: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return new Child(python, [join(root, "test/python/peer.py"), ...args], { ...process.env, ...env, PYTHONPATH: modules });
}
