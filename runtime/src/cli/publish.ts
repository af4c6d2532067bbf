import { type Registry, fromJsonString } from "@bufbuild/protobuf";
import { Publisher } from "../messaging/pubsub.js";
import { DividereError } from "../errors.js";
import { type Command, UsageError, integer, parse } from "./command.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";
import { TYPE_USAGE, loadTypes, typeOptions, unknownType } from "./types.js";

/** How long publish waits for a subscriber by default, in ms. */
const DEFAULT_WAIT_MS = 2000;

export const publish: Command = {
  name: "publish",
  summary: "publish one message, given as JSON",
  usage: `usage: dividere publish ENDPOINT TYPE JSON [options]

Publishes a message of TYPE (its full name), given in protobuf's JSON form, on ENDPOINT
(tcp://*:port binds, tcp://host:port connects, e.g. to a subscriber that binds).

A message nobody subscribes to is lost, so it waits up to --wait ms for a subscriber to TYPE
first; with none by then it publishes nothing and exits 1, unless told --anyway.

options:
${TYPE_USAGE}
  --wait MS                  wait up to this long for a subscriber to the type first (default ${DEFAULT_WAIT_MS})
  --anyway                   publish even when no subscriber came within --wait (the message is likely lost)
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      { wait: { type: "string" }, anyway: { type: "boolean" }, ...typeOptions },
      { min: 3, max: 3, names: "ENDPOINT TYPE JSON" },
    );
    const [endpoint, typeName, json] = positionals as [string, string, string];
    const types: Registry = loadTypes(values);
    const schema = types.getMessage(typeName);
    if (!schema) throw unknownType(types, "message", typeName);
    let message;
    try {
      message = fromJsonString(schema, json, { registry: types });
    } catch (error) {
      throw new UsageError(`the JSON is not a ${typeName}: ${(error as Error).message}`);
    }
    await using publisher = new Publisher(endpoint, { types, name: "publish", ...curveFromEnvironment() });
    const waitMs = integer(values.wait, "wait", 0) ?? DEFAULT_WAIT_MS;
    try {
      await publisher.waitForSubscribers({ type: typeName, timeoutMs: waitMs });
    } catch (error) {
      if (!DividereError.is(error, "TIMEOUT")) throw error;
      const none = `no subscriber to ${typeName} connected to ${publisher.endpoint} within ${waitMs} ms`;
      if (!values.anyway) {
        throw new DividereError("TIMEOUT", `${none}, so nothing was published (a message nobody subscribes to is lost); wait longer with --wait MS, or publish regardless with --anyway`);
      }
      process.stderr.write(`dividere publish: ${none}; publishing anyway (--anyway)\n`);
    }
    await publisher.send(message);
    return 0;
  },
};
