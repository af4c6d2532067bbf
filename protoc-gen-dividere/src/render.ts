import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { GeneratedFile } from "@bufbuild/protoplugin";
import Handlebars from "handlebars";
import type { FileView, SourceView, SymbolTable } from "./view-model.js";

/** The templates shipped with the plugin: the top-level `templates/`, which the build copies into the package. */
export const BUILT_IN_TEMPLATES = fileURLToPath(new URL("../templates", import.meta.url));

/** The template every file starts from; every other template is a partial it can include by name. */
const ROOT = "file";

/** What the helpers of one render write into: the file being generated and its symbol table. */
interface Target {
  f: GeneratedFile;
  symbols: SymbolTable;
  /** The import path of the file itself, as protoplugin derives it. */
  self: string;
}

function readTemplates(folder: string): Map<string, { source: string; path: string }> {
  const templates = new Map<string, { source: string; path: string }>();
  for (const name of readdirSync(folder)) {
    if (!name.endsWith(".hbs")) continue;
    const path = join(folder, name);
    templates.set(basename(name, ".hbs"), { source: readFileSync(path, "utf8"), path });
  }
  return templates;
}

/**
 * The compiled templates of one plugin run: the built-in ones, each replaced by the user's
 * template of the same name when a template folder is given.
 */
export class Renderer {
  readonly #handlebars = Handlebars.create();
  readonly #root: HandlebarsTemplateDelegate<FileView>;
  #target: Target | undefined;

  constructor(userFolder: string | undefined) {
    const templates = readTemplates(BUILT_IN_TEMPLATES);
    if (userFolder) {
      const own = readTemplates(userFolder);
      const known = [...templates.keys()].map((name) => `${name}.hbs`).join(", ");
      if (own.size === 0) throw new Error(`the templates folder ${userFolder} holds no .hbs templates; it may hold ${known}`);
      for (const [name, template] of own) {
        // A misspelled name would leave the built-in template in place without a word.
        if (!templates.has(name) && !name.startsWith("_")) {
          throw new Error(`${template.path} replaces no template: the templates are ${known} (a partial of your own starts with _, e.g. _footer.hbs)`);
        }
        templates.set(name, template);
      }
    }
    this.#registerHelpers();
    for (const [name, { source, path }] of templates) {
      if (name === ROOT) continue;
      this.#handlebars.registerPartial(name, this.#compile(source, path));
    }
    const root = templates.get(ROOT);
    if (!root) throw new Error(`no ${ROOT}.hbs template in ${userFolder ?? BUILT_IN_TEMPLATES}`);
    this.#root = this.#compile(root.source, root.path);
  }

  /** Renders `view` into `f` (the file `name`), imports and exports resolved by protoplugin. */
  render(view: FileView, f: GeneratedFile, name: string, symbols: SymbolTable): void {
    this.#target = { f, symbols, self: `./${name.replace(/\.ts$/, ".js")}` };
    try {
      const text = tidy(this.#root(view));
      f.print(...symbols.resolve(text));
    } finally {
      this.#target = undefined;
    }
  }

  #compile(source: string, path: string): HandlebarsTemplateDelegate<FileView> {
    let compiled: HandlebarsTemplateDelegate<FileView>;
    try {
      this.#handlebars.parse(source); // compile() would only parse on first use
      compiled = this.#handlebars.compile<FileView>(source, { noEscape: true, strict: true });
    } catch (error) {
      throw new Error(`template ${path} does not compile: ${(error as Error).message}`);
    }
    return (context, options) => {
      try {
        return compiled(context, options);
      } catch (error) {
        const message = (error as Error).message.replace(" in [object Object]", " in the view model");
        throw new Error(message.startsWith("template ") ? message : `template ${path} failed: ${message}`);
      }
    };
  }

  #registerHelpers(): void {
    const target = () => {
      if (!this.#target) throw new Error("a helper ran outside of a render");
      return this.#target;
    };
    const hb = this.#handlebars;
    /** `{{import "messaging" "@dividere/runtime"}}`: a symbol from a package or file, imported once. */
    hb.registerHelper("import", (name: unknown, from: unknown) => {
      const { f, symbols } = target();
      return symbols.token(f.import(String(name), String(from)));
    });
    /** `{{importType "Endpoint" "@dividere/runtime"}}`: the same, as a type-only import. */
    hb.registerHelper("importType", (name: unknown, from: unknown) => {
      const { f, symbols } = target();
      return symbols.token(f.import(String(name), String(from), true));
    });
    /** `{{export "class" names.publisher}}`: `export class ChatPublisher`, registered with protoplugin. */
    hb.registerHelper("export", (declaration: unknown, name: unknown) => {
      const { f, symbols } = target();
      return symbols.token(f.export(String(declaration), String(name)));
    });
    /**
     * `{{global "Promise"}}`: a global the generated code uses. Declaring it as a symbol of the
     * file itself makes protoplugin alias any import of the same name (a message called
     * `Promise`), so the global stays reachable.
     */
    hb.registerHelper("global", (name: unknown) => {
      const { f, symbols, self } = target();
      return symbols.token(f.import(String(name), self, true));
    });
    /** `{{string typeName}}`: a string literal. */
    hb.registerHelper("string", (value: unknown) => JSON.stringify(String(value)));
    /**
     * `{{#jsdoc "  " from=source}}text{{/jsdoc}}`: a JSDoc block at that indentation. With
     * `from=` (a SourceView), as protoc-gen-es writes it: the proto comments first, then the
     * text, then `@generated from ...` and `@deprecated` where the proto says so.
     */
    hb.registerHelper("jsdoc", function (this: unknown, ...args: unknown[]) {
      const options = args.pop() as Handlebars.HelperOptions;
      const prefix = typeof args[0] === "string" ? args[0] : "";
      const source = options.hash["from"] as SourceView | undefined;
      const tags = source ? [`@generated from ${source.declaration}`, ...(source.deprecated ? ["@deprecated"] : [])].join("\n") : "";
      const text = [source?.comments, options.fn(this), tags]
        .map((block) => (block ?? "").replace(/^\s*\n|\s+$/g, ""))
        .filter(Boolean)
        .join("\n\n");
      const lines = text.replace(/\*\//g, "*\\/").split("\n");
      const block = [`${prefix}/**`, ...lines.map((line) => `${prefix} *${line.trim() ? ` ${line.trimEnd()}` : ""}`), `${prefix} */`];
      return `${block.join("\n")}\n`;
    });
  }
}

/** Trailing spaces off, runs of blank lines down to one, no blank line at the start or end. */
function tidy(text: string): string {
  return text
    .replace(/[ \t]+$/gm, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}
