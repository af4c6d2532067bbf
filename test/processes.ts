import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { RegistryEndpoints } from "@dividere/runtime";

/** The `dividere` command, as built. */
export const dividereBin = fileURLToPath(new URL("../runtime/bin/dividere.js", import.meta.url));

/**
 * A child process that prints one JSON object per stdout line (the test fixtures, the Python
 * peer); a line that is not JSON comes as `{ text }`. Tests wait for its lines, its exit, and kill it.
 */
export class Child {
  readonly #child: ChildProcess;
  readonly #lines: Record<string, unknown>[] = [];
  readonly #waiting: Array<() => void> = [];
  #stderr = "";
  readonly #ended: Promise<void>;
  #stdoutEnded = false;
  readonly exited: Promise<number | null>;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.#child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    // A child that exits before reading what it was given makes writes fail with EPIPE: the test sees its exit instead.
    this.#child.stdin!.on("error", () => {});
    this.#child.stderr!.on("data", (chunk: Buffer) => (this.#stderr += chunk.toString()));
    const lines = createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      this.#lines.push(parseLine(line));
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.#ended = new Promise((resolve) => lines.once("close", resolve));
    void this.#ended.then(() => {
      this.#stdoutEnded = true;
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.exited = new Promise((resolve) => this.#child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** What the child wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The next line the child printed, parsed; fails after `timeoutMs` with what it wrote to stderr. */
  async next(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      const left = deadline - Date.now();
      // Its exit may come before its last lines are read: only the end of its output says there is no more.
      if (left <= 0 || this.#stdoutEnded) {
        throw new Error(`the child printed nothing more (exit ${this.#child.exitCode}); stderr:\n${this.#stderr}`);
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

  /**
   * Every line not yet taken, once the child exited and its stdout was read to the end (a
   * child killed with SIGKILL included); fails after `timeoutMs` if it is still running.
   */
  async rest(timeoutMs = 10_000): Promise<Record<string, unknown>[]> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the child (pid ${this.pid}) still runs after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all([this.exited, this.#ended]), late]);
    } finally {
      clearTimeout(timer);
    }
    return this.#lines.splice(0);
  }

  /** Waits for the child to exit; fails unless it exits 0. */
  async finished(): Promise<void> {
    const code = await this.exited;
    if (code !== 0) throw new Error(`the child exited with ${code}; stderr:\n${this.#stderr}`);
  }

  /** Writes `text` to the child's stdin (which stays open until {@link endInput}). */
  write(text: string): void {
    this.#child.stdin!.write(text);
  }

  /** Closes the child's stdin: it reads the end of its input. */
  endInput(): void {
    this.#child.stdin!.end();
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }
}

/** Where `dividere registry` binds, by port on 127.0.0.1 (a port left out, or 0, is any free one), and its `--store`. */
export interface RegistryPorts {
  request?: number;
  publish?: number;
  watch?: number;
  store?: string;
}

/**
 * Starts `dividere registry` on loopback (`env` replaces the environment); resolves once it
 * listens, with the endpoints its start line names. `own` takes the child at once, so that a
 * test's cleanup kills it even when it never gets that far.
 */
export async function registryProcess(
  own: (child: Child) => unknown,
  ports: RegistryPorts = {},
  env?: NodeJS.ProcessEnv,
): Promise<{ registry: Child; endpoints: RegistryEndpoints }> {
  const at = (port = 0) => (port ? `tcp://127.0.0.1:${port}` : "tcp://127.0.0.1:*");
  const args = ["registry", "--endpoint", at(ports.request), "--publish", at(ports.publish), "--watch", at(ports.watch)];
  if (ports.store) args.push("--store", ports.store);
  const registry = new Child(process.execPath, [dividereBin, ...args], env);
  own(registry);
  const { text } = (await registry.next()) as { text: string };
  const [, endpoint, publishEndpoint, watchEndpoint] = /requests at (\S+), publishing at (\S+), watch at (\S+),/.exec(text) ?? [];
  if (!endpoint || !publishEndpoint || !watchEndpoint) throw new Error(`the registry said: ${text}\n${registry.stderr}`);
  return { registry, endpoints: { endpoint, publishEndpoint, watchEndpoint } };
}

/** Where `dividere broker` binds, how often it heartbeats, and where it registers (its options, as the command takes them). */
export interface BrokerSetup {
  frontend?: string;
  backend?: string;
  heartbeatIntervalMs?: number;
  liveness?: number;
  /** The registry to register with; the broker is ready once the registry took its entry. */
  registry?: string;
  registerAs?: string;
  host?: string;
  ttlMs?: number;
}

/**
 * Starts `dividere broker` (on loopback ephemeral ports unless told); resolves once it listens,
 * with the endpoints its start line names, and with a `registry`, once its line says the
 * registry took its entry. `own` takes the child at once, as for the registry.
 */
export async function brokerProcess(own: (child: Child) => unknown, setup: BrokerSetup = {}): Promise<{ broker: Child; frontend: string; backend: string }> {
  const { frontend = "tcp://127.0.0.1:*", backend = "tcp://127.0.0.1:*", heartbeatIntervalMs, liveness, registry, registerAs, host, ttlMs } = setup;
  const args = ["broker", "--frontend", frontend, "--backend", backend];
  if (heartbeatIntervalMs !== undefined) args.push("--heartbeat-interval", String(heartbeatIntervalMs));
  if (liveness !== undefined) args.push("--liveness", String(liveness));
  if (registry !== undefined) args.push("--registry", registry);
  if (registerAs !== undefined) args.push("--register-as", registerAs);
  if (host !== undefined) args.push("--host", host);
  if (ttlMs !== undefined) args.push("--ttl", String(ttlMs));
  const broker = new Child(process.execPath, [dividereBin, ...args]);
  own(broker);
  const { text } = (await broker.next()) as { text: string };
  const [, frontendAt, backendAt] = /callers at (\S+), workers at (\S+)$/.exec(text) ?? [];
  if (!frontendAt || !backendAt) throw new Error(`the broker said: ${text}\n${broker.stderr}`);
  if (registry !== undefined) {
    const { text: registered } = (await broker.next()) as { text: string };
    if (!/^dividere broker: registered as /.test(registered)) throw new Error(`the broker said: ${registered}\n${broker.stderr}`);
  }
  return { broker, frontend: frontendAt, backend: backendAt };
}

/** Starts a Node program of the test fixtures. */
export function node(script: string, ...args: string[]): Child {
  return new Child(process.execPath, [script, ...args]);
}

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { text: line };
  }
}
