import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { protoc } from "./prerequisites.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "node_modules/.bin");
const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` };
const golden = (file: string) => readFileSync(join(root, "test/gen", file), "utf8");

/**
 * Runs `buf generate` of proto/test/chat with protoc-gen-dividere (or the plugin command `local`)
 * and these options; returns the output folder and exit.
 */
function bufGenerate(options: string[], local: string | string[] = "protoc-gen-dividere"): { out: string; status: number | null; stderr: string } {
  const out = mkdtempSync(join(tmpdir(), "dividere-plugin-"));
  const template = {
    version: "v2",
    inputs: [{ directory: "proto", paths: ["proto/test/chat"] }],
    plugins: [{ local, out, opt: options }],
  };
  const run = spawnSync(join(bin, "buf"), ["generate", "--template", JSON.stringify(template)], { cwd: root, env, encoding: "utf8" });
  return { out, status: run.status, stderr: run.stderr };
}

describe("protoc-gen-dividere", () => {
  test.skipIf(!protoc.program)("runs from protoc --plugin, and writes what buf generate writes", () => {
    const out = mkdtempSync(join(tmpdir(), "dividere-protoc-"));
    execFileSync(
      protoc.program ?? "protoc",
      [
        `--plugin=protoc-gen-dividere=${join(bin, "protoc-gen-dividere")}`,
        `--dividere_out=${out}`,
        "--dividere_opt=target=ts,import_extension=js,event=chat.v1.Said,event=test.difficult.oracle.Announced",
        "-Iproto",
        "test/chat/v1/chat.proto",
        "test/TestMsg.proto",
      ],
      { cwd: root, env, stdio: "pipe" },
    );
    for (const file of ["test/chat/v1/chat_dividere.ts", "test/TestMsg_dividere.ts"]) {
      expect(readFileSync(join(out, file), "utf8")).toBe(golden(file));
    }
  });

  test("a file with no messages and no services produces nothing", () => {
    expect(existsSync(join(root, "proto/test/difficult/enums_only.proto"))).toBe(true);
    expect(existsSync(join(root, "test/gen/test/difficult/enums_only_pb.ts"))).toBe(true);
    expect(existsSync(join(root, "test/gen/test/difficult/enums_only_dividere.ts"))).toBe(false);
  });

  test("proto comments become TSDoc as protoc-gen-es writes it: leading and trailing, @generated from, @deprecated (nested ones too)", () => {
    const names = golden("test/difficult/names_dividere.ts");
    expect(names).toMatch(/\* Old, to be removed\.\n \*\n \* Topic of test\.difficult\.Legacy: .*\n \*\n \* @generated from message test\.difficult\.Legacy\n \* @deprecated\n \*\/\nexport const LegacyTopic/);
    expect(names).toMatch(/\* Nested in a deprecated message: deprecated too\.\n[^/]*\* @deprecated\n \*\/\nexport const Legacy_PartTopic/);
    expect(golden("test/chat/v1/chat_dividere.ts")).toMatch(/\* Someone said something in a room\.\n \*\n \* Topic of chat\.v1\.Said[^/]*\*\/\nexport const SaidTopic/);
    const oracle = golden("test/difficult/oracle_dividere.ts");
    expect(oracle).toMatch(/\* Something that happened: .*\n \*\n \* After the brace: the message's trailing comment\.\n/);
    expect(oracle).toMatch(/\* Asks once\.\n   \*\n   \* The rpc's trailing comment\.\n   \*\n   \* Calls \/test\.difficult\.oracle\.Oracle\/Ask\.\n   \*\n   \* @generated from rpc test\.difficult\.oracle\.Oracle\.Ask\n   \*\/\n  ask\(/);
    expect(oracle).toMatch(/@deprecated\n   \*\/\n  close\$\(request/);
    // The templates hold no @deprecated of their own: the jsdoc helper writes it.
    for (const name of readdirSync(join(root, "templates"))) expect(readFileSync(join(root, "templates", name), "utf8")).not.toMatch(/^\s*@deprecated/m);
  });

  test("the requests and replies of a file's rpcs are no events; event= makes one an event", () => {
    const oracle = golden("test/difficult/oracle_dividere.ts");
    for (const event of ["Happened", "Announced"]) expect(oracle).toContain(`export const ${event}Topic`);
    for (const rpcOnly of ["AskRequest", "AskReply"]) expect(oracle).not.toMatch(new RegExp(`${rpcOnly}Topic|send${rpcOnly}|handle${rpcOnly}`));
    const { out, status, stderr } = bufGenerate(["target=ts", "import_extension=js"]);
    expect(stderr).toBe("");
    expect(status).toBe(0);
    const chat = readFileSync(join(out, "test/chat/v1/chat_dividere.ts"), "utf8");
    expect(chat).toContain("export const JoinedTopic");
    expect(chat).not.toMatch(/SaidTopic|HistoryRequestTopic|HistoryReplyTopic|handleHistory/);
  });

  test("a templates folder replaces the built-in template of the same name, and only that one", () => {
    const templates = mkdtempSync(join(tmpdir(), "dividere-templates-"));
    writeFileSync(join(templates, "publisher.hbs"), "// publishers are made by hand here, from {{proto}}\n");
    const { out, status, stderr } = bufGenerate(["target=ts", "import_extension=js", `templates=${templates}`]);
    expect(stderr).toBe("");
    expect(status).toBe(0);
    const generated = readFileSync(join(out, "test/chat/v1/chat_dividere.ts"), "utf8");
    expect(generated).toContain("// publishers are made by hand here, from test/chat/v1/chat.proto");
    expect(generated).not.toContain("class ChatPublisher");
    expect(generated).toContain("export class ChatSubscriber");
  });

  describe("bad input ends with a clear message on stderr and a non-zero exit, not a stack trace", () => {
    const cases: [string, () => string[], RegExp][] = [
      ["an unknown option", () => ["target=ts", "colour=red"], /invalid option "colour=red": protoc-gen-dividere has no such option; it takes event, templates, target, .*ts_nocheck/],
      ["a missing template folder", () => ["templates=no/such/folder"], /invalid option "templates=no\/such\/folder": no such folder/],
      [
        "a template that does not compile",
        () => {
          const folder = mkdtempSync(join(tmpdir(), "dividere-templates-"));
          writeFileSync(join(folder, "handlers.hbs"), "{{#each messages}}\n");
          return [`templates=${folder}`];
        },
        /template .*handlers\.hbs does not compile: Parse error on line 2/,
      ],
      [
        "a template that fails when it renders",
        () => {
          const folder = mkdtempSync(join(tmpdir(), "dividere-templates-"));
          writeFileSync(join(folder, "topics.hbs"), "{{names.nothing}}\n");
          return [`templates=${folder}`];
        },
        /template .*topics\.hbs failed: "nothing" not defined in the view model/,
      ],
      ["a target that is not one", () => ["target=tsx"], /invalid option "target=tsx": target takes ts, js, dts, or several joined by \+ \(js\+dts\)/],
      ["an import_extension that is not one", () => ["import_extension=mjs"], /invalid option "import_extension=mjs": import_extension takes none \(default\), js, ts/],
      ["a templates= that is a file", () => ["templates=buf.gen.yaml"], /invalid option "templates=buf\.gen\.yaml": .*buf\.gen\.yaml is a file, not a folder/],
      [
        "a misspelled template",
        () => {
          const folder = mkdtempSync(join(tmpdir(), "dividere-templates-"));
          writeFileSync(join(folder, "publsher.hbs"), "// mine\n");
          return [`templates=${folder}`];
        },
        /publsher\.hbs replaces no template: the templates are (?=.*publisher\.hbs)(?=.*handlers\.hbs).*\(a partial of your own starts with _/,
      ],
      ["an event= that names no message", () => ["event=chat.v1.Sad"], /invalid option "event=chat\.v1\.Sad": no message chat\.v1\.Sad in test\/chat\/v1\/chat\.proto; the messages its rpcs take and return are chat\.v1\.HistoryRequest, chat\.v1\.HistoryReply, chat\.v1\.Said/],
      ["an event= that is no name", () => ["event=chat v1"], /invalid option "event=chat v1": it needs a message's full name, e\.g\. event=chat\.v1\.Said/],
      [
        "a templates folder without templates",
        () => {
          const folder = mkdtempSync(join(tmpdir(), "dividere-templates-"));
          mkdirSync(join(folder, "sub"));
          return [`templates=${folder}`];
        },
        /holds no \.hbs templates/,
      ],
    ];
    test.each(cases)("%s", (_name, options, message) => {
      const { status, stderr } = bufGenerate(options());
      expect(status).not.toBe(0);
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/^protoc-gen-dividere: /m);
      expect(stderr).not.toMatch(/^\s+at /m);
    });
  });

  test("target=dts and js+dts work in a project whose TypeScript has no lib files, as TypeScript 7's has none", () => {
    // The project of a user who installed the plugin beside TypeScript 7: every package of this
    // repository's node_modules, but a `typescript` laid out as 7's is (no lib.*.d.ts). Node
    // keeps the symlinked paths, so packages resolve their dependencies from the project, as
    // they would in a real install.
    const project = mkdtempSync(join(tmpdir(), "dividere-ts7-"));
    const modules = join(project, "node_modules");
    mkdirSync(join(modules, "typescript", "lib"), { recursive: true });
    writeFileSync(join(modules, "typescript", "package.json"), JSON.stringify({ name: "typescript", version: "7.0.2", main: "lib/version.cjs" }));
    writeFileSync(join(modules, "typescript", "lib", "version.cjs"), 'module.exports = { version: "7.0.2" };\n');
    for (const name of readdirSync(join(root, "node_modules"))) {
      if (name !== "typescript" && name !== ".bin") symlinkSync(join(root, "node_modules", name), join(modules, name));
    }
    const plugin = ["node", "--preserve-symlinks", "--preserve-symlinks-main", join(modules, "protoc-gen-dividere/bin/protoc-gen-dividere.js")];
    for (const target of ["dts", "js+dts"]) {
      const { out, status, stderr } = bufGenerate([`target=${target}`, "import_extension=js"], plugin);
      expect(stderr).toBe("");
      expect(status).toBe(0);
      const declarations = readFileSync(join(out, "test/chat/v1/chat_dividere.d.ts"), "utf8");
      expect(declarations).toContain("export declare class ChatPublisher");
      expect(declarations).toMatch(/sendJoined\(message: MessageInitShape<typeof JoinedSchema>\): Promise<void>;/);
      expect(declarations).toContain("[Symbol.asyncDispose](): Promise<void>;");
      // Nothing the transpiler could not infer without the imported schemas at hand.
      expect(declarations).toMatch(/export declare const chatTypes: readonly \[\s*typeof JoinedSchema,?\s*\];/);
      const code = declarations.split("\n").filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line));
      expect(code.filter((line) => /\bany\b/.test(line))).toEqual([]);
    }
  });

  test("the packed plugin holds the top-level templates/, every one of them", () => {
    const [pack] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: join(root, "protoc-gen-dividere"), encoding: "utf8" }),
    ) as [{ files: { path: string }[] }];
    const packed = pack.files.map((file) => file.path).filter((path) => path.startsWith("templates/"));
    const templates = readdirSync(join(root, "templates")).map((name) => `templates/${name}`);
    expect(templates.length).toBeGreaterThan(0);
    expect(packed.sort()).toEqual(templates.sort());
  });

  test("run by hand with nothing on standard input, it says how it is run, writes nothing to stdout, and fails", () => {
    const run = spawnSync(join(bin, "protoc-gen-dividere"), [], { input: "", encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^protoc-gen-dividere: standard input was empty: it is run by buf or protoc, .*`npx buf generate` with `local: protoc-gen-dividere`.*protoc --plugin=protoc-gen-dividere=/);
  });

  test("--help lists every option the plugin takes, and docs/plugin.md documents each of them", () => {
    const help = execFileSync(join(bin, "protoc-gen-dividere"), ["--help"], { encoding: "utf8" });
    const listed = [...help.slice(help.indexOf("\nOptions")).matchAll(/^ {2}([a-z_]+) {2,}/gm)].map((match) => match[1]);
    expect(listed).toEqual(expect.arrayContaining(["event", "templates", "target", "import_extension", "js_import_style", "ts_nocheck", "keep_empty_files", "rewrite_imports"]));
    const docs = readFileSync(join(root, "docs/plugin.md"), "utf8");
    const documented = [...docs.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual([...listed].sort());
  });

  test("--version names the plugin and its version", () => {
    expect(execFileSync(join(bin, "protoc-gen-dividere"), ["--version"], { encoding: "utf8" })).toMatch(/^protoc-gen-dividere v\d+\.\d+\.\d+\n$/);
  });
});
