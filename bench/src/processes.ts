import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** A child process of the benchmark: started, waited for until it prints its first line, killed at the end. */
export class Process {
  readonly #child: ChildProcess;
  readonly ready: Promise<string>;

  constructor(args: string[]) {
    this.#child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    this.ready = new Promise((resolve, reject) => {
      createInterface({ input: this.#child.stdout! }).once("line", resolve);
      this.#child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code} before it was ready`)));
    });
  }

  /** Stops the process (SIGTERM) and waits for it. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}
