/**
 * The `dividere` command: run the parts of a dividere system, and look into one, from a shell.
 */
import { readFileSync } from "node:fs";
import { DividereError } from "../errors.js";
import { broker } from "./broker.js";
import { call } from "./call.js";
import { type Command, UsageError } from "./command.js";
import { health } from "./health.js";
import { keygen } from "./keygen.js";
import { lookup } from "./lookup.js";
import { publish } from "./publish.js";
import { registry } from "./registry.js";
import { services } from "./services.js";
import { stats } from "./stats.js";
import { tap } from "./tap.js";

const commands: Command[] = [registry, broker, lookup, tap, publish, call, health, services, stats, keygen];

const USAGE = `usage: dividere <command> [options]

commands:
${commands.map((command) => `  ${command.name.padEnd(10)} ${command.summary}`).join("\n")}

run "dividere <command> --help" for the options of a command; NODE_DEBUG=dividere shows what happens.
dividere --version (or -V) prints the version of @dividere/runtime.
`;

/** The version of the package this command comes with, from its package.json (dist/cli/ and src/cli/ are two folders down). */
function version(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (name === "-h" || name === "--help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (name === "-V" || name === "--version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    process.stderr.write(`dividere: there is no command "${name}"\n\n${USAGE}`);
    return 2;
  }
  if (args.includes("-h") || args.includes("--help")) {
    process.stdout.write(command.usage);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof UsageError || code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`dividere ${name}: ${(error as Error).message}\nrun "dividere ${name} --help" for how to call it\n`);
      return 2;
    }
    if (error instanceof DividereError) {
      process.stderr.write(`dividere ${name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
