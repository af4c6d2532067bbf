/**
 * `npm run demo`: Python dividere's two examples, done with @dividere/runtime, end to end on
 * this machine. Exits 0 when both work.
 */
import { requestReply } from "./request-reply.js";
import { simplePubSub } from "./simple-pubsub.js";

const LIMIT_MS = 30_000;

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`demo: not finished after ${LIMIT_MS / 1000} s; giving up`);
    process.exit(1);
  }, LIMIT_MS);
  watchdog.unref();

  console.log("dividere demo 1/2: simple pub/sub (Python examples/simplePubSub.py)");
  await simplePubSub();
  console.log();
  console.log("dividere demo 2/2: request/reply with a published event alongside (Python examples/msgReactor.py)");
  await requestReply();
  console.log();
  console.log("demo finished: every message arrived.");
}

main().catch((error: unknown) => {
  console.error("demo failed:", error);
  process.exitCode = 1;
});
