import { createRequire } from "node:module";
import type { FileInfo } from "@bufbuild/protoplugin";
import type * as TypeScript from "typescript";

/*
 * The TypeScript protoplugin itself depends on and pins. protoplugin's own transpiler compiles
 * with it but reads the lib files (Promise, Omit, ...) of whichever `typescript` package
 * @typescript/vfs resolves, which is the project's. TypeScript 7 ships no lib files, so there
 * every global in a declaration was an unknown "private name" (TS4055, TS4063) and target=dts
 * failed. This one takes the compiler and its lib files from the same package.
 */
const ts = createRequire(import.meta.resolve("@bufbuild/protoplugin"))("typescript") as typeof TypeScript;

/**
 * Transpiles the generated TypeScript files to JavaScript and/or declarations, for
 * `target=js`, `target=dts` and their combinations; protoplugin calls it with the files of `target=ts`.
 */
export function transpile(files: FileInfo[], js: boolean, dts: boolean, jsImportStyle: "module" | "legacy_commonjs"): FileInfo[] {
  const options: TypeScript.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts"],
    module: jsImportStyle === "legacy_commonjs" ? ts.ModuleKind.CommonJS : ts.ModuleKind.ES2022,
    // The imports (the runtime, @bufbuild/protobuf, the _pb files) are not at hand here: their
    // names are printed as written, unchecked.
    noResolve: true,
    types: [],
    declaration: dts,
    emitDeclarationOnly: dts && !js,
    newLine: ts.NewLineKind.LineFeed,
    skipLibCheck: true,
  };
  const sources = new Map(files.map((file) => [file.name, file]));
  const host = ts.createCompilerHost(options);
  const readLib = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => {
    const file = sources.get(name);
    return file ? ts.createSourceFile(name, file.content, language, true) : readLib(name, language, ...rest);
  };
  const emitted: FileInfo[] = [];
  host.writeFile = (name, content, _bom, _onError, from) => {
    const source = from?.length === 1 ? sources.get(from[0]!.fileName) : undefined;
    if (!source) throw new Error(`transpiling wrote ${name}, which comes from no generated file`);
    emitted.push({ name, content, preamble: source.preamble });
  };
  const program = ts.createProgram({ rootNames: [...sources.keys()], options, host });
  const result = program.emit();
  if (result.emitSkipped) {
    const diagnostics = ts.formatDiagnostics(result.diagnostics, {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => ".",
      getNewLine: () => "\n",
    });
    throw new Error(`the generated TypeScript does not transpile (a bug of protoc-gen-dividere or of a templates=DIR template):\n${diagnostics}`);
  }
  return emitted;
}
