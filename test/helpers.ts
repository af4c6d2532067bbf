import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RpcError } from "@dividere/runtime";

/** A bind endpoint on a fresh address of each transport; connect with `server.endpoint`. */
export const transports = {
  tcp: () => ({ bind: "tcp://127.0.0.1:0" }),
  ipc: () => ({ bind: `ipc://${join(tmpdir(), `dividere-test-${randomUUID()}.sock`)}` }),
  inproc: () => ({ bind: `inproc://dividere-test-${randomUUID()}` }),
} as const;

export type TransportName = keyof typeof transports;
export const transportNames = Object.keys(transports) as TransportName[];

/** The connect endpoint of a bound socket. */
export function connectTo(server: { endpoint: string }): { connect: string } {
  return { connect: server.endpoint };
}

/** Resolves when `emitter` emits `event`, or rejects after `timeoutMs`. */
export function nextEvent<T = unknown>(
  emitter: { once(event: string, listener: (value: T) => void): unknown; off(event: string, listener: (value: T) => void): unknown },
  event: string,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (value: T) => {
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}

/** Polls `condition` (awaited, when it is asynchronous) every few ms until it holds, failing after `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Runs a Node script (with `args`, and `input` as its whole stdin) and resolves with its exit
 * code and output, or rejects if it outlives `limitMs`.
 */
export function runNode(
  script: string,
  limitMs: number,
  options: { args?: string[]; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [script, ...(options.args ?? [])], { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
  // Without input, stdin ends at once, as /dev/null would; a child that exits unread gives EPIPE, which its exit code tells better.
  child.stdin.on("error", () => {}).end(options.input);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running after ${limitMs} ms: something keeps Node alive\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, limitMs);
    // "close" comes once the output is read to its end, "exit" may come before.
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The RpcError a call rejects with; throws when it resolves, or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<RpcError> {
  const error = await promise.then(
    () => new Error("the call did not fail"),
    (e: unknown) => e,
  );
  if (error instanceof RpcError) return error;
  throw error;
}
