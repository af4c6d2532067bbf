import { readFileSync } from "node:fs";
import { createEcmaScriptPlugin } from "@bufbuild/protoplugin";
import { type Options, parseOptions } from "./options.js";
import { Renderer } from "./render.js";
import { transpile } from "./transpile.js";
import { SymbolTable, buildFileView } from "./view-model.js";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

/**
 * protoc-gen-dividere: for every `foo.proto` with messages or services, `foo_dividere.ts`
 * beside protoc-gen-es's `foo_pb.ts`, rendered from handlebars templates.
 */
export const protocGenDividere = createEcmaScriptPlugin<Options>({
  name: "protoc-gen-dividere",
  version: `v${version}`,
  parseOptions,
  transpile,
  generateTs(schema) {
    const renderer = new Renderer(schema.options.templates);
    for (const file of schema.files) {
      if (file.messages.length === 0 && file.services.length === 0) continue;
      const name = `${file.name}_dividere.ts`;
      const f = schema.generateFile(name);
      f.preamble(file);
      const symbols = new SymbolTable();
      renderer.render(buildFileView(file, f, symbols), f, name, symbols);
    }
  },
});
