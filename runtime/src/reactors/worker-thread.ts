/**
 * The entry point of each WorkerReactor thread: imports the handler module, builds the
 * sockets from their specs, runs a Reactor until the parent says close, counting into memory
 * the parent reads.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as messaging from "../messaging/index.js";
import type { ReactorSocket } from "./context.js";
import { Reactor, countInto } from "./reactor.js";
import type { WorkerDefinition } from "./worker-definition.js";
import { type WorkerCommand, type WorkerReport, type WorkerStart, sharedCounts } from "./worker-protocol.js";

const start = workerData as WorkerStart;
const port = parentPort!;
const report = (message: WorkerReport) => port.postMessage(message);

async function run(): Promise<void> {
  const imported = (await import(start.module)) as { default?: WorkerDefinition };
  const definition = imported.default;
  if (!definition || typeof definition.dispatch !== "function") {
    throw new Error(`${start.module} has no default export made by defineWorker({ types, dispatch })`);
  }
  const context = { data: start.data, threadIndex: start.threadIndex };
  await definition.initThread?.(context);
  const sockets: ReactorSocket[] = [];
  try {
    for (const spec of start.sockets) {
      const Socket = messaging[spec.kind] as new (endpoint: unknown, options: unknown) => ReactorSocket;
      sockets.push(new Socket(spec.endpoint, { ...spec.options, types: definition.types }));
    }
  } catch (error) {
    await Promise.all(sockets.map((socket) => socket.close()));
    throw error;
  }
  const reactor = new Reactor(sockets, definition.dispatch(context), {
    idleIntervalMs: start.idleIntervalMs,
    concurrency: start.concurrency,
    idle: definition.idle && (() => definition.idle!(context)),
    onError: (error) => report({ type: "error", code: error.code, message: `thread ${start.threadIndex}: ${error.message}` }),
    [countInto]: sharedCounts(start.counters, start.threadIndex),
  });
  port.on("message", (command: WorkerCommand) => {
    if (command.type !== "close") return;
    void (async () => {
      await reactor.close();
      try {
        await definition.finishThread?.(context);
      } catch (error) {
        report({ type: "error", code: "HANDLER_FAILED", message: `thread ${start.threadIndex}: finishThread() threw: ${(error as Error)?.message}` });
      }
      port.close();
    })();
  });
  report({ type: "ready" });
}

run().catch((error: unknown) => {
  report({ type: "failed", message: (error as Error)?.message ?? String(error) });
  port.close();
});
