#!/usr/bin/env node
// First contact: what a new user meets, from the packed tarballs to a program that runs.
//
// From a clean build it packs @dividere/runtime and protoc-gen-dividere (their `prepack` builds
// them), makes a new project outside the repository, installs the tarballs there with buf,
// protoc-gen-es, @bufbuild/protobuf, @types/node and TypeScript from the npm registry, once per
// TypeScript version, and for each plugin target generates the code of the README's protos,
// compiles the README's program with `tsc --strict` (skipLibCheck false) and runs it to its end.
//
// The README is the source of truth: the project's files are the blocks of its "Your own project"
// section that start with a comment naming a file (`# buf.gen.yaml`, `// src/main.ts`, ...).
//
//   node scripts/first-contact.mjs [--typescript 7,5.9] [--targets ts,js,dts,js+dts] [--keep]
//
// It needs the npm registry. The Node that runs it runs everything (npm, buf, tsc, the program).
// Exit 0 when every step passed; 1 with a summary of the failures otherwise.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fencedBlocks, section } from "./markdown.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const PACKAGES = ["runtime", "protoc-gen-dividere"];
/** What each tarball must hold, beside everything its `files` lists. */
const MUST_SHIP = {
  runtime: ["package.json", "README.md", "LICENSE", "bin/dividere.js", "dist/index.js", "dist/index.d.ts"],
  "protoc-gen-dividere": ["package.json", "README.md", "LICENSE", "bin/protoc-gen-dividere.js", "dist/main.js"],
};
/** The registry's packages beside the tarballs; buf stays pinned, as in this repository. */
const FROM_REGISTRY = ["@bufbuild/buf@1.74.0", "@bufbuild/protoc-gen-es", "@bufbuild/protobuf", "@types/node"];
const PROGRAM = "src/main.ts";
/** How long the README's program may take to exit by itself. */
const RUN_LIMIT_MS = 30_000;

const { values: args } = parseArgs({
  options: {
    typescript: { type: "string", default: "7,5.9" },
    targets: { type: "string", default: "ts,js,dts,js+dts" },
    keep: { type: "boolean", default: false },
  },
});

// Children run on this Node: npm, buf's and tsc's `#!/usr/bin/env node` find it first on PATH.
// `npm run` puts this repository's node_modules/.bin on PATH, where buf would find the workspace's
// plugin instead of the packed one: the project's own .bin comes first, as with `npx`.
const searchPath = [dirname(process.execPath), ...(process.env.PATH ?? "").split(delimiter).filter((dir) => dir && !dir.startsWith(root))];
const env = (project) => ({ ...process.env, PATH: [...(project ? [join(project, "node_modules/.bin")] : []), ...searchPath].join(delimiter) });
const failures = [];

/**
 * Runs a command and resolves with its exit code, its standard output and all it wrote (both
 * streams, in order); a command that outlives `limitMs` is killed.
 */
function run(command, commandArgs, { cwd, limitMs = 300_000 }) {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { cwd, env: env(cwd === root ? undefined : cwd), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (chunk) => ((stdout += chunk), (output += chunk)));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n(killed: still running after ${limitMs} ms; something keeps it alive)`;
      child.kill("SIGKILL");
    }, limitMs);
    child.on("error", (error) => (output += `\n${error.message}`));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, output });
    });
  });
}

/**
 * One step of the check: runs `action`, prints what it did, how long it took and, when it failed,
 * the end of its output. A failed step is remembered for the summary; the check goes on.
 * `action` resolves with a line saying what it did, or throws.
 */
async function step(name, action) {
  const started = Date.now();
  try {
    const said = await action();
    console.log(`  ok    ${name} (${seconds(started)})${said ? `: ${said}` : ""}`);
    return true;
  } catch (error) {
    console.log(`  FAIL  ${name} (${seconds(started)})\n${indent(error.message)}`);
    failures.push({ name, why: firstError(error.message) });
    return false;
  }
}

/** The line of a failure's text that says most: the first that names an error, else its first line. */
function firstError(text) {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /error|failure|cannot|not found/i.test(line)) ?? lines[0] ?? "";
}

const seconds = (started) => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const indent = (text) => text.trimEnd().split("\n").slice(-25).map((line) => `        ${line}`).join("\n");

/** Runs a command for a step: resolves with its standard output, throws with all it wrote on a non-zero exit. */
async function sh(command, commandArgs, options) {
  const { code, stdout, output } = await run(command, commandArgs, options);
  if (code !== 0) throw new Error(`${[command, ...commandArgs].join(" ")} exited ${code}\n${output}`);
  return stdout;
}

/** The project files of the README's "Your own project": every block that starts with a comment naming a file. */
function projectFiles() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const own = section(readme, "## Your own project");
  if (!own) throw new Error('README.md has no "## Your own project" section');
  const files = new Map();
  for (const block of fencedBlocks(own.text)) {
    const named = /^(?:\/\/|#)\s*([\w.-]+(?:\/[\w.-]+)*\.\w+)\s*$/.exec(block.code.split("\n")[0]);
    if (named) files.set(named[1], block.code);
  }
  const protoc = fencedBlocks(own.text).find((block) => block.info === "sh" && block.code.startsWith("protoc "));
  const missing = ["buf.gen.yaml", "tsconfig.json", PROGRAM].filter((file) => !files.has(file));
  if (![...files.keys()].some((file) => file.endsWith(".proto"))) missing.push("a .proto file");
  if (missing.length > 0) {
    throw new Error(
      `README.md's "Your own project" (line ${own.line}) has no block for ${missing.join(", ")}; ` +
        "a block that is a file of the project starts with a comment naming it (`# buf.gen.yaml`, `// src/main.ts`)",
    );
  }
  const targets = files.get("buf.gen.yaml").match(/target=ts\b/g) ?? [];
  if (targets.length !== 2) {
    throw new Error(`README.md's buf.gen.yaml must give both plugins target=ts (found ${targets.length}); the check swaps it for each target`);
  }
  return { files, protoc: protoc?.code.trim() };
}

/** Removes both packages' build output, so that packing must build them. */
function clean() {
  for (const name of PACKAGES) {
    rmSync(join(root, name, "dist"), { recursive: true, force: true });
    // tsc -b trusts its build info over a missing dist: without it, nothing would be rebuilt.
    rmSync(join(root, name, "tsconfig.tsbuildinfo"), { force: true });
  }
}

/** Packs both packages into `into`; returns the tarballs' paths after checking what they hold. */
async function pack(into) {
  const output = await sh("npm", ["pack", "--json", "--pack-destination", into, ...PACKAGES.flatMap((name) => ["--workspace", name])], { cwd: root });
  // The build's lines come first; npm's JSON is the rest.
  const packed = JSON.parse(output.slice(output.search(/^\[/m)));
  const license = readFileSync(join(root, "LICENSE"), "utf8");
  const problems = [];
  for (const [i, name] of PACKAGES.entries()) {
    const files = new Set(packed[i].files.map((file) => file.path));
    const missing = MUST_SHIP[name].filter((file) => !files.has(file));
    if (missing.length > 0) problems.push(`${packed[i].filename} lacks ${missing.join(", ")}`);
    const copy = join(root, name, "LICENSE");
    if (existsSync(copy) && readFileSync(copy, "utf8") !== license) problems.push(`${name}/LICENSE differs from LICENSE; copy it again`);
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return {
    tarballs: packed.map((entry) => join(into, entry.filename)),
    said: packed.map((entry) => `${entry.filename} (${entry.entryCount} files, ${Math.round(entry.size / 1024)} KiB)`).join(", "),
  };
}

/** Writes the README's files into `project`, with `target` for both plugins. */
function writeProject(project, files, target) {
  for (const [file, text] of files) {
    mkdirSync(dirname(join(project, file)), { recursive: true });
    writeFileSync(join(project, file), file === "buf.gen.yaml" ? text.replaceAll("target=ts", `target=${target}`) : text);
  }
}

/** The version of a package installed in `project`. */
const installed = (project, name) => JSON.parse(readFileSync(join(project, "node_modules", name, "package.json"), "utf8")).version;

/** Copies the generated JavaScript beside the compiled program, as a build step of a js project would. */
function copyGeneratedJs(project) {
  const from = join(project, "src/gen");
  for (const entry of readdirSync(from, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".js")) continue;
    const source = join(entry.parentPath, entry.name);
    const target = join(project, "dist/gen", source.slice(from.length));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(source, target);
  }
}

/**
 * Generates the code of the README's protos in `project` (whose packages are installed) with
 * `target` for both plugins, compiles the program against it and runs it. `generate` is the
 * command that writes src/gen: `buf generate`, or the README's protoc command.
 */
async function checkTarget(project, files, { target, label, generate }) {
  const bin = (name) => join(project, "node_modules/.bin", name);
  rmSync(join(project, "src/gen"), { recursive: true, force: true });
  rmSync(join(project, "dist"), { recursive: true, force: true });
  writeProject(project, files, target);
  mkdirSync(join(project, "src/gen"), { recursive: true }); // protoc writes into a folder that exists
  const generated = await step(`${label}: ${generate.name}`, async () => {
    await sh(...generate.command, { cwd: project });
    const written = readdirSync(join(project, "src/gen"), { recursive: true }).filter((file) => /\.(ts|js)$/.test(file));
    return written.sort().join(", ");
  });
  if (!generated) return;
  const parts = target.split("+");
  const hasTypes = parts.includes("ts") || parts.includes("dts");
  // Without declarations the program cannot be type-checked; it is compiled as plain JavaScript then.
  const compiled = await step(
    `${label}: tsc ${hasTypes ? "--strict --skipLibCheck false" : "--noCheck (js writes no declarations to check against)"}`,
    () => sh(bin("tsc"), ["-p", ".", ...(hasTypes ? ["--strict", "--skipLibCheck", "false"] : ["--noCheck"])], { cwd: project }).then(() => ""),
  );
  if (!compiled) return;
  if (!parts.includes("ts") && !parts.includes("js")) {
    console.log(`  --    ${label}: node dist/main.js: not run, ${target} writes no JavaScript to run`);
    return;
  }
  if (!parts.includes("ts")) copyGeneratedJs(project);
  await step(`${label}: node dist/main.js exits 0 by itself`, async () => {
    const { code, output } = await run(process.execPath, ["dist/main.js"], { cwd: project, limitMs: RUN_LIMIT_MS });
    if (code !== 0) throw new Error(`exited ${code}\n${output}`);
    return output.trim().split("\n").join(" | ");
  });
}

/** The README's protoc command as a generator, or `undefined` (said, and under CI a failure) without protoc. */
async function protocGenerator(project, command, label) {
  if ((await run("sh", ["-c", "command -v protoc"], { cwd: project })).code === 0) {
    return { name: "the README's protoc command", command: ["sh", ["-c", command]] };
  }
  const why = "no protoc on PATH (Debian: apt-get install protobuf-compiler)";
  const ci = process.env.CI === "true";
  if (ci) failures.push({ name: `${label}: the README's protoc command`, why });
  console.log(`  ${ci ? "FAIL" : "skip"}  ${label}: the README's protoc command: ${why}`);
  return undefined;
}

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), "dividere-first-contact-"));
console.log(`first contact, on Node ${process.version}, in ${work}`);
let readme;
let tarballs;
await step("README.md: the project files of \"Your own project\"", () => {
  readme = projectFiles();
  return [...readme.files.keys()].join(", ");
});
await step("clean build, then npm pack of both packages (prepack builds them)", async () => {
  clean();
  const packed = await pack(work);
  tarballs = packed.tarballs;
  return packed.said;
});

if (readme && tarballs) {
  for (const typescript of args.typescript.split(",")) {
    const project = join(work, `project-ts${typescript}`);
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "first-contact", private: true, type: "module" }, null, 2)}\n`);
    const label = `TypeScript ${typescript}`;
    const ready = await step(`${label}: npm install of the tarballs, ${[...FROM_REGISTRY, `typescript@${typescript}`].join(", ")}`, async () => {
      await sh("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, ...FROM_REGISTRY, `typescript@${typescript}`], { cwd: project });
      return ["typescript", "@bufbuild/buf", "@bufbuild/protoc-gen-es", "@bufbuild/protobuf", "@types/node", "zeromq"].map((name) => `${name} ${installed(project, name)}`).join(", ");
    });
    if (!ready) continue;
    for (const target of args.targets.split(",")) {
      const generate = { name: `buf generate (target=${target})`, command: [join(project, "node_modules/.bin/buf"), ["generate"]] };
      await checkTarget(project, readme.files, { target, label: `${label}, ${target}`, generate });
    }
    // Once is enough for the protoc command: it differs from buf only in how the plugins are run.
    const protoc = readme.protoc && typescript === args.typescript.split(",")[0] && (await protocGenerator(project, readme.protoc, label));
    if (protoc) await checkTarget(project, readme.files, { target: "ts", label: `${label}, ts`, generate: protoc });
  }
}

if (!args.keep) rmSync(work, { recursive: true, force: true });
console.log(`\nfirst contact: ${failures.length === 0 ? "every step passed" : `${failures.length} step(s) failed`} in ${seconds(started)}${args.keep ? `; the projects are in ${work}` : ""}`);
for (const { name, why } of failures) console.log(`  ${name}: ${why}`);
process.exitCode = failures.length === 0 ? 0 : 1;
