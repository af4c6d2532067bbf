/**
 * The demo's processes: each runs as its own Node program, as it would in production; its output
 * is shown indented under its name, and the demo waits for what it says.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** A program the demo started. */
export class Program {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  /** Resolves with the exit code (or the signal that killed it). */
  readonly exited: Promise<number | NodeJS.Signals>;

  constructor(
    readonly name: string,
    args: string[],
  ) {
    this.#child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    const label = `  [${name}]`.padEnd(16);
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      console.log(`${label} ${line}`);
      this.#lines.push(line);
      this.#wake?.();
    });
    createInterface({ input: this.#child.stderr! }).on("line", (line) => console.error(`${label} ${line}`));
    // "close" comes after "exit" once stdout and stderr are read to their end: nothing it said is missed.
    this.exited = new Promise((resolve) => this.#child.on("close", (code, signal) => resolve(code ?? signal!)));
    void this.exited.then(() => this.#wake?.());
  }

  /** The first line (not yet waited for) that matches `pattern`; fails after `timeoutMs` or when the program ends. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#lines.findIndex((line) => pattern.test(line));
      if (index >= 0) return pattern.exec(this.#lines.splice(0, index + 1).pop()!)!;
      const left = deadline - Date.now();
      if (left <= 0 || this.#child.exitCode !== null || this.#child.signalCode !== null) {
        throw new Error(`${this.name} did not say ${pattern} (it ${this.#child.exitCode === null ? "runs on" : `exited with ${this.#child.exitCode}`})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => (clearTimeout(timer), resolve());
      });
    }
  }

  /** Asks the program to stop (SIGTERM) and resolves once it exited 0; fails if it does not within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`${this.name} exited with ${code}`);
  }

  /** Ends the program at once, for when the demo fails. */
  kill(): void {
    this.#child.kill("SIGKILL");
  }
}
