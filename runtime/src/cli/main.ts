/**
 * The `dividere` command: run the parts of a dividere system as processes of their own.
 */
import { parseArgs } from "node:util";
import { Broker } from "../broker/broker.js";
import { BROKER_BACKEND_PORT, BROKER_FRONTEND_PORT, HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS } from "../broker/protocol.js";
import { DividereError } from "../errors.js";

const USAGE = `usage: dividere <command> [options]

commands:
  broker     run a load-balancing broker: callers connect to its frontend, workers to its backend

run "dividere <command> --help" for the options of a command.
`;

const BROKER_USAGE = `usage: dividere broker [options]

Runs a broker until SIGINT or SIGTERM, then stops cleanly.

options:
  --frontend ENDPOINT        where to bind for callers (default tcp://*:${BROKER_FRONTEND_PORT})
  --backend ENDPOINT         where to bind for workers (default tcp://*:${BROKER_BACKEND_PORT})
  --heartbeat-interval MS    how often broker and workers exchange heartbeats (default ${HEARTBEAT_INTERVAL_MS})
  --liveness N               heartbeats a worker may miss before it is dropped (default ${HEARTBEAT_LIVENESS})
  --max-queued N             calls that may wait per service for a free worker (default 1000)
  -h, --help                 this text
`;

/** Fails with a message that says what to do; the command exits 2. */
class UsageError extends Error {}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UsageError(`--${name} takes a whole number of at least 1, not "${value}"`);
  return number;
}

async function broker(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      frontend: { type: "string" },
      backend: { type: "string" },
      "heartbeat-interval": { type: "string" },
      liveness: { type: "string" },
      "max-queued": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(BROKER_USAGE);
    return;
  }
  const running = new Broker({
    // A broker binds what it is given, whatever the host: tcp://127.0.0.1:5555 too.
    frontend: values.frontend && { bind: values.frontend },
    backend: values.backend && { bind: values.backend },
    heartbeatIntervalMs: integer(values["heartbeat-interval"], "heartbeat-interval"),
    liveness: integer(values.liveness, "liveness"),
    maxQueued: integer(values["max-queued"], "max-queued"),
  });
  console.log(`dividere broker: callers at ${running.frontendEndpoint}, workers at ${running.backendEndpoint}`);
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
  await running.close();
  console.log(`dividere broker: stopped after answering ${running.stats.answered} calls`);
}

const commands: Record<string, (args: string[]) => Promise<void>> = { broker };

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === "-h" || command === "--help") {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const run = commands[command];
  if (!run) {
    process.stderr.write(`dividere: no command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    await run(args);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`dividere ${command}: ${(error as Error).message}\nrun "dividere ${command} --help" for the options\n`);
      return 2;
    }
    if (error instanceof DividereError) {
      process.stderr.write(`dividere ${command}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
