import { OPTIONS } from "./options.js";

/** What `protoc-gen-dividere --help` prints: how the plugin runs, and every option it takes. */
export function help(name: string, version: string): string {
  const width = Math.max(...OPTIONS.map((option) => option.name.length)) + 2;
  const options = OPTIONS.map((option) => `  ${option.name.padEnd(width)}${option.what}\n  ${"".padEnd(width)}(${option.values})`);
  return `${name} ${version}: topics, typed publishers and subscribers, reactor handler interfaces and
service stubs for dividere, from .proto files, beside protoc-gen-es's _pb files.

It is run by buf or protoc, never by hand:
  buf.gen.yaml   plugins: [{ local: protoc-gen-es, out: src/gen, opt: [target=ts, import_extension=js] },
                           { local: protoc-gen-dividere, out: src/gen, opt: [target=ts, import_extension=js] }]
  protoc         protoc --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es --es_out=src/gen --es_opt=target=ts,import_extension=js
                        --plugin=protoc-gen-dividere=node_modules/.bin/protoc-gen-dividere --dividere_out=src/gen
                        --dividere_opt=target=ts,import_extension=js -I proto FILES

Options (opt: in buf.gen.yaml, --dividere_opt=a=b,c=d with protoc):
${options.join("\n")}
`;
}
