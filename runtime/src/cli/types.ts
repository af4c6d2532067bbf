import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { type Registry, createFileRegistry, createRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_dividere_MsgLib } from "../gen/dividere/MsgLib_pb.js";
import { file_dividere_v1_broker } from "../gen/dividere/v1/broker_pb.js";
import { file_dividere_v1_registry } from "../gen/dividere/v1/registry_pb.js";
import { file_dividere_v1_rpc } from "../gen/dividere/v1/rpc_pb.js";
import { UsageError } from "./command.js";

/** The options of the commands that read messages: where their types come from. */
export const typeOptions = {
  proto: { type: "string", multiple: true },
  "descriptor-set": { type: "string", multiple: true },
} as const;

export const TYPE_USAGE = `  --proto DIR                the .proto files in DIR (compiled with buf build); may repeat
  --descriptor-set FILE      a descriptor set, as buf build -o FILE.binpb writes it; may repeat`;

/** Finds buf: on PATH, or in node_modules/.bin of this folder or one above. */
function findBuf(): string | undefined {
  const folders = [...(process.env.PATH ?? "").split(delimiter)];
  for (let dir = process.cwd(); ; dir = resolve(dir, "..")) {
    folders.push(join(dir, "node_modules", ".bin"));
    if (resolve(dir, "..") === dir) break;
  }
  return folders.map((folder) => join(folder, "buf")).find((path) => existsSync(path));
}

function compile(dir: string): Uint8Array {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--proto ${dir}: no such folder; pass the folder of your .proto files`);
  const buf = findBuf();
  if (!buf) throw new UsageError("--proto needs buf to compile the .proto files: npm install --save-dev @bufbuild/buf, or pass --descriptor-set");
  try {
    return execFileSync(buf, ["build", dir, "--as-file-descriptor-set", "-o", "-"], { maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
    // Imports are relative to a module's root, so buf builds whole modules only.
    const module = /contained by module at path "([^"]*)"/.exec(stderr)?.[1];
    if (module !== undefined) throw new UsageError(`--proto ${dir} is inside the buf module at "${module}": pass --proto ${module}`);
    throw new UsageError(`buf build ${dir} failed${stderr ? `:\n${stderr}` : ""}`);
  }
}

/** The values of {@link typeOptions}. */
type TypeValues = { proto?: string[] | undefined; "descriptor-set"?: string[] | undefined };

/** Whether the user said where the types come from (--proto, --descriptor-set). */
export const givesTypes = (values: TypeValues): boolean => Boolean(values.proto?.length || values["descriptor-set"]?.length);

/**
 * Every message and service type the command can name: dividere's own, those of the
 * user's .proto folders and descriptor sets, and `more` (what a server described of itself).
 */
export function loadTypes(values: TypeValues, ...more: Registry[]): Registry {
  const registries: Registry[] = [createRegistry(file_dividere_MsgLib, file_dividere_v1_rpc, file_dividere_v1_registry, file_dividere_v1_broker), ...more];
  const sets = [
    ...(values.proto ?? []).map((dir) => compile(dir)),
    ...(values["descriptor-set"] ?? []).map((file) => {
      if (!existsSync(file)) throw new UsageError(`--descriptor-set ${file}: no such file; make one with buf build -o ${file}`);
      return readFileSync(file);
    }),
  ];
  for (const bytes of sets) {
    try {
      registries.push(createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes)));
    } catch (error) {
      throw new UsageError(`not a descriptor set: ${(error as Error).message}`);
    }
  }
  return createRegistry(...registries);
}

/** Dividere's own types, which every command knows: not worth listing to a user who misspelled one of theirs. */
const BUILT_IN = new Set([...createRegistry(file_dividere_MsgLib, file_dividere_v1_rpc, file_dividere_v1_registry, file_dividere_v1_broker)].map((desc) => desc.typeName));

/** How many one-character edits turn `a` into `b` (Levenshtein). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The error for a message type or service that `types` lacks: the full name when only the
 * short one was given, else the closest known name, else the names known, else where types come from.
 */
export function unknownType(types: Registry, kind: "message" | "service", name: string): UsageError {
  const what = kind === "message" ? "message type" : "service";
  const known = [...types].filter((desc) => desc.kind === kind && !BUILT_IN.has(desc.typeName)).map((desc) => desc.typeName);
  const short = (typeName: string) => typeName.slice(typeName.lastIndexOf(".") + 1);
  const sameShort = known.filter((typeName) => short(typeName) === name);
  if (!name.includes(".") && sameShort.length > 0) {
    return new UsageError(`no ${what} "${name}" is known: use its full name, ${sameShort.join(" or ")}`);
  }
  if (known.length === 0) {
    return new UsageError(`no ${what} "${name}" is known; pass --proto DIR or --descriptor-set FILE with its definition (by its full name, package.${short(name)})`);
  }
  const [closest] = known
    .map((typeName) => ({ typeName, edits: Math.min(distance(name.toLowerCase(), typeName.toLowerCase()), distance(short(name).toLowerCase(), short(typeName).toLowerCase())) }))
    .sort((x, y) => x.edits - y.edits);
  const suggestion = closest && closest.edits <= Math.max(2, Math.floor(short(name).length / 4)) ? ` (did you mean ${closest.typeName}?)` : "";
  const listed = known.length <= 10 ? known.join(", ") : `${known.slice(0, 10).join(", ")} and ${known.length - 10} more`;
  return new UsageError(`no ${what} "${name}" is known${suggestion}; the ${kind === "message" ? "message types" : "services"} known are ${listed}. Check the name, or pass the --proto or --descriptor-set that defines it`);
}
