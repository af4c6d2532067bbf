import { type Registry, fromJsonString } from "@bufbuild/protobuf";
import { Publisher } from "../messaging/pubsub.js";
import { DividereError } from "../errors.js";
import { type Command, UsageError, integer, parse } from "./command.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";
import { TYPE_USAGE, loadTypes, typeOptions, unknownType } from "./types.js";

export const publish: Command = {
  name: "publish",
  summary: "publish one message, given as JSON",
  usage: `usage: dividere publish ENDPOINT TYPE JSON [options]

Publishes a message of TYPE (its full name), given in protobuf's JSON form, on ENDPOINT
(tcp://*:port binds, tcp://host:port connects, e.g. to a subscriber that binds).

options:
${TYPE_USAGE}
  --wait MS                  wait up to this long for a subscriber to the type first (default 2000)
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(args, { wait: { type: "string" }, ...typeOptions }, { min: 3, max: 3, names: "ENDPOINT TYPE JSON" });
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
    const waitMs = integer(values.wait, "wait", 0) ?? 2000;
    try {
      await publisher.waitForSubscribers({ type: typeName, timeoutMs: waitMs });
    } catch (error) {
      if (!DividereError.is(error, "TIMEOUT")) throw error;
      process.stderr.write(`dividere publish: no subscriber to ${typeName} after ${waitMs} ms; publishing anyway\n`);
    }
    await publisher.send(message);
    return 0;
  },
};
