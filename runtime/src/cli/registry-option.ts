import { REGISTRY_PORT } from "../registry/defaults.js";
import { UsageError } from "./command.js";

/** The registry a command asks when not given `--registry`. */
export const DEFAULT_REGISTRY = `tcp://localhost:${REGISTRY_PORT}`;

/** What follows each command's `--registry ENDPOINTS` line in its usage: how several are given. */
export const SEVERAL_REGISTRIES_USAGE =
  "                             several registries of one view: comma-separated, in order of preference\n" +
  "                             (tcp://a:5000,tcp://b:5000); one that does not answer passes to the next";

/** The registries `--registry` names (comma-separated), or the default one. */
export function registriesOf(value: string | undefined): string[] {
  if (value === undefined) return [DEFAULT_REGISTRY];
  const registries = value.split(",").map((part) => part.trim());
  if (registries.some((registry) => registry === "")) {
    throw new UsageError(`--registry takes endpoints separated by commas (tcp://a:5000,tcp://b:5000), not "${value}"`);
  }
  return registries;
}
