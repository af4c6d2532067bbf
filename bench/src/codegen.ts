/**
 * Code generation time: protoc-gen-dividere beside protoc-gen-es on the same large proto set.
 *
 * The set is written at run time into a temporary folder and compiled once with `buf build`;
 * the resulting FileDescriptorSet becomes one CodeGeneratorRequest, serialized once. Each run
 * starts a plugin as its own Node process, writes the request to its stdin and waits for it to
 * exit: the wall time of that is the figure, Node's start-up included, for both plugins alike.
 * The comparison is at the plugin level: buf's own compile time (parsing the .proto files,
 * linking, the request it would build) is in neither figure, as it is the same for both.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { interleaved } from "./measure.js";
import type { Suite } from "./rows.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = (name: string) => realpathSync(join(root, "node_modules", ".bin", name));

/** The shape of the generated proto set. */
const FILES = 40;
const MESSAGES = 15;
const SERVICES = ["Alpha", "Beta", "Gamma"] as const;
const RPCS = 4;

const pad = (n: number) => String(n).padStart(2, "0");
const packageOf = (file: number) => `big.p${pad(file)}.v1`;
const pathOf = (file: number) => `big/p${pad(file)}/v1/things.proto`;

/**
 * One file of the set: an enum, MESSAGES messages each with a nested message, scalars, an enum
 * field, repeated and map fields, a oneof, a Timestamp and a field of the previous file's
 * messages; and SERVICES services of RPCS rpcs, half of them server-streaming. Every element has
 * a comment, so the JSDoc paths of both plugins run.
 */
function protoFile(file: number): string {
  const lines: string[] = [
    `// File ${file} of the generated benchmark set: records and the services that move them.`,
    `syntax = "proto3";`,
    ``,
    `package ${packageOf(file)};`,
    ``,
    `import "google/protobuf/timestamp.proto";`,
  ];
  // Cross-file imports: the previous file, and the one half-way down (when that is another).
  const previous = file > 1 ? file - 1 : undefined;
  const half = file > 2 ? Math.floor(file / 2) : undefined;
  if (previous !== undefined) lines.push(`import "${pathOf(previous)}";`);
  if (half !== undefined && half !== previous) lines.push(`import "${pathOf(half)}";`);
  lines.push(
    ``,
    `// The kind of a record of package ${packageOf(file)}.`,
    `enum Kind {`,
    `  // Not set.`,
    `  KIND_UNSPECIFIED = 0;`,
    `  // A plain record.`,
    `  KIND_PLAIN = 1;`,
    `  // A record that sums others.`,
    `  KIND_SUM = 2;`,
    `  // A record kept for history.`,
    `  KIND_ARCHIVED = 3;`,
    `}`,
  );
  for (let m = 1; m <= MESSAGES; m++) {
    const name = `Item${pad(m)}`;
    lines.push(
      ``,
      `// Item ${m} of package ${packageOf(file)}: a record with every kind of field.`,
      `//`,
      `// It refers to the item before it and to the records of other files.`,
      `message ${name} {`,
      `  // A detail of ${name}, kept inside it.`,
      `  message Detail {`,
      `    // What the detail is called.`,
      `    string label = 1;`,
      `    // How much it weighs.`,
      `    double weight = 2;`,
      `    // Where it comes from.`,
      `    repeated string sources = 3;`,
      `  }`,
      ``,
      `  // The identifier of the record.`,
      `  string id = 1;`,
      `  // How many times it was counted.`,
      `  int64 count = 2;`,
      `  // Bit flags.`,
      `  uint32 flags = 3;`,
      `  // Whether the record is live.`,
      `  bool active = 4;`,
      `  // Opaque bytes carried along.`,
      `  bytes blob = 5;`,
      `  // A ratio between 0 and 1.`,
      `  double ratio = 6;`,
      `  // The kind of the record.`,
      `  Kind kind = 7;`,
      `  // Free tags.`,
      `  repeated string tags = 8;`,
      `  // The details, in order.`,
      `  repeated Detail details = 9;`,
      `  // Totals by name.`,
      `  map<string, int64> totals = 10;`,
      `  // Details by name.`,
      `  map<string, Detail> by_name = 11;`,
      `  // When the record was made.`,
      `  google.protobuf.Timestamp created_at = 12;`,
      `  // A note, when there is one.`,
      `  optional string note = 13;`,
      `  // What the record holds: a text, a number or a detail.`,
      `  oneof choice {`,
      `    // A text.`,
      `    string text = 14;`,
      `    // A number.`,
      `    sint32 number = 15;`,
      `    // A detail.`,
      `    Detail detail = 16;`,
      `  }`,
    );
    if (m > 1) lines.push(`  // The item before this one.`, `  Item${pad(m - 1)} before = 17;`);
    if (previous !== undefined) lines.push(`  // The same item of the previous file.`, `  ${packageOf(previous)}.${name} upstream = 18;`);
    if (half !== undefined && half !== previous) lines.push(`  // The kind the half-way file gives it.`, `  ${packageOf(half)}.Kind origin = 19;`);
    lines.push(`}`);
  }
  SERVICES.forEach((service, s) => {
    const item = (k: number) => `Item${pad(((s * RPCS + k) % MESSAGES) + 1)}`;
    lines.push(``, `// The ${service} service of package ${packageOf(file)}.`, `service ${service} {`);
    for (let k = 0; k < RPCS; k++) {
      const streaming = k % 2 === 1;
      const [verb, comment] = streaming ? [`Watch${k}`, "Streams the records that match, as they change."] : [`Get${k}`, "Answers with the record asked for."];
      lines.push(`  // ${comment}`, `  rpc ${verb}(${item(k)}) returns (${streaming ? "stream " : ""}${item(k + 1)});`);
    }
    lines.push(`}`);
  });
  return `${lines.join("\n")}\n`;
}

/** Writes the set into a new temporary folder, compiles it with buf, returns the request bytes. */
function buildRequest(): { request: Uint8Array; note: string } {
  const dir = mkdtempSync(join(tmpdir(), "dividere-codegen-"));
  try {
    const protos = join(dir, "proto");
    const names: string[] = [];
    for (let file = 1; file <= FILES; file++) {
      const path = join(protos, pathOf(file));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, protoFile(file));
      names.push(pathOf(file));
    }
    const image = join(dir, "set.binpb");
    // Imports and source info (the comments) are in the image by default.
    const built = spawnSync(bin("buf"), ["build", protos, "-o", image], { encoding: "utf8" });
    if (built.status !== 0) throw new Error(`buf build failed (${built.status ?? built.signal}): ${built.stderr || built.error}`);
    const set = fromBinary(FileDescriptorSetSchema, readFileSync(image));
    const generated = new Set(names);
    const missing = names.filter((name) => !set.file.some((file) => file.name === name));
    if (missing.length > 0) throw new Error(`buf build left out ${missing.join(", ")}`);
    // buf writes the files in dependency order, imports (google/protobuf/timestamp.proto) first.
    const request = create(CodeGeneratorRequestSchema, {
      fileToGenerate: set.file.filter((file) => generated.has(file.name)).map((file) => file.name),
      parameter: "target=ts",
      protoFile: set.file,
    });
    const files = set.file.filter((file) => generated.has(file.name));
    const messages = files.reduce((sum, file) => sum + file.messageType.reduce((n, message) => n + 1 + message.nestedType.filter((nested) => !nested.options?.mapEntry).length, 0), 0);
    const services = files.reduce((sum, file) => sum + file.service.length, 0);
    const rpcs = files.reduce((sum, file) => sum + file.service.reduce((n, service) => n + service.method.length, 0), 0);
    return { request: toBinary(CodeGeneratorRequestSchema, request), note: `${files.length} files, ${messages} messages, ${services} services (${rpcs} rpcs)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a plugin once on `request`; resolves with its wall time in ms, after checking its response. */
function runPlugin(script: string, request: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.stdin.on("error", () => {}); // a plugin that dies early: the exit code says it
    child.once("error", reject);
    // "close": exited, and stdout and stderr are drained.
    child.once("close", (code, signal) => {
      const elapsed = performance.now() - started;
      if (code !== 0) {
        reject(new Error(`${script} exited with ${code ?? signal}: ${Buffer.concat(err).toString()}`));
        return;
      }
      const response = fromBinary(CodeGeneratorResponseSchema, Buffer.concat(out));
      if (response.error) reject(new Error(`${script} answered with an error: ${response.error}`));
      else if (response.file.length === 0) reject(new Error(`${script} generated no files`));
      else resolve(elapsed);
    });
    child.stdin.end(request);
  });
}

/** Median wall time of each plugin, the plugins taking turns run by run, after one discarded warm-up run each. */
export const codegenSuite: Suite = async ({ rounds }) => {
  const { request, note } = buildRequest();
  const plugins: [string, string][] = [
    ["protoc-gen-es", bin("protoc-gen-es")],
    ["protoc-gen-dividere", bin("protoc-gen-dividere")],
  ];
  for (const [, script] of plugins) await runPlugin(script, request);
  return interleaved(
    plugins.map(([name, script], i) => ({ row: { group: "code generation", name, unit: "ms", ...(i === 0 ? { note } : {}) }, measure: () => runPlugin(script, request) })),
    rounds,
  );
};
