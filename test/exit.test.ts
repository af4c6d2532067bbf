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

test("a registry whose connections the ZAP handler admits, closed with its client, exits by itself every time", async () => {
  // libzmq ends a server's connections to the ZAP handler only while the handler processes
  // commands: a handler that stopped at the server's close() left it half closed in about one
  // run in ten, and the process running for ever. Two at a time, sixteen runs.
  const ms: number[] = [];
  for (let pair = 0; pair < 8; pair++) {
    const runs = await Promise.all([0, 1].map(() => runNode(fixture("servers-exit.mjs"), 10_000)));
    for (const { code, stdout, stderr } of runs) expect({ code, stdout: stdout.trim(), stderr }).toEqual({ code: 0, stdout: "closed", stderr: "" });
    ms.push(...runs.map((run) => run.ms));
  }
  console.log(`16 runs exited in ${ms.join(", ")} ms`);
}, 120_000);
