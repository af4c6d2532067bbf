import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema } from "@bufbuild/protobuf/wkt";
import { help } from "./help.js";
import { protocGenDividere as plugin } from "./plugin.js";

/*
 * protoplugin's runNodeJs, but an empty or interactive standard input is told how the plugin
 * is run instead of getting an empty CodeGeneratorResponse's bytes, and --help lists the options.
 */

function fail(message: string): never {
  process.stderr.write(`${plugin.name}: ${message}\n`);
  process.exit(1);
}

async function readAll(stream: NodeJS.ReadStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const notByHand =
  "it is run by buf or protoc, which write a CodeGeneratorRequest to its standard input: " +
  "`npx buf generate` with `local: protoc-gen-dividere` in buf.gen.yaml, or " +
  "`protoc --plugin=protoc-gen-dividere=node_modules/.bin/protoc-gen-dividere --dividere_out=DIR ...`; " +
  "protoc-gen-dividere --help lists its options";

const args = process.argv.slice(2);
if (args[0] === "--version" || args[0] === "-v") {
  process.stdout.write(`${plugin.name} ${plugin.version}\n`);
} else if (args[0] === "--help" || args[0] === "-h") {
  process.stdout.write(help(plugin.name, plugin.version));
} else if (args.length > 0) {
  fail(`it takes no arguments (${args.join(" ")}); ${notByHand}`);
} else if (process.stdin.isTTY) {
  fail(`nothing to read: ${notByHand}`);
} else {
  const input = await readAll(process.stdin);
  if (input.length === 0) fail(`standard input was empty: ${notByHand}`);
  let output: Uint8Array;
  try {
    output = toBinary(CodeGeneratorResponseSchema, plugin.run(fromBinary(CodeGeneratorRequestSchema, input)));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  process.stdout.write(output);
}
