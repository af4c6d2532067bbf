// What the broker promises its workers and callers, over real processes: a worker is never
// handed more calls than its capacity, even while callers abandon attempts (a slot is free only
// once the worker says the call ended, or the worker is dead); and a worker that comes back
// after being stopped does not start calls that were answered elsewhere meanwhile.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { DividereError, brokerServices, brokerTransport, type Transport } from "@dividere/runtime";
import { EchoClient } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { type Child, brokerProcess as startBroker, node } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixture = (name: string) => join(root, "test/fixtures", name);
const ECHO = "test.services.v1.Echo";
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const brokerProcess = (heartbeatIntervalMs: number) => startBroker((child) => later(child, (c) => c.kill()), { heartbeatIntervalMs });

async function workers(names: string[], backend: string, options: { intervalMs: number; capacity: number; mode?: string }): Promise<Map<string, Child>> {
  const started = new Map<string, Child>();
  for (const name of names) {
    const args = [name, backend, String(options.intervalMs), String(options.capacity), options.mode ?? ""];
    const child = later(node(fixture("faults-worker.mjs"), ...args), (c) => c.kill());
    expect(await child.next()).toEqual({ started: name });
    started.set(name, child);
  }
  return started;
}

/** Waits until the broker reports `count` Echo workers with `free` slots in all. */
async function ready(transport: Transport, count: number, free = count): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const services = await brokerServices(transport, { timeoutMs: 1000, retries: 0 }).catch(() => []);
    const echo = services.find((s) => s.name === ECHO);
    if (echo?.workers === count && echo.free === free) return;
    if (Date.now() > deadline) throw new Error(`the broker did not get to ${count} Echo workers with ${free} free slots: ${JSON.stringify(echo)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every line each worker printed, once it stopped (SIGTERM). */
async function linesOf(children: Map<string, Child>): Promise<Map<string, Record<string, unknown>[]>> {
  for (const child of children.values()) child.kill("SIGTERM");
  const lines = new Map<string, Record<string, unknown>[]>();
  for (const [name, child] of children) lines.set(name, await child.rest(15_000));
  return lines;
}

const codeOf = (error: unknown) => (error instanceof DividereError ? error.code : `NOT A DIVIDERE ERROR: ${String(error)}`);

describe("the broker and its workers' capacity", () => {
  test("a capacity-1 worker whose handler ignores its signal never runs two calls at once while callers abandon attempts", async () => {
    const INTERVAL = 100;
    const { frontend, backend } = await brokerProcess(INTERVAL);
    const stubborn = await workers(["s1", "s2", "s3"], backend, { intervalMs: INTERVAL, capacity: 1, mode: "stubborn" });
    const transport = later(brokerTransport(frontend), (t) => t.close());
    await ready(transport, 3);
    const echoes = new EchoClient(transport);
    const outcomes = new Map<string, number>();
    let made = 0;
    const until = Date.now() + 3000;
    // Six callers for three slots, each call 300 ms of work; every attempt is abandoned after
    // 100 ms (and made again, up to 3 times), every third call is cancelled by its signal.
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (Date.now() < until) {
          const id = `call-${made++}`;
          const signal = made % 3 === 0 ? AbortSignal.timeout(150) : undefined;
          const outcome = await echoes
            .say({ text: id, delayMs: 300 }, { timeoutMs: 2000, attemptTimeoutMs: 100, retries: 3, retryDelayMs: 10, signal })
            .then(() => "OK", codeOf);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }),
    );
    const lines = await linesOf(stubborn);
    const concurrency = [...lines].map(([name, printed]) => {
      let running = 0;
      let most = 0;
      let ran = 0;
      for (const line of printed) {
        if ("ran" in line) (running++, ran++);
        if ("done" in line) running--;
        most = Math.max(most, running);
      }
      return { name, ran, most };
    });
    console.log(`stubborn capacity-1 workers under abandoned attempts: ${made} calls (${[...outcomes].map(([o, n]) => `${o} ${n}`).join(", ")}); per worker ${JSON.stringify(concurrency)}`);
    for (const { ran, most } of concurrency) {
      expect(ran).toBeGreaterThan(0);
      expect(most).toBe(1);
    }
    expect([...outcomes.keys()].every((code) => ["OK", "UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED"].includes(code))).toBe(true);
  }, 60_000);

  test("a worker SIGSTOPped under load and SIGCONTed 10 s later: every call answered once, no handler started for a call already answered", async () => {
    const INTERVAL = 1000;
    const { frontend, backend } = await brokerProcess(INTERVAL);
    // Eight calls at once each, for eight callers: the stopped worker has free slots, and is
    // handed calls it does not read until SIGCONT.
    const pool = await workers(["w1", "w2", "w3"], backend, { intervalMs: INTERVAL, capacity: 8 });
    // The transport as a user makes it: Lazy Pirate retries, here with attempts of 500 ms.
    const transport = later(brokerTransport(frontend, { defaults: { attemptTimeoutMs: 500 } }), (t) => t.close());
    await ready(transport, 3, 24);
    const echoes = new EchoClient(transport);
    const answeredAt = new Map<string, number>();
    const failures: string[] = [];
    let made = 0;
    let stopping = false;
    const callers = Array.from({ length: 8 }, async () => {
      while (!stopping) {
        const id = `call-${made++}`;
        try {
          const reply = await echoes.say({ text: id, delayMs: 5 }, { timeoutMs: 30_000 });
          if (reply.text !== id) failures.push(`${id} got the answer of ${reply.text}`);
          else if (answeredAt.has(id)) failures.push(`${id} answered twice`);
          else answeredAt.set(id, Date.now());
        } catch (error) {
          failures.push(`${id}: ${codeOf(error)} ${(error as Error).message}`);
        }
      }
    });
    const stopped = pool.get("w1")!;
    const waitFor = async (what: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!what()) {
        if (Date.now() > deadline) throw new Error("the load did not go on");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await waitFor(() => answeredAt.size >= 200);
    process.kill(stopped.pid, "SIGSTOP");
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt >= 10_000);
    process.kill(stopped.pid, "SIGCONT");
    const resumedAt = Date.now();
    const before = answeredAt.size;
    await waitFor(() => Date.now() - resumedAt >= 2000 && answeredAt.size >= before + 200);
    stopping = true;
    await Promise.all(callers);

    const lines = await linesOf(pool);
    const started = [...lines].flatMap(([name, printed]) => printed.filter((line) => "ran" in line).map((line) => ({ name, id: line.ran as string, at: line.at as number })));
    const afterAnswer = started.filter(({ id, at }) => answeredAt.has(id) && at > answeredAt.get(id)!);
    const byW1AfterResume = started.filter(({ name, at }) => name === "w1" && at >= resumedAt);
    const stats = lines.get("w1")!.find((line) => "stopped" in line)?.stats;
    console.log(
      `w1 SIGSTOPped for 10 s under load: ${made} calls, ${answeredAt.size} answered, failures: ${failures.length ? failures.join("; ") : "none"}; ` +
        `handlers started after their call was answered: ${afterAnswer.length} ${JSON.stringify(afterAnswer.slice(0, 5))}; ` +
        `w1 ran ${byW1AfterResume.length} calls after SIGCONT; its stats ${JSON.stringify(stats)}`,
    );
    expect(failures).toEqual([]);
    expect(answeredAt.size).toBe(made);
    expect(afterAnswer).toEqual([]);
    // It was handed calls while it was stopped, and gave them back unrun when it woke.
    expect(stats).toMatchObject({ givenBack: expect.any(Number) });
    expect((stats as { givenBack: number }).givenBack).toBeGreaterThan(0);
    // Back from the stop, the worker joins again and is handed new calls.
    expect(byW1AfterResume.length).toBeGreaterThan(0);
  }, 90_000);
});
