import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import type * as Runtime from "@dividere/runtime";
import { eventually } from "./helpers.js";

// The threads run the built package (worker threads run JavaScript), so this test uses it too:
// one copy of the runtime's classes on both sides.
const runtime = (await import("../runtime/dist/index.js")) as unknown as typeof Runtime;
const { DoneSchema, JobSchema } = await import("./fixtures/gen/test/jobs_pb.js");
const types = [JobSchema, DoneSchema];
const handlerModule = fileURLToPath(new URL("./fixtures/jobs-worker.mjs", import.meta.url));

const JOBS = 40;
const WORK = 20_000; // rounds of SHA-256 per job: some tens of ms of pure CPU

/** Sends JOBS jobs through a Dealer to the threads' shared Router and waits for every Done. */
async function routerRun(threads: number): Promise<{ ms: number; byThread: number[]; stats: Runtime.WorkerReactorStats }> {
  const port = await runtime.connection.PortManager.acquire({ host: "127.0.0.1" });
  const workers = new runtime.WorkerReactor(handlerModule, {
    threads,
    sockets: [{ kind: "Router", endpoint: { bind: `tcp://127.0.0.1:${port}` } }],
  });
  await workers.ready;
  await using client = new runtime.messaging.Dealer(`tcp://127.0.0.1:${port}`, { types });
  const started = performance.now();
  for (let id = 0; id < JOBS; id++) await client.send(JobSchema, { id, work: WORK });
  const seen = new Set<number>();
  const byThread = Array.from({ length: threads }, () => 0);
  for (let i = 0; i < JOBS; i++) {
    const { message } = await client.recv({ timeoutMs: 30_000 });
    if (message.$typeName !== "test.jobs.Done") throw new Error(`unexpected ${message.$typeName}`);
    expect(seen.has(message.id), `job ${message.id} answered twice`).toBe(false);
    seen.add(message.id);
    byThread[message.thread]!++;
  }
  const ms = performance.now() - started;
  await workers.close();
  return { ms, byThread, stats: workers.stats };
}

describe("WorkerReactor", () => {
  test("threads share a bound Router's load; a CPU-heavy handler speeds up with a second thread", async () => {
    // Best of two runs each, alternated, so a passing load on the machine spoils neither figure.
    const best = (a: Awaited<ReturnType<typeof routerRun>>, b: typeof a) => (a.ms <= b.ms ? a : b);
    const firstOne = await routerRun(1);
    const firstTwo = await routerRun(2);
    const one = best(firstOne, await routerRun(1));
    const two = best(firstTwo, await routerRun(2));
    expect(one.stats).toMatchObject({ handled: JOBS, unhandled: 0, failed: 0 });
    expect(two.stats).toMatchObject({ handled: JOBS, unhandled: 0, failed: 0 });
    expect(two.byThread.every((count) => count > 0)).toBe(true);
    expect(two.stats.threads.map((thread) => thread.handled)).toEqual(two.byThread);
    console.log(
      `WorkerReactor, ${JOBS} jobs of ${WORK} SHA-256 rounds: 1 thread ${one.ms.toFixed(0)} ms, ` +
        `2 threads ${two.ms.toFixed(0)} ms (split ${two.byThread.join("/")}): speed-up ${(one.ms / two.ms).toFixed(2)}x`,
    );
  });

  test("threads share a bound Pull's load, with sockets of their own from initThread", async () => {
    const [jobsPort, resultsPort] = [
      await runtime.connection.PortManager.acquire({ host: "127.0.0.1" }),
      await runtime.connection.PortManager.acquire({ host: "127.0.0.1" }),
    ];
    await using results = new runtime.messaging.Pull({ bind: `tcp://127.0.0.1:${resultsPort}` }, { types });
    const workers = new runtime.WorkerReactor(handlerModule, {
      threads: 2,
      sockets: [{ kind: "Pull", endpoint: { bind: `tcp://127.0.0.1:${jobsPort}` } }],
      data: { results: `tcp://127.0.0.1:${resultsPort}` },
    });
    await workers.ready;
    await using jobs = new runtime.messaging.Push(`tcp://127.0.0.1:${jobsPort}`, { types });
    for (let id = 0; id < 20; id++) await jobs.send(JobSchema, { id, work: 1000 });
    const done = new Map<number, number>();
    for (let i = 0; i < 20; i++) {
      const message = await results.recv({ timeoutMs: 30_000 });
      if (message.$typeName === "test.jobs.Done") done.set(message.id, message.thread);
    }
    expect([...done.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(new Set(done.values())).toEqual(new Set([0, 1]));
    // Readable while the threads run: they count into memory this thread reads.
    await eventually(() => workers.stats.handled === 20, 5000, "the threads counted 20 jobs");
    const perThread = [0, 1].map((thread) => [...done.values()].filter((by) => by === thread).length);
    expect(workers.stats.threads.map((thread) => thread.handled)).toEqual(perThread);
    await workers.close();
    expect(workers.stats.handled).toBe(20);
  });

  test("a handler module that cannot load makes `ready` reject with the reason", async () => {
    const workers = new runtime.WorkerReactor(fileURLToPath(new URL("./fixtures/no-such-module.mjs", import.meta.url)), {
      threads: 1,
      sockets: [{ kind: "Pull", endpoint: { bind: "tcp://127.0.0.1:0" } }],
    });
    await expect(workers.ready).rejects.toMatchObject({ code: "HANDLER_FAILED", message: expect.stringMatching(/no-such-module/) });
    await workers.close();
  });

  test("CURVE on a shared Router secures the socket peers reach: an allowed client's jobs are done, an intruder is refused", async () => {
    const server = runtime.curve.keyPair();
    const friend = runtime.curve.keyPair();
    const refused: string[] = [];
    const port = await runtime.connection.PortManager.acquire({ host: "127.0.0.1" });
    const curve = { ...server, allow: [friend.publicKey], onRefused: (refusal: Runtime.curve.CurveRefusal) => refused.push(refusal.publicKey!) };
    const workers = new runtime.WorkerReactor(handlerModule, {
      threads: 2,
      sockets: [{ kind: "Router", endpoint: { bind: `tcp://127.0.0.1:${port}` }, options: { curve } }],
    });
    await workers.ready;
    const intruderKeys = runtime.curve.keyPair();
    await using intruder = new runtime.messaging.Dealer(`tcp://127.0.0.1:${port}`, { types, curve: { ...intruderKeys, serverKey: server.publicKey } });
    await using client = new runtime.messaging.Dealer(`tcp://127.0.0.1:${port}`, { types, curve: { ...friend, serverKey: server.publicKey } });
    for (let id = 0; id < 10; id++) await client.send(JobSchema, { id, work: 10 });
    for (let i = 0; i < 10; i++) expect((await client.recv({ timeoutMs: 10_000 })).message.$typeName).toBe("test.jobs.Done");
    await eventually(() => refused.includes(intruderKeys.publicKey), 5000, "the intruder's refusal");
    await workers.close();
    expect(workers.stats.handled).toBe(10);
  });

  test("a bound Subscriber cannot be shared by several threads", () => {
    expect(
      () => new runtime.WorkerReactor(handlerModule, { threads: 2, sockets: [{ kind: "Subscriber", endpoint: "tcp://*:0" }] }),
    ).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
