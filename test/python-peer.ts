import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { protoc, pyzmq } from "./prerequisites.js";
import { Child } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The Python with pyzmq and protobuf; tests that need it are skipped where there is none (`pyzmq.program`). */
export function findPython(): string {
  if (pyzmq.program === undefined) throw new Error(`no ${pyzmq.what}; ${pyzmq.install}`);
  return pyzmq.program;
}

/** Generates the Python modules of dividere's and the tests' messages with Debian's protoc; returns their folder. */
export function generatePythonModules(): string {
  const out = mkdtempSync(join(tmpdir(), "dividere-py-"));
  for (const [folder, file] of [
    ["proto/dividere", "MsgLib.proto"],
    ["proto/test", "TestMsg.proto"],
  ] as const) {
    try {
      execFileSync(protoc.program ?? "protoc", [`-I${join(root, folder)}`, `--python_out=${out}`, file], { stdio: "pipe" });
    } catch (error) {
      throw new Error(`protoc failed (${(error as Error).message}); ${protoc.install}`);
    }
  }
  return out;
}

/** Starts test/python/peer.py in a mode, with `env` added: one JSON object per stdout line. */
export function pythonPeer(python: string, modules: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return new Child(python, [join(root, "test/python/peer.py"), ...args], { ...process.env, ...env, PYTHONPATH: modules });
}

/** Starts test/python/load_balancing.py, Python dividere's load-balancing pattern, in a mode. */
export function loadBalancingPeer(python: string, modules: string, args: string[]): Child {
  return new Child(python, [join(root, "test/python/load_balancing.py"), ...args], { ...process.env, PYTHONPATH: modules });
}
