// The documentation's snippets are code, and this test keeps them honest.
//
// - Every ```ts block of README.md and docs/*.md is compiled (strict, ESM) the way a user project compiles
//   it: `@dividere/runtime` resolves through node_modules to the built package (runtime/dist),
//   and `./gen/...` is the code buf generates from docs/proto with docs/buf.gen.yaml.
// - A block opened with ```ts run is also run with Node, and must exit 0 by itself within
//   RUN_LIMIT_MS, writing nothing to stderr: a socket or timer left open fails it.
// - A block opened with ```ts project is a file of the README's "Your own project", with code
//   generated from that section's own .proto: `npm run check:packages` (run by .ci/run) builds
//   that project from the packed packages, compiles it under TypeScript 7 and 5.9 and runs it.
// - The `dividere` options the shell blocks of README.md and docs/cli.md use must exist in `--help`.
//
// The blocks, the generated code and the compiled JavaScript go to docs/.snippets (not committed).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, test } from "vitest";
import { fencedBlocks } from "../scripts/markdown.mjs";
import { runNode } from "./helpers.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const docs = join(root, "docs");
const scratch = join(docs, ".snippets");
const out = join(scratch, "out");
const bin = join(root, "node_modules/.bin");

/** How long a runnable snippet may take before it counts as hanging. */
const RUN_LIMIT_MS = 20_000;
/** The pages that describe a pattern: each must show it working in at least one snippet that runs. */
const PATTERN_PAGES = ["pubsub.md", "reactors.md", "services.md", "broker.md", "registry.md"];

interface Snippet {
  /** e.g. `docs/services.md`. */
  page: string;
  /** 1-based, among the page's ts blocks. */
  index: number;
  /** The line of the markdown file the block's first line of code is on. */
  line: number;
  code: string;
  run: boolean;
  /** Where the block is written, and where its JavaScript goes. */
  file: string;
  js: string;
}

/** The pages with snippets, relative to the repository: the README and docs/*.md. */
function pages(): string[] {
  const pages = readdirSync(docs)
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...pages];
}

/** Every ts block of every page but `ts project` ones; another info string than `ts`, `ts run` or `ts project` is an error. */
function snippets(): Snippet[] {
  const found: Snippet[] = [];
  for (const page of pages()) {
    let index = 0;
    for (const block of fencedBlocks(readFileSync(join(root, page), "utf8"))) {
      const [language, ...flags] = block.info.split(/\s+/);
      if (language !== "ts" && language !== "typescript") continue;
      if (flags.includes("project")) continue;
      index++;
      const unknown = flags.filter((flag) => flag !== "run");
      if (unknown.length > 0) throw new Error(`${page}:${block.line - 1}: unknown snippet marker ${unknown.join(" ")}; write \`\`\`ts, \`\`\`ts run or \`\`\`ts project`);
      const base = `${page.replace(/^docs\//, "").replace(/\.md$/, "")}.${index}`;
      found.push({
        page,
        index,
        line: block.line,
        code: block.code,
        run: flags.includes("run"),
        file: join(scratch, `${base}.ts`),
        js: join(out, `${base}.js`),
      });
    }
  }
  return found;
}

const all = snippets();
const bySnippetFile = new Map(all.map((snippet) => [snippet.file, snippet]));

/** A diagnostic as `docs/page.md:LINE (ts block N): error TS1234: text`. */
function describeDiagnostic(diagnostic: ts.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
  const code = `TS${diagnostic.code}`;
  if (!diagnostic.file || diagnostic.start === undefined) return `error ${code}: ${text}`;
  const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
  const snippet = bySnippetFile.get(diagnostic.file.fileName);
  if (snippet) return `${snippet.page}:${snippet.line + line} (ts block ${snippet.index}, column ${character + 1}): error ${code}: ${text}`;
  return `${relative(root, diagnostic.file.fileName)}:${line + 1}:${character + 1}: error ${code}: ${text}`;
}

let compileErrors: string[] = [];

beforeAll(() => {
  if (!existsSync(join(root, "runtime/dist/index.d.ts"))) {
    throw new Error("the snippets compile against the built runtime: run `npm run build` first");
  }
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  // The snippets are ES modules, as a project with "type": "module" has them.
  writeFileSync(join(scratch, "package.json"), `${JSON.stringify({ private: true, type: "module" })}\n`);
  execFileSync(join(bin, "buf"), ["generate"], {
    cwd: docs,
    env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
    stdio: "pipe",
  });
  for (const snippet of all) writeFileSync(snippet.file, snippet.code);
  const program = ts.createProgram(
    all.map((snippet) => snippet.file),
    {
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts"],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: true,
      types: ["node"],
      rootDir: scratch,
      outDir: out,
    },
  );
  const emitted = program.emit();
  compileErrors = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].map(describeDiagnostic);
}, 60_000);

describe("README.md and docs/*.md", () => {
  test("have ts blocks, and every pattern page has one that runs", () => {
    expect(all.length).toBeGreaterThan(0);
    for (const name of PATTERN_PAGES) {
      expect(all.filter((snippet) => snippet.page === `docs/${name}`).some((snippet) => snippet.run), `docs/${name} has no \`\`\`ts run block`).toBe(true);
    }
  });

  test("every ts block compiles (strict, ESM, against the built runtime and docs/proto's generated code)", () => {
    expect(compileErrors).toEqual([]);
  });

  test.concurrent.each(all.filter((snippet) => snippet.run).map((snippet) => [`${snippet.page} ts block ${snippet.index} (line ${snippet.line - 1})`, snippet] as const))(
    "%s runs, exits 0 by itself and writes nothing to stderr",
    async (_, snippet) => {
      const { code, stdout, stderr, ms } = await runNode(snippet.js, RUN_LIMIT_MS);
      const report = `exit ${code} after ${ms} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`;
      expect(code, report).toBe(0);
      expect(stderr, report).toBe("");
    },
    RUN_LIMIT_MS + 5_000,
  );
});

describe("README.md and docs/cli.md", () => {
  const dividere = (...args: string[]) => execFileSync(process.execPath, [join(root, "runtime/bin/dividere.js"), ...args], { encoding: "utf8" });
  // The commands `dividere --help` lists, one per line after "commands:".
  const commands = [...dividere("--help").split("commands:")[1]!.matchAll(/^ {2}(\S+)/gm)].map((match) => match[1]!);
  const usage = new Map(
    commands.map((command) => [
      command,
      dividere(command, "--help"),
    ]),
  );

  test("uses only commands and options that `dividere <command> --help` lists", () => {
    expect(commands).toEqual(expect.arrayContaining(["registry", "broker", "call", "keygen"]));
    const problems: string[] = [];
    let used = 0;
    for (const page of ["README.md", "docs/cli.md"]) {
      for (const block of fencedBlocks(readFileSync(join(root, page), "utf8"))) {
        if (block.info !== "sh") continue;
        block.code.split("\n").forEach((text, offset) => {
          const invocation = /(?:^|\s)(?:npx\s+)?dividere\s+(\S+)(.*)$/.exec(text.replace(/\s+#.*$/, ""));
          if (!invocation) return;
          const [, command, rest] = invocation as unknown as [string, string, string];
          const where = `${page}:${block.line + offset}`;
          if (["--help", "-h", "--version", "-V"].includes(command)) return;
          const help = usage.get(command);
          if (!help) return void problems.push(`${where}: there is no command "dividere ${command}"`);
          used++;
          for (const option of rest.match(/(?<=^|\s)--?[a-z][a-z-]*/g) ?? []) {
            if (!new RegExp(`(^|[\\s,])${option}(\\s|,|$)`, "m").test(help)) problems.push(`${where}: dividere ${command} has no option ${option}`);
          }
        });
      }
    }
    expect(used).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
