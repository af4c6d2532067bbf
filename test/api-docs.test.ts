// Every export of @dividere/runtime and of its subpath @dividere/runtime/otel, and every public
// member of their classes and interfaces, carries TSDoc: editors show it, and the docs pages lean on it.
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { expect, test } from "vitest";

const entries = ["../runtime/src/index.ts", "../runtime/src/otel/index.ts"].map((path) => fileURLToPath(new URL(path, import.meta.url)));

/** The public names of the runtime without a documentation comment, e.g. `messaging.Publisher#closed`. */
function undocumented(): string[] {
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const missing: string[] = [];
  const documented = (symbol: ts.Symbol) => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== "";
  const ownMember = (member: ts.Symbol) => {
    const declaration = member.declarations?.[0];
    if (!declaration || !declaration.getSourceFile().fileName.includes("/runtime/src/")) return false;
    // Symbol-named members ([Symbol.asyncDispose]) document themselves; private and protected ones are not public.
    if (member.name.startsWith("__@") || member.name.startsWith("#")) return false;
    return !(ts.getCombinedModifierFlags(declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected));
  };
  const visit = (module: ts.Symbol, prefix: string) => {
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const name = prefix + exported.name;
      if (symbol.flags & ts.SymbolFlags.ValueModule && symbol.declarations?.some(ts.isSourceFile)) {
        // A namespace export (`messaging`, ...): its members count, generated protocol code aside.
        if (!symbol.declarations.some((declaration) => declaration.getSourceFile().fileName.includes("/gen/"))) visit(symbol, `${name}.`);
        continue;
      }
      if (!documented(symbol)) missing.push(name);
      if (symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) {
        for (const member of checker.getDeclaredTypeOfSymbol(symbol).getProperties()) {
          if (ownMember(member) && !documented(member)) missing.push(`${name}#${member.name}`);
        }
      }
    }
  };
  for (const entry of entries) visit(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!, "");
  return missing;
}

test("every public name of the runtime is documented", () => {
  expect(undocumented()).toEqual([]);
});
