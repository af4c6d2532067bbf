import { parseArgs, type ParseArgsConfig } from "node:util";

/** A mistake in how a command was called: the message says what to do; the command exits 2. */
export class UsageError extends Error {}

/** One `dividere` command. */
export interface Command {
  name: string;
  /** One line for `dividere --help`. */
  summary: string;
  /** The whole of `dividere NAME --help`. */
  usage: string;
  /** Runs the command; resolves with its exit code. */
  run(args: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses a command's arguments (`--help` is handled before); unknown options and missing positionals are usage errors. */
export function parse<O extends Options>(
  args: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): { values: ParsedValues<O>; positionals: string[] } {
  const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  if (parsed.positionals.length < positionals.min || parsed.positionals.length > positionals.max) {
    throw new UsageError(`expected ${positionals.names}`);
  }
  return { values: parsed.values as ParsedValues<O>, positionals: parsed.positionals };
}

/** The values parseArgs gives for `options`. */
type ParsedValues<O extends Options> = {
  [K in keyof O]?: O[K] extends { multiple: true } ? string[] : O[K] extends { type: "boolean" } ? boolean : string;
};

/** A whole number option of at least `min`. */
export function integer(value: string | boolean | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== "string" || !Number.isInteger(number) || number < min) {
    throw new UsageError(`--${name} takes a whole number of at least ${min}, not "${String(value)}"`);
  }
  return number;
}

/** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve(signal));
  });
}

/** Writes one line of JSON to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
