import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "node_modules/.bin");

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * The committed generated code must be what `npm run generate` makes from proto/ today. For
 * protoc-gen-dividere's output in test/gen, these are its golden files.
 */
describe.each([
  ["buf.gen.yaml", "runtime/src/gen"],
  ["test/buf.gen.yaml", "test/gen"],
  ["test/fixtures/buf.gen.yaml", "test/fixtures/gen"],
])("%s output committed in %s", (template, committed) => {
  test("is up to date (run `npm run generate` when this fails)", () => {
    const out = mkdtempSync(join(tmpdir(), "dividere-gen-"));
    execFileSync(join(bin, "buf"), ["generate", "--template", template, "-o", out], {
      cwd: root,
      env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
      stdio: "pipe",
    });
    const fresh = join(out, committed);
    const expected = join(root, committed);
    expect(files(fresh)).toEqual(files(expected));
    for (const file of files(fresh)) {
      expect(readFileSync(join(expected, file), "utf8"), `${committed}/${file} is stale`).toBe(readFileSync(join(fresh, file), "utf8"));
    }
  });
});
