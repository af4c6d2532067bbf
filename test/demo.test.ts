import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { runNode } from "./helpers.js";

const demo = fileURLToPath(new URL("../example-app/dist/demo.js", import.meta.url));

test("the demo (npm run demo) tells its story and exits 0 by itself within 60 s", async () => {
  const { code, stdout, stderr } = await runNode(demo, 60_000);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(stdout).toMatch(/sent +Msg01 \{"field1":"abcd"\}/);
  expect(stdout).toMatch(/received +Msg01 \{"field1":"abcd"\}/);
  expect(stdout).toMatch(/got reply +\{"field1":"olleh"\}/);
  expect(stdout).toMatch(/got event +\{"field1":"some published event"\}/);
  expect(stdout).toMatch(/demo finished/);
});
