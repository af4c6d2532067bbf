import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * A child Node process of the benchmark; its stdout lines are kept: `ready` is the first (where
 * it listens, or that it is ready), `line(n)` any other.
 */
export class Process {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiting: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.#child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
    // A process that has exited cannot be told anything: a write then is of no consequence.
    this.#child.stdin!.on("error", () => {});
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      this.#lines.push(line);
      for (const wake of this.#waiting.splice(0)) wake();
    });
    // "close": exited, and every line of stdout is in.
    this.exited = new Promise((resolve) => this.#child.once("close", (code) => resolve(code)));
    void this.exited.then(() => {
      for (const wake of this.#waiting.splice(0)) wake();
    });
  }

  /** The first line the process prints. */
  get ready(): Promise<string> {
    return this.line(0);
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The n-th line (0-based) the process prints; fails if it exits first. */
  async line(n: number): Promise<string> {
    for (;;) {
      if (this.#lines.length > n) return this.#lines[n]!;
      if (!this.running) {
        const code = await this.exited;
        if (this.#lines.length > n) return this.#lines[n]!;
        throw new Error(`${this.#child.spawnargs.slice(1).join(" ")} exited with ${code} before printing line ${n + 1}`);
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Writes `line` to the process's stdin (see told.ts). */
  tell(line: string): void {
    this.#child.stdin!.write(`${line}\n`);
  }

  /** SIGTERM, then SIGKILL after 3 s; resolves once it has exited. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.exited;
      return;
    }
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** What a suite started, stopped in reverse when it ends: each client before its server. */
export type Cleanups = (() => unknown)[];

/** Starts a process for a suite, to be stopped with its `cleanups`; resolves with its first line. */
export async function started(cleanups: Cleanups, args: string[]): Promise<{ process: Process; ready: string }> {
  const process = new Process(args);
  cleanups.push(() => process.stop());
  return { process, ready: await process.ready };
}

/** Runs every cleanup, the last pushed first. */
export async function stopAll(cleanups: Cleanups): Promise<void> {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

/** One run of a publisher's row: the publisher (see told.ts) sends while `measure` runs. */
export async function whileSending(publisher: Process, measure: () => Promise<number>): Promise<number> {
  publisher.tell("go");
  try {
    return await measure();
  } finally {
    publisher.tell("stop");
  }
}
