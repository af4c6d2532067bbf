import { readFileSync } from "node:fs";
import { type Plugin, createEcmaScriptPlugin } from "@bufbuild/protoplugin";
import { checkEvents } from "./events.js";
import { type Options, checkParameter, parseOptions } from "./options.js";
import { Renderer } from "./render.js";
import { transpile } from "./transpile.js";
import { SymbolTable, buildFileView } from "./view-model.js";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

const plugin = createEcmaScriptPlugin<Options>({
  name: "protoc-gen-dividere",
  version: `v${version}`,
  parseOptions,
  transpile,
  generateTs(schema) {
    checkEvents(schema.options.events, schema.files, schema.allFiles);
    const renderer = new Renderer(schema.options.templates);
    for (const file of schema.files) {
      if (file.messages.length === 0 && file.services.length === 0) continue;
      const name = `${file.name}_dividere.ts`;
      const f = schema.generateFile(name);
      f.preamble(file);
      const symbols = new SymbolTable();
      renderer.render(buildFileView(file, f, symbols, schema.options.events), f, name, symbols);
    }
  },
});

/**
 * protoc-gen-dividere: for every `foo.proto` with messages or services, `foo_dividere.ts`
 * beside protoc-gen-es's `foo_pb.ts`, rendered from handlebars templates.
 */
export const protocGenDividere: Plugin = {
  name: plugin.name,
  version: plugin.version,
  run(request) {
    checkParameter(request.parameter);
    return plugin.run(request);
  },
};
