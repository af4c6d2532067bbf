// The `dividere` command, driven as a user drives it: each command a child process, talking to
// real registries, brokers, services, publishers and subscribers over loopback TCP.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { runNode } from "./helpers.js";
import { Child, brokerProcess, node, registryProcess } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "runtime/bin/dividere.js");
const fixture = (name: string) => join(root, "test/fixtures", name);
const PROTO = ["--proto", join(root, "proto")];
const ANY_PORT = "tcp://127.0.0.1:*";

/** Runs a command to its end (within `limitMs`): its exit code and what it printed. */
const dividere = (args: string[], limitMs = 20_000, input?: string) => runNode(bin, limitMs, { args, input });

/** The JSON lines a command printed. */
const jsonLines = (stdout: string) => stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

/** Starts a long-running command (registry, broker, tap) as a Child. */
const start = (...args: string[]) => new Child(process.execPath, [bin, ...args]);

const children: Child[] = [];
const started = <C extends Child>(child: C): C => (children.push(child), child);
afterEach(() => {
  for (const child of children.splice(0)) child.kill();
});

/** Starts `dividere registry` on ephemeral ports; resolves with it and its request endpoint. */
async function startRegistry(): Promise<{ registry: Child; endpoint: string }> {
  const { registry, endpoints } = await registryProcess(started);
  return { registry, endpoint: endpoints.endpoint };
}

/** Starts `dividere broker` on ephemeral ports; resolves with it and its endpoints. */
const startBroker = () => brokerProcess(started, { heartbeatIntervalMs: 200 });

describe("help and usage", () => {
  test.each(["registry", "broker", "lookup", "tap", "publish", "call", "health", "services", "stats"])("dividere %s --help prints its usage and exits 0", async (command) => {
    const { code, stdout } = await dividere([command, "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: dividere ${command}`));
    expect(stdout).toMatch(/-h, --help/);
  });

  test("dividere --help lists every command; without a command it exits 2", async () => {
    const help = await dividere(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["registry", "broker", "lookup", "tap", "publish", "call", "health", "services", "stats"]) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    const bare = await dividere([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/usage: dividere <command>/);
  });

  test.each(["--version", "-V"])("dividere %s prints the version of @dividere/runtime and exits 0", async (flag) => {
    const { version } = JSON.parse(readFileSync(join(root, "runtime/package.json"), "utf8")) as { version: string };
    expect(await dividere([flag])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  test("an unknown command, an unknown option, a missing argument and a bad number exit 2 and say what to do", async () => {
    const unknown = await dividere(["subscribe"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/there is no command "subscribe"/);
    const option = await dividere(["tap", "tcp://localhost:1", "--bogus"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/Unknown option '--bogus'[\s\S]*dividere tap --help/);
    const missing = await dividere(["publish", "tcp://localhost:1"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/expected ENDPOINT TYPE JSON/);
    const count = await dividere(["tap", "tcp://localhost:1", "--count", "many"]);
    expect(count.code).toBe(2);
    expect(count.stderr).toMatch(/--count takes a whole number of at least 1, not "many"/);
  });
});

describe("registry and broker run until asked to stop", () => {
  test.each(["SIGINT", "SIGTERM"] as const)("dividere registry stops cleanly on %s and exits 0", async (signal) => {
    const { registry, endpoints } = await registryProcess(started);
    const ports = Object.values(endpoints).map((endpoint) => /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(endpoint)?.[1]);
    expect(new Set(ports).size, `requests, publishing and watch on three ports: ${JSON.stringify(endpoints)}`).toBe(3);
    expect(ports).not.toContain(undefined);
    registry.kill(signal);
    expect(await registry.exited).toBe(0);
    expect(await registry.next()).toEqual({ text: "dividere registry: stopped" });
    expect(registry.stderr).toBe("");
  });

  test.each(["SIGINT", "SIGTERM"] as const)("dividere broker stops cleanly on %s and exits 0", async (signal) => {
    const { broker, frontend, backend } = await startBroker();
    expect(frontend).not.toBe(backend);
    broker.kill(signal);
    expect(await broker.exited).toBe(0);
    expect(await broker.next()).toEqual({ text: "dividere broker: stopped after answering 0 calls" });
    expect(broker.stderr).toBe("");
  });

  test("a registry cannot bind a port in use: it says so and exits non-zero", async () => {
    const { endpoint } = await startRegistry();
    const second = await dividere(["registry", "--endpoint", endpoint, "--publish", ANY_PORT, "--watch", ANY_PORT]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/address already in use/i);
  });
});

describe("lookup", () => {
  test("finds a service a program registered, and exits 1 for one nobody registered", async () => {
    const { endpoint } = await startRegistry();
    const service = started(node(fixture("echo-service.mjs"), "echo-a", endpoint, "5000"));
    const { ready, instance } = (await service.next()) as { ready: string; instance: string };

    const found = await dividere(["lookup", "test.services.v1.Echo", "--registry", endpoint]);
    expect(found.code).toBe(0);
    expect(jsonLines(found.stdout)).toEqual([{ service: "test.services.v1.Echo", instanceId: instance, endpoint: ready, ttlMs: 5000 }]);

    const none = await dividere(["lookup", "test.services.v1.Nobody", "--registry", endpoint]);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe("");
    expect(none.stderr).toMatch(/no instance of test.services.v1.Nobody is registered at/);
  });

  test("without a registry to answer it gives up after --timeout with exit 1", async () => {
    const { code, stderr } = await dividere(["lookup", "test.services.v1.Echo", "--registry", "tcp://127.0.0.1:1", "--timeout", "300"]);
    expect(code).toBe(1);
    expect(stderr).toBe("dividere lookup: the registry at tcp://127.0.0.1:1 did not answer dividere.v1.LookupRequest within 300 ms (1 try); is it running?\n");
  });
});

describe("tap", () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "dividere-cli-"));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test("prints the messages a program publishes, decoded with --proto", async () => {
    const publisher = started(node(fixture("publisher.mjs")));
    const { ready } = (await publisher.next()) as { ready: string };
    const { code, stdout, stderr } = await dividere(["tap", ready, ...PROTO, "--count", "4"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line.type).toMatch(/^test\.jobs\.(Job|Done)$/);
      expect(line.message).toEqual(expect.objectContaining({ id: expect.any(Number) }));
    }
    expect(lines.some((line) => line.type === "test.jobs.Job" && (line.message as { work: number }).work > 0)).toBe(true);
  });

  test("with a descriptor set from buf build and --topic it prints only that type", async () => {
    const set = join(scratch, "test.binpb");
    execFileSync(join(root, "node_modules/.bin/buf"), ["build", join(root, "proto"), "-o", set]);
    const publisher = started(node(fixture("publisher.mjs")));
    const { ready } = (await publisher.next()) as { ready: string };
    const { code, stdout } = await dividere(["tap", ready, "--descriptor-set", set, "--topic", "test.jobs.Done", "--count", "3"]);
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    expect(lines.map((line) => line.type)).toEqual(["test.jobs.Done", "test.jobs.Done", "test.jobs.Done"]);
    expect(lines.map((line) => (line.message as { digest: string }).digest)).toEqual(lines.map((line) => `d${(line.message as { id: number }).id}`));
  });

  test("without --proto it decodes with the schemas the publisher registered (announcePublisher)", async () => {
    const { endpoint: registry } = await startRegistry();
    const publisher = started(node(fixture("publisher.mjs"), registry));
    const { ready } = (await publisher.next()) as { ready: string };
    const { code, stdout, stderr } = await dividere(["tap", ready, "--registry", registry, "--count", "4"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = jsonLines(stdout);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.message).toEqual(expect.objectContaining({ id: expect.any(Number) }));
    expect(lines.some((line) => line.type === "test.jobs.Done" && (line.message as { digest: string }).digest.startsWith("d"))).toBe(true);
    // A publisher the registry does not know: a usage error naming those it knows.
    const unknown = await dividere(["tap", "tcp://127.0.0.1:1", "--registry", registry, "--count", "1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`no publisher at tcp://127.0.0.1:1 is registered at ${registry} (registered publishers: ${ready})`);
  });

  test("without the types it still shows each message's type and bytes", async () => {
    const publisher = started(node(fixture("publisher.mjs")));
    const { ready } = (await publisher.next()) as { ready: string };
    const { code, stdout } = await dividere(["tap", ready, "--count", "2"]);
    expect(code).toBe(0);
    for (const line of jsonLines(stdout)) {
      expect(line).toEqual({ type: expect.stringMatching(/^test\.jobs\./), bytes: expect.any(String) });
    }
  });

  test("runs until SIGINT, then exits 0; exits 1 after --timeout of silence", async () => {
    const publisher = started(node(fixture("publisher.mjs")));
    const { ready } = (await publisher.next()) as { ready: string };
    const tap = started(start("tap", ready, ...PROTO));
    expect(await tap.next()).toEqual(expect.objectContaining({ type: expect.stringMatching(/^test\.jobs\./) }));
    tap.kill("SIGINT");
    expect(await tap.exited).toBe(0);
    const silent = await dividere(["tap", "tcp://127.0.0.1:1", "--timeout", "300"]);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toMatch(/nothing arrived for 300 ms/);
  });

  test("a --proto folder that does not exist or does not compile is a usage error", async () => {
    const missing = await dividere(["tap", "tcp://127.0.0.1:1", "--proto", join(scratch, "nowhere")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such folder/);
    const inside = await dividere(["tap", "tcp://127.0.0.1:1", "--proto", "proto/test"]);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toMatch(/--proto proto\/test is inside the buf module at "proto": pass --proto proto/);
    const notASet = await dividere(["tap", "tcp://127.0.0.1:1", "--descriptor-set", fixture("publisher.mjs")]);
    expect(notASet.code).toBe(2);
    expect(notASet.stderr).toMatch(/not a descriptor set/);
  });
});

describe("publish", () => {
  test("a message given as JSON reaches a program that subscribes", async () => {
    const subscriber = started(node(fixture("subscriber.mjs")));
    const { ready } = (await subscriber.next()) as { ready: string };
    const { code, stderr } = await dividere(["publish", ready, "test.jobs.Job", '{"id": 7, "work": 70}', ...PROTO]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(await subscriber.next()).toEqual({ type: "test.jobs.Job", message: { id: 7, work: 70 } });
  });

  test("with no subscriber within --wait it publishes nothing and exits 1, saying how to wait longer; --anyway publishes", async () => {
    const lonely = await dividere(["publish", "tcp://127.0.0.1:1", "test.jobs.Job", '{"id": 7}', "--wait", "200", ...PROTO]);
    expect(lonely.code).toBe(1);
    expect(lonely.stderr).toBe(
      "dividere publish: no subscriber to test.jobs.Job connected to tcp://127.0.0.1:1 within 200 ms, so nothing was published " +
        "(a message nobody subscribes to is lost); wait longer with --wait MS, or publish regardless with --anyway\n",
    );
    const anyway = await dividere(["publish", "tcp://127.0.0.1:1", "test.jobs.Job", '{"id": 7}', "--wait", "200", "--anyway", ...PROTO]);
    expect(anyway.code).toBe(0);
    expect(anyway.stderr).toMatch(/within 200 ms; publishing anyway \(--anyway\)\n$/);
  });

  test("JSON that is not the type, and a type nobody defined, exit 2 and say why", async () => {
    const badJson = await dividere(["publish", "tcp://127.0.0.1:1", "test.jobs.Job", '{"id": "seven"}', ...PROTO]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/the JSON is not a test.jobs.Job/);
    const notJson = await dividere(["publish", "tcp://127.0.0.1:1", "test.jobs.Job", "{id: 7", ...PROTO]);
    expect(notJson.code).toBe(2);
    const unknown = await dividere(["publish", "tcp://127.0.0.1:1", "Job", "{}", ...PROTO]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no message type "Job" is known: use its full name, test\.jobs\.Job\n/);
    const noTypes = await dividere(["publish", "tcp://127.0.0.1:1", "Job", "{}"]);
    expect(noTypes.stderr).toMatch(/no message type "Job" is known; pass --proto DIR or --descriptor-set FILE with its definition \(by its full name, package\.Job\)/);
  });
});

describe("call", () => {
  test("calls a server at its endpoint, unary and streaming", async () => {
    const { endpoint: registry } = await startRegistry();
    const service = started(node(fixture("echo-service.mjs"), "echo-a", registry, "5000"));
    const { ready } = (await service.next()) as { ready: string };

    const unary = await dividere(["call", ready, "test.services.v1.Echo/Say", '{"text": "hi"}', ...PROTO]);
    expect(unary.stderr).toBe("");
    expect(unary.code).toBe(0);
    expect(jsonLines(unary.stdout)).toEqual([{ text: "hi", servedBy: "echo-a" }]);

    const stream = await dividere(["call", ready, "/test.services.v1.Echo/Count", '{"text": "tick", "count": 3}', ...PROTO]);
    expect(stream.code).toBe(0);
    expect(jsonLines(stream.stdout)).toEqual([
      { text: "tick", servedBy: "echo-a" },
      { text: "tick", index: 1, servedBy: "echo-a" },
      { text: "tick", index: 2, servedBy: "echo-a" },
    ]);
  });

  test("-H sends request headers (a -bin one as base64); -v shows the response headers and trailers on stderr, stdout stays the replies", async () => {
    const { endpoint: registry } = await startRegistry();
    const service = started(node(fixture("echo-service.mjs"), "echo-h", registry, "5000"));
    const { ready } = (await service.next()) as { ready: string };
    // Echo answers each echo-* request header as a response header and a trailer.
    const headers = ["-H", "echo-tenant: acme", "--header", "echo-trace-bin:AAEC/w=="];
    const unary = await dividere(["call", ready, "test.services.v1.Echo/Say", '{"text": "hi"}', ...headers, "-v", ...PROTO]);
    expect(unary.code).toBe(0);
    expect(jsonLines(unary.stdout)).toEqual([{ text: "hi", servedBy: "echo-h" }]);
    expect(unary.stderr.split("\n").filter(Boolean)).toEqual([
      "header echo-tenant: acme",
      "header echo-trace-bin: AAEC/w==",
      "trailer echo-tenant: acme",
      "trailer echo-trace-bin: AAEC/w==",
    ]);

    const quiet = await dividere(["call", ready, "test.services.v1.Echo/Say", '{"text": "hi"}', ...headers, ...PROTO]);
    expect(quiet.stderr).toBe("");

    const failed = await dividere(["call", ready, "test.services.v1.Echo/Count", '{"text": "t", "count": 1, "failCode": "ABORTED"}', "-H", "echo-n: 1", "-v", ...PROTO]);
    expect(failed.code).toBe(1);
    expect(jsonLines(failed.stdout)).toEqual([{ text: "t", servedBy: "echo-h" }]);
    expect(failed.stderr).toMatch(/^header echo-n: 1\ntrailer echo-n: 1\ndividere call: ABORTED: /);

    const noColon = await dividere(["call", ready, "test.services.v1.Echo/Say", "{}", "-H", "tenant", ...PROTO]);
    expect(noColon.code).toBe(2);
    expect(noColon.stderr).toMatch(/-H takes name:value/);
    const notBase64 = await dividere(["call", ready, "test.services.v1.Echo/Say", "{}", "-H", "trace-bin: not base64!", ...PROTO]);
    expect(notBase64.code).toBe(2);
    expect(notBase64.stderr).toMatch(/a -bin header's value is base64/);
  });

  test("finds a service by name through the registry; the service's error exits 1 with its code", async () => {
    const { endpoint: registry } = await startRegistry();
    const service = started(node(fixture("echo-service.mjs"), "echo-b", registry, "5000"));
    await service.next();

    const found = await dividere(["call", "test.services.v1.Echo", "Say", '{"text": "found you"}', "--registry", registry, ...PROTO]);
    expect(found.code).toBe(0);
    expect(jsonLines(found.stdout)).toEqual([{ text: "found you", servedBy: "echo-b" }]);

    const failed = await dividere(["call", "test.services.v1.Echo", "Say", '{"text": "no", "fail": true}', "--registry", registry, ...PROTO]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/dividere call: \w+: .*told to fail: no/);

    const unimplemented = await dividere(["call", "test.services.v1.Echo", "Unfinished", "{}", "--registry", registry, ...PROTO]);
    expect(unimplemented.code).toBe(1);
    expect(unimplemented.stderr).toMatch(/UNIMPLEMENTED/i);
  });

  test("calls a worker through a broker", async () => {
    const { frontend, backend } = await startBroker();
    const worker = started(node(fixture("echo-worker.mjs"), "worker-1", backend, "200"));
    await worker.next();
    const { code, stdout, stderr } = await dividere(["call", "test.services.v1.Greeter", "Greet", '{"name": "ada"}', "--broker", frontend, ...PROTO]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(jsonLines(stdout)).toEqual([{ greeting: "hello ada, from worker-1" }]);
  });

  test("a method the service lacks, and a server nobody runs, fail with a clear message", async () => {
    const noMethod = await dividere(["call", "tcp://127.0.0.1:1", "test.services.v1.Echo/Shout", "{}", ...PROTO]);
    expect(noMethod.code).toBe(2);
    expect(noMethod.stderr).toMatch(/has no method Shout; it has Say, Count, Unfinished, Upload/);
    const misspelled = await dividere(["call", "tcp://127.0.0.1:1", "test.services.v1.Ecko/Say", "{}", ...PROTO]);
    expect(misspelled.code).toBe(2);
    expect(misspelled.stderr).toMatch(
      /no service "test\.services\.v1\.Ecko" is known \(did you mean test\.services\.v1\.Echo\?\); the services known are (?=.*chat\.v1\.History)(?=.*test\.services\.v1\.Greeter).*\. Check the name/,
    );
    expect(misspelled.stderr).not.toMatch(/e\.g\. package|dividere\.v1\.Broker/);
    const far = await dividere(["call", "tcp://127.0.0.1:1", "acme.Billing/Charge", "{}", ...PROTO]);
    expect(far.stderr).toMatch(/no service "acme\.Billing" is known; the services known are /);
    const short = await dividere(["call", "tcp://127.0.0.1:1", "Echo/Say", "{}", ...PROTO]);
    expect(short.stderr).toMatch(/no service "Echo" is known: use its full name, test\.services\.v1\.Echo\n/);
    const nobody = await dividere(["call", "tcp://127.0.0.1:1", "test.services.v1.Echo/Say", "{}", "--timeout", "300", ...PROTO]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/dividere call: DEADLINE_EXCEEDED|dividere call: UNAVAILABLE/i);
  });

  describe("without --proto, the types come from the server's reflection", () => {
    test("at an endpoint and through the registry, unary and server streaming", async () => {
      const { endpoint: registry } = await startRegistry();
      const service = started(node(fixture("echo-service.mjs"), "echo-r", registry, "5000"));
      const { ready } = (await service.next()) as { ready: string };

      const unary = await dividere(["call", ready, "test.services.v1.Echo/Say", '{"text": "hi"}']);
      expect(unary.stderr).toBe("");
      expect(unary.code).toBe(0);
      expect(jsonLines(unary.stdout)).toEqual([{ text: "hi", servedBy: "echo-r" }]);
      const stream = await dividere(["call", ready, "test.services.v1.Echo/Count", '{"text": "tick", "count": 2}']);
      expect(stream.code).toBe(0);
      expect(jsonLines(stream.stdout)).toEqual([
        { text: "tick", servedBy: "echo-r" },
        { text: "tick", index: 1, servedBy: "echo-r" },
      ]);

      const found = await dividere(["call", "test.services.v1.Echo", "Say", '{"text": "found you"}', "--registry", registry]);
      expect(found.stderr).toBe("");
      expect(jsonLines(found.stdout)).toEqual([{ text: "found you", servedBy: "echo-r" }]);
      const counted = await dividere(["call", "test.services.v1.Echo", "Count", '{"text": "t", "count": 2}', "--registry", registry]);
      expect(counted.code).toBe(0);
      expect(jsonLines(counted.stdout)).toHaveLength(2);

      // What the server described is checked as --proto's types are.
      const noMethod = await dividere(["call", ready, "test.services.v1.Echo/Shout", "{}"]);
      expect(noMethod.code).toBe(2);
      expect(noMethod.stderr).toMatch(/has no method Shout; it has Say, Count/);
      const notHosted = await dividere(["call", ready, "test.services.v1.Ecko/Say", "{}"]);
      expect(notHosted.code).toBe(1);
      expect(notHosted.stderr).toMatch(/does not describe test\.services\.v1\.Ecko: check the name, or pass --proto DIR/);
    });

    test("a server without reflection, and a broker, say to pass --proto", async () => {
      const { endpoint: registry } = await startRegistry();
      const quiet = started(new Child(process.execPath, [fixture("echo-service.mjs"), "echo-q", registry, "5000"], { ...process.env, ECHO_REFLECTION: "off" }));
      const { ready } = (await quiet.next()) as { ready: string };
      const direct = await dividere(["call", ready, "test.services.v1.Echo/Say", '{"text": "hi"}']);
      expect(direct.code).toBe(1);
      expect(direct.stderr).toMatch(/does not answer reflection \(grpc\.reflection\.v1\).*pass --proto DIR \(or --descriptor-set FILE\)/);
      const registered = await dividere(["call", "test.services.v1.Echo", "Say", '{"text": "hi"}', "--registry", registry]);
      expect(registered.stderr).toMatch(/does not answer reflection/);
      // --proto still works, and wins.
      expect(jsonLines((await dividere(["call", ready, "test.services.v1.Echo/Say", '{"text": "hi"}', ...PROTO])).stdout)).toEqual([{ text: "hi", servedBy: "echo-q" }]);

      const { frontend, backend } = await startBroker();
      const worker = started(node(fixture("echo-worker.mjs"), "worker-r", backend, "200"));
      await worker.next();
      const brokered = await dividere(["call", "test.services.v1.Greeter", "Greet", '{"name": "ada"}', "--broker", frontend]);
      expect(brokered.code).toBe(1);
      expect(brokered.stderr).toMatch(/does not describe test\.services\.v1\.Greeter \(a broker describes its own services, not its workers'\).*pass --proto/);
      // dividere's own services need neither.
      const own = await dividere(["call", "dividere.v1.Broker", "Services", "{}", "--broker", frontend]);
      expect(own.code).toBe(0);
      expect(own.stdout).toMatch(/test\.services\.v1\.Greeter/);
    });
  });

  describe("client and bidi streams read their requests from stdin, one JSON a line", () => {
    /** Starts the Echo service; resolves with its endpoint. */
    async function echoAt(name: string): Promise<string> {
      const { endpoint: registry } = await startRegistry();
      const service = started(node(fixture("echo-service.mjs"), name, registry, "5000"));
      return ((await service.next()) as { ready: string }).ready;
    }

    /** `dividere call` of Echo/Chat on a new Echo service, its stdin open for the test to write lines to. */
    async function chatWith(name: string): Promise<{ chat: Child; ready: string }> {
      const ready = await echoAt(name);
      return { chat: started(start("call", ready, "test.services.v1.Echo/Chat", "--timeout", "15000", ...PROTO)), ready };
    }

    test("a client stream sends every line (blank ones skipped, CRLF too) and prints its one reply; a bidi stream prints each reply", async () => {
      const ready = await echoAt("echo-s");
      const input = '{"text": "a"}\n\n   \n{"text": "b"}\r\n{"text": "c"}';
      const collect = await dividere(["call", ready, "test.services.v1.Echo/Collect", ...PROTO], 20_000, input);
      expect(collect.stderr).toBe("");
      expect(collect.code).toBe(0);
      expect(jsonLines(collect.stdout)).toEqual([{ text: "a b c", index: 3, servedBy: "echo-s" }]);

      const chat = await dividere(["call", ready, "test.services.v1.Echo/Chat", "-", "-H", "echo-n: 2", "-v", ...PROTO], 20_000, input);
      expect(chat.code).toBe(0);
      expect(jsonLines(chat.stdout)).toEqual([
        { text: "a", servedBy: "echo-s" },
        { text: "b", index: 1, servedBy: "echo-s" },
        { text: "c", index: 2, servedBy: "echo-s" },
      ]);
      expect(chat.stderr).toBe("header echo-n: 2\ntrailer echo-n: 2\n");

      const nothing = await dividere(["call", ready, "test.services.v1.Echo/Collect", ...PROTO], 20_000, "");
      expect(jsonLines(nothing.stdout)).toEqual([{ servedBy: "echo-s" }]);
    });

    test("a bidi call answers each line while stdin is still open, and ends when stdin does", async () => {
      const { chat } = await chatWith("echo-i");
      chat.write('{"text": "hello"}\n');
      expect(await chat.next()).toEqual({ text: "hello", servedBy: "echo-i" });
      chat.write('{"text": "again"}\n');
      expect(await chat.next()).toEqual({ text: "again", index: 1, servedBy: "echo-i" });
      chat.endInput();
      expect(await chat.exited).toBe(0);
      expect(await chat.rest()).toEqual([]);
      expect(chat.stderr).toBe("");
    });

    test("a line that is not a request names its line, cancels the call and exits 2, stdin still open", async () => {
      const { chat, ready } = await chatWith("echo-m");
      chat.write('{"text": "fine"}\n\n');
      expect(await chat.next()).toEqual({ text: "fine", servedBy: "echo-m" });
      chat.write('{"text": 5}\n');
      expect(await chat.exited).toBe(2);
      expect(chat.stderr).toMatch(/^dividere call: line 3 of standard input is not a test\.services\.v1\.EchoRequest: .*expected string, got 5\n/);

      const notJson = await dividere(["call", ready, "test.services.v1.Echo/Collect", ...PROTO], 20_000, '{"text": "a"}\n{text: b}\n');
      expect(notJson.code).toBe(2);
      expect(notJson.stderr).toMatch(/line 2 of standard input is not a test\.services\.v1\.EchoRequest/);
      expect(notJson.stdout).toBe("");
    });

    test("a server that fails mid-stream ends the call with its code, though stdin is still open", async () => {
      const { chat } = await chatWith("echo-f");
      chat.write('{"text": "one"}\n');
      expect(await chat.next()).toEqual({ text: "one", servedBy: "echo-f" });
      chat.write('{"text": "two", "failCode": "ABORTED"}\n');
      expect(await chat.exited).toBe(1);
      expect(chat.stderr).toMatch(/^dividere call: ABORTED: told to fail with ABORTED: two\n$/);
    });

    test("a request argument where stdin is read, and none (or -) where one is needed, are usage errors saying what to do", async () => {
      const given = await dividere(["call", "tcp://127.0.0.1:1", "test.services.v1.Echo/Collect", '{"text": "a"}', ...PROTO]);
      expect(given.code).toBe(2);
      expect(given.stderr).toMatch(
        /Echo\/Collect is a client streaming method: it reads its requests from standard input, one JSON a line .*leave out the JSON or give -, e.g. echo '\{"text": "a"\}' \| dividere call/,
      );
      const missing = await dividere(["call", "tcp://127.0.0.1:1", "test.services.v1.Echo/Say", ...PROTO]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/Echo\/Say is a unary method: give its one request as JSON/);
      const dash = await dividere(["call", "tcp://127.0.0.1:1", "test.services.v1.Echo/Count", "-", ...PROTO]);
      expect(dash.code).toBe(2);
      expect(dash.stderr).toMatch(/is a server streaming method: give its one request as JSON, .*only client and bidi methods read standard input/);
    });
  });
});
