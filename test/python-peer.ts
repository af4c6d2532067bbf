import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

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

/** A running test/python/peer.py: one JSON object per stdout line. */
export class PythonPeer {
  readonly #child: ChildProcess;
  readonly #lines: Record<string, unknown>[] = [];
  readonly #waiting: Array<() => void> = [];
  #stderr = "";
  readonly exited: Promise<number | null>;

  constructor(python: string, modules: string, args: string[]) {
    this.#child = spawn(python, [join(root, "test/python/peer.py"), ...args], {
      env: { ...process.env, PYTHONPATH: modules },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child.stderr!.on("data", (chunk: Buffer) => (this.#stderr += chunk.toString()));
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      this.#lines.push(JSON.parse(line) as Record<string, unknown>);
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.exited = new Promise((resolve) => this.#child.on("exit", (code) => resolve(code)));
  }

  /** The next line the peer printed, parsed; fails after `timeoutMs` with what the peer wrote to stderr. */
  async next(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.#child.exitCode !== null) {
        throw new Error(`python peer printed nothing more (exit ${this.#child.exitCode}); stderr:\n${this.#stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#lines.shift()!;
  }

  /** Waits for the peer to exit and returns its exit code. */
  async finished(): Promise<number | null> {
    const code = await this.exited;
    if (code !== 0) throw new Error(`python peer exited with ${code}; stderr:\n${this.#stderr}`);
    return code;
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill("SIGKILL");
  }
}
