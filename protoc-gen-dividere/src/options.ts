import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";

/** The options of protoc-gen-dividere, beside protoplugin's own (target, import_extension, ...). */
export interface Options {
  /** A folder of the user's own templates; each file replaces the built-in one of the same name. */
  templates: string | undefined;
}

/** Parses `templates=DIR`; anything else is an error that lists what is known. */
export function parseOptions(raw: { key: string; value: string }[]): Options {
  const options: Options = { templates: undefined };
  for (const { key, value } of raw) {
    switch (key) {
      case "templates": {
        if (!value) throw new Error("it needs a folder: templates=path/to/templates");
        const folder = resolve(value);
        if (!existsSync(folder) || !statSync(folder).isDirectory()) {
          throw new Error(`no such folder (${folder}); a relative path starts where buf or protoc runs`);
        }
        options.templates = folder;
        break;
      }
      default:
        throw new Error(
          "protoc-gen-dividere has no such option; it takes templates=DIR, and the options of protoc-gen-es: " +
            "target, import_extension, js_import_style, keep_empty_files, ts_nocheck, rewrite_imports",
        );
    }
  }
  return options;
}
