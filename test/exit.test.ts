import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { runNode } from "./helpers.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

test("a program that closes its sockets exits by itself: no socket, timer or pending receive keeps Node alive", async () => {
  // The fixture imports the built package (npm test builds first), as an application would.
  const { code, stdout, stderr, ms } = await runNode(fixture("exits-by-itself.mjs"), 15_000);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual({ closed: 28, resources: [] });
  // Closing waits at most `linger` (500 ms) for the one message queued to an absent peer.
  console.log(`fixture exited in ${ms} ms`);
});

test("NODE_DEBUG=dividere logs socket events and dropped input, as Python's Connector monitor did", async () => {
  const { code, stderr } = await runNode(fixture("debug-log.mjs"), 15_000, { env: { ...process.env, NODE_DEBUG: "dividere" } });
  expect(code).toBe(0);
  expect(stderr).toMatch(/DIVIDERE \d+: watched accept tcp:\/\/127\.0\.0\.1:\d+/);
  expect(stderr).toMatch(/DIVIDERE \d+: pub tcp:\/\/127\.0\.0\.1:\d+ connect tcp:/);
  expect(stderr).toMatch(/DIVIDERE \d+: watched dropped input: received bytes are not a dividere envelope/);
  expect(stderr).toMatch(/DIVIDERE \d+: watched closed/);
});
