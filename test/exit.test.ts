import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { runNode } from "./helpers.js";

const fixture = fileURLToPath(new URL("./fixtures/exits-by-itself.mjs", import.meta.url));

test("a program that closes its sockets exits by itself: no socket, timer or pending receive keeps Node alive", async () => {
  // The fixture imports the built package (npm test builds first), as an application would.
  const { code, stdout, stderr, ms } = await runNode(fixture, 15_000);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual({ closed: 28, resources: [] });
  // Closing waits at most `linger` (500 ms) for the one message queued to an absent peer.
  console.log(`fixture exited in ${ms} ms`);
});
