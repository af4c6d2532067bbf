import { type Registry, fromBinary, toJson } from "@bufbuild/protobuf";
import { Subscriber } from "../connection/pubsub.js";
import { parseEnvelope } from "../envelope/codec.js";
import { envelopeTopic } from "../envelope/wire.js";
import { DividereError } from "../errors.js";
import { type Command, integer, parse, printJson } from "./command.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";
import { announcedTypes } from "./announced-types.js";
import { SEVERAL_REGISTRIES_USAGE } from "./registry-option.js";
import { TYPE_USAGE, givesTypes, loadTypes, typeOptions } from "./types.js";

/** One received frame as a line of JSON: decoded when its type is known, its bytes otherwise. */
function describe(frames: Buffer[], types: Registry): Record<string, unknown> {
  if (frames.length !== 1) return { error: `${frames.length} frames; a dividere message is one` };
  try {
    const { typeName, payload } = parseEnvelope(frames[0]!);
    const schema = types.getMessage(typeName);
    if (!schema) return { type: typeName, bytes: Buffer.from(payload).toString("base64") };
    return { type: typeName, message: toJson(schema, fromBinary(schema, payload), { registry: types }) };
  } catch (error) {
    if (error instanceof DividereError) return { error: error.message };
    throw error;
  }
}

export const tap: Command = {
  name: "tap",
  summary: "subscribe to a publisher and print every message as JSON",
  usage: `usage: dividere tap ENDPOINT [options]

Subscribes to the publisher at ENDPOINT (tcp://host:port connects, tcp://*:port binds) and prints
each message as a line of JSON: {"type": ..., "message": {...}}. A message of a type it does not
know comes as {"type": ..., "bytes": base64}; a frame that is no message as {"error": ...}.

options:
  --topic TYPE               only messages of this type (its full name); may repeat
${TYPE_USAGE}
  --registry ENDPOINTS       without --proto: the schemas the publisher registered there
                             (announcePublisher), found by ENDPOINT as it registered it;
${SEVERAL_REGISTRIES_USAGE}
  --count N                  exit after N messages
  --timeout MS               exit with 1 when nothing arrives for this long
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      { topic: { type: "string", multiple: true }, count: { type: "string" }, timeout: { type: "string" }, registry: { type: "string" }, ...typeOptions },
      { min: 1, max: 1, names: "the endpoint of a publisher" },
    );
    const count = integer(values.count, "count");
    const timeoutMs = integer(values.timeout, "timeout");
    const announced = values.registry && !givesTypes(values) ? [await announcedTypes(values.registry, positionals[0]!, timeoutMs ?? 1000)] : [];
    const types = loadTypes(values, ...announced);
    await using subscriber = new Subscriber(positionals[0]!, { topics: (values.topic ?? []).map(envelopeTopic), name: "tap", ...curveFromEnvironment() });
    const stop = new AbortController();
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
    for (let seen = 0; count === undefined || seen < count; seen++) {
      let frames: Buffer[];
      try {
        frames = await subscriber.recv({ timeoutMs, signal: stop.signal });
      } catch (error) {
        if (DividereError.is(error, "CANCELLED")) return 0;
        if (DividereError.is(error, "TIMEOUT")) {
          process.stderr.write(`dividere tap: nothing arrived for ${timeoutMs} ms\n`);
          return 1;
        }
        throw error;
      }
      printJson(describe(frames, types));
    }
    return 0;
  },
};

