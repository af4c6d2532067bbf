import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";

/** The options of protoc-gen-dividere, beside protoplugin's own (target, import_extension, ...). */
export interface Options {
  /** A folder of the user's own templates; each file replaces the built-in one of the same name. */
  templates: string | undefined;
  /** Full names of messages an rpc of their file takes or returns that are events too. */
  events: ReadonlySet<string>;
}

/** One option the plugin takes, as `--help` and docs/plugin.md list it. */
export interface OptionDoc {
  name: string;
  /** What it takes, e.g. `ts, js, dts, or several joined by + (js+dts)`. */
  values: string;
  what: string;
  /** The values it takes, where it takes a choice of words (`target` joins them by `+`). */
  choices?: readonly string[];
}

const YES_NO = ["true", "false", "1", "0"];

/** Every option the plugin accepts: its own, then those protoplugin parses for it (as for protoc-gen-es). */
export const OPTIONS: readonly OptionDoc[] = [
  {
    name: "event",
    values: "a message's full name, e.g. event=chat.v1.Said; repeat it for more",
    what: "a message an rpc of its file takes or returns is no event (no topic, publisher method or handler) unless named here",
  },
  { name: "templates", values: "a folder, relative to where buf or protoc runs", what: "your own handlebars templates, each replacing the built-in one of the same name" },
  { name: "target", values: "ts, js, dts, or several joined by + (js+dts); default js+dts", what: "what to write: TypeScript, or JavaScript and/or declarations", choices: ["ts", "js", "dts"] },
  { name: "import_extension", values: "none (default), js, ts", what: "the extension of import paths: js for Node's ESM", choices: ["none", "", "js", ".js", "ts", ".ts"] },
  { name: "js_import_style", values: "module (default), legacy_commonjs", what: "ECMAScript modules, or CommonJS (target=js)", choices: ["module", "legacy_commonjs"] },
  { name: "ts_nocheck", values: "true, false (default)", what: "start each file with // @ts-nocheck", choices: YES_NO },
  { name: "keep_empty_files", values: "true, false (default)", what: "write files that would be empty too", choices: YES_NO },
  { name: "elide_plugin_version", values: "true, false (default)", what: "leave the plugin's version out of each file's header", choices: YES_NO },
  { name: "rewrite_imports", values: "PATTERN:TARGET, e.g. ./**/*_pb.js:@scope/gen", what: "import generated files that match from a package instead" },
  { name: "map_imports", values: "PATTERN:TARGET", what: "import a module under another path" },
];

/**
 * Checks the options protoplugin parses before it does: for a wrong value it says only
 * `invalid option "target=tsx"`, and this says which values are valid too.
 */
export function checkParameter(parameter: string): void {
  for (const raw of parameter ? parameter.split(",") : []) {
    const at = raw.indexOf("=");
    const [key, value] = at < 0 ? [raw, ""] : [raw.slice(0, at), raw.slice(at + 1)];
    if (key === "bootstrap_wkt") throw new Error(`invalid option "${raw}": bootstrap_wkt is protoc-gen-es's own, for the well-known types; protoc-gen-dividere has no use for it`);
    const option = OPTIONS.find((known) => known.name === key && known.choices);
    if (!option) continue;
    const given = key === "target" ? value.split("+") : [value];
    if (!given.every((one) => option.choices!.includes(one))) throw new Error(`invalid option "${raw}": ${key} takes ${option.values}`);
  }
}

const FULL_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Parses `templates=DIR` and `event=NAME`; anything else is an error that lists what is known. */
export function parseOptions(raw: { key: string; value: string }[]): Options {
  let templates: string | undefined;
  const events = new Set<string>();
  for (const { key, value } of raw) {
    switch (key) {
      case "templates": {
        if (!value) throw new Error("it needs a folder: templates=path/to/templates");
        const folder = resolve(value);
        if (!existsSync(folder)) throw new Error(`no such folder (${folder}); a relative path starts where buf or protoc runs`);
        if (!statSync(folder).isDirectory()) throw new Error(`${folder} is a file, not a folder: give the folder that holds your .hbs templates`);
        templates = folder;
        break;
      }
      case "event":
        if (!FULL_NAME.test(value)) throw new Error("it needs a message's full name, e.g. event=chat.v1.Said (repeat event= for more)");
        events.add(value);
        break;
      default:
        throw new Error(`protoc-gen-dividere has no such option; it takes ${OPTIONS.map((option) => option.name).join(", ")} (see protoc-gen-dividere --help)`);
    }
  }
  return { templates, events };
}
