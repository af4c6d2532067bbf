import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));

/** Runs the tests that need Python and protoc in a vitest of its own, with neither within reach. */
function runWithout(env: NodeJS.ProcessEnv): { status: number | null; output: string } {
  // This run's own vitest variables would make the inner vitest think it is a worker of this one.
  const outer = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("VITEST") && name !== "CI"));
  const run = spawnSync(
    process.execPath,
    [vitest, "run", "test/interop-python.test.ts", "test/plugin.test.ts", "-t", "protoc --plugin|Python"],
    {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...outer, DIVIDERE_TEST_PYTHON: "/nonexistent/python3", DIVIDERE_TEST_PROTOC: "/nonexistent/protoc", ...env },
    },
  );
  return { status: run.status, output: run.stdout + run.stderr };
}

describe("a machine without Python's packages and protoc", () => {
  test("skips what needs them and says so in one line", () => {
    const { status, output } = runWithout({});
    expect(output, output).toMatch(/^skipped for want of a python3 with pyzmq and protobuf: test\/interop-python.test.ts .*apt-get install .*Skipped for want of protoc: test\/plugin.test.ts "runs from protoc --plugin".*$/m);
    expect(output).toMatch(/\d+ skipped/);
    expect(status, output).toBe(0);
  }, 60_000);

  test("fails under CI, naming them", () => {
    const { status, output } = runWithout({ CI: "true" });
    expect(status, output).not.toBe(0);
    expect(output, output).toMatch(/CI=true, and nothing may be skipped: skipped for want of a python3 with pyzmq and protobuf.*protoc/);
  }, 60_000);
});
