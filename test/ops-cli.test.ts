// `dividere services` and `dividere stats`, run as child processes against a real registry and
// three real instances of a service: one serving, one NOT_SERVING, one hung (SIGSTOP).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RegistryServer, connection, directTransport, serve, type ServiceHost } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { rejection, runNode } from "./helpers.js";
import { type Child, dividereBin, node } from "./processes.js";

const ECHO = EchoDefinition.typeName;
const SAY = `/${ECHO}/Say`;
const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const echoService = new URL("./fixtures/echo-service.mjs", import.meta.url).pathname;
const dividere = (...args: string[]) => runNode(dividereBin, 20_000, { args });
const jsonLines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

/** What a table row says, its cells split on the runs of spaces between columns. */
const rowOf = (stdout: string, ...starts: string[]) =>
  stdout
    .split("\n")
    .map((line) => line.trim().split(/\s{2,}/))
    .find((cells) => starts.every((start, index) => cells[index] === start));

describe("dividere services and stats", () => {
  let registry: RegistryServer;
  let serving: ServiceHost;
  let notServing: ServiceHost;
  let hung: Child;
  let hungInstance: string;

  /** Makes `calls` calls of Say at `host`, `errors` of them failing. */
  async function say(host: ServiceHost, calls: number, errors: number): Promise<void> {
    const transport = directTransport(host.endpoint);
    const client = new EchoClient(transport);
    for (let i = 0; i < calls - errors; i++) await client.say({ text: `hi ${i}` }, { timeoutMs: 5000 });
    for (let i = 0; i < errors; i++) await rejection(client.say({ text: "no", failCode: "NOT_FOUND" }, { timeoutMs: 5000 }));
    await transport.close();
  }

  beforeAll(async () => {
    registry = new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() });
    const host = () => serve(EchoDefinition, echo("in-process"), { endpoint: loopback(), registry: registry.endpoint, host: "127.0.0.1" });
    serving = await host();
    notServing = await host();
    await Promise.all([serving, notServing].map((h) => h.waitForRegistration({ timeoutMs: 5000 })));
    notServing.health.set(ECHO, "NOT_SERVING");
    await say(serving, 4, 1);
    await say(notServing, 3, 2);
    // A lease long enough to outlast the test: a hung instance stays registered, as it would until its TTL.
    hung = node(echoService, "hung", registry.endpoint, "60000");
    hungInstance = ((await hung.next()) as { instance: string }).instance;
    process.kill(hung.pid, "SIGSTOP");
  });

  afterAll(async () => {
    hung?.kill();
    await serving?.close({ graceMs: 0 });
    await notServing?.close({ graceMs: 0 });
    await registry?.close();
  });

  test("services: every instance with its health; a hung one UNREACHABLE, and the command still exits 0", async () => {
    const { code, stdout, stderr, ms } = await dividere("services", "--registry", registry.endpoint, "--timeout", "500");
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout.split("\n")[0]).toMatch(/^SERVICE\s+INSTANCE\s+ENDPOINT\s+HEALTH$/);
    expect(rowOf(stdout, ECHO, serving.instances[0]!.instanceId)).toEqual([ECHO, serving.instances[0]!.instanceId, serving.endpoint, "SERVING"]);
    expect(rowOf(stdout, ECHO, notServing.instances[0]!.instanceId)?.[3]).toBe("NOT_SERVING");
    expect(rowOf(stdout, ECHO, hungInstance)?.[3]).toBe("UNREACHABLE");
    // The instances are asked at once: the hung one costs one --timeout, not one each.
    expect(ms).toBeLessThan(5000);

    const json = jsonLines((await dividere("services", "--registry", registry.endpoint, "--timeout", "500", "--json")).stdout);
    expect(json.map(({ instanceId, health }) => [instanceId, health]).sort()).toEqual(
      [
        [serving.instances[0]!.instanceId, "SERVING"],
        [notServing.instances[0]!.instanceId, "NOT_SERVING"],
        [hungInstance, "UNREACHABLE"],
      ].sort(),
    );
    expect(json.find(({ health }) => health === "UNREACHABLE")).toMatchObject({ service: ECHO, error: expect.stringMatching(/^DEADLINE_EXCEEDED: /) });
  });

  test("stats: per instance and gathered over all, only SERVICE's methods; the hung instance UNREACHABLE", async () => {
    const { code, stdout, stderr } = await dividere("stats", ECHO, "--registry", registry.endpoint, "--timeout", "500");
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const one = rowOf(stdout, SAY, serving.instances[0]!.instanceId)!;
    const two = rowOf(stdout, SAY, notServing.instances[0]!.instanceId)!;
    const all = rowOf(stdout, SAY, "all")!;
    expect(one.slice(2, 4)).toEqual(["4", "1"]);
    expect(one[8]).toMatch(/^NOT_FOUND: told to fail/);
    expect(two.slice(2, 4)).toEqual(["3", "2"]);
    expect(all.slice(2, 4)).toEqual(["7", "3"]);
    expect(Number(all[4])).toBeCloseTo(Number(one[4]) + Number(two[4]), 1);
    expect(all.slice(6)).toEqual(["-", "-"]);
    expect(rowOf(stdout, hungInstance)?.slice(1, 3)).toEqual([expect.stringMatching(/^tcp:\/\//), "UNREACHABLE"]);
    // Health checks and these very stats are calls too, of the built-in services: left out.
    const methods = stdout.split("\n").filter((line) => line.startsWith("/")).map((line) => line.split(" ")[0]);
    expect(methods.length).toBeGreaterThan(0);
    expect(methods.filter((path) => !path!.startsWith(`/${ECHO}/`))).toEqual([]);

    const json = jsonLines((await dividere("stats", ECHO, "--registry", registry.endpoint, "--timeout", "500", "--json")).stdout);
    const gathered = json.find(({ path, instanceId }) => path === SAY && instanceId === "all")!;
    const perInstance = json.filter(({ path, instanceId }) => path === SAY && instanceId !== "all");
    expect(gathered).toMatchObject({ path: SAY, instances: 2, calls: 7, errors: 3 });
    const total = perInstance.reduce((sum, { processingTimeMs }) => sum + (processingTimeMs as number), 0);
    expect(gathered.processingTimeMs).toBeCloseTo(total, 6);
    expect(gathered.averageProcessingTimeMs).toBeCloseTo(total / 7, 6);
    expect(perInstance.map(({ calls, errors }) => [calls, errors]).sort()).toEqual([[3, 2], [4, 1]]);
    expect(json.find(({ status }) => status === "UNREACHABLE")).toMatchObject({ instanceId: hungInstance });
  });

  test("an empty registry, an unknown service, a registry that does not answer, and usage errors", async () => {
    const empty = new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback() });
    try {
      expect(await dividere("services", "--registry", empty.endpoint)).toMatchObject({ code: 0, stdout: "", stderr: expect.stringMatching(/no service is registered at/) });
    } finally {
      await empty.close();
    }
    const unknown = await dividere("stats", "no.such.Service", "--registry", registry.endpoint);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringMatching(/no instance of no\.such\.Service is registered/) });
    const nobody = `tcp://127.0.0.1:${await connection.PortManager.acquire({ host: "127.0.0.1" })}`;
    for (const args of [["services"], ["stats", ECHO]]) {
      const silent = await dividere(...args, "--registry", nobody, "--timeout", "300");
      expect(silent.code).toBe(1);
      expect(silent.stderr).toMatch(/did not answer dividere\.v1\.(ListRequest|LookupRequest) within 300 ms.*; is it running\?/);
    }
    for (const args of [["services", "extra"], ["stats"], ["stats", ECHO, "extra"], ["services", "--timeout", "0"], ["stats", ECHO, "--bogus"]]) {
      const usage = await dividere(...args);
      expect(usage.code, args.join(" ")).toBe(2);
      expect(usage.stderr).toMatch(/--help" for how to call it/);
    }
    for (const command of ["services", "stats"]) {
      const help = await dividere(command, "--help");
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: dividere ${command}[\\s\\S]*--json[\\s\\S]*-h, --help`));
    }
    expect((await dividere("stats", "--help")).stdout).toMatch(/cannot be averaged/);
  });
});
