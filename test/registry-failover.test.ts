// Clients of several registries (issue 20): requests, registrations, lookups, watches and the
// `dividere` command move to another registry when one dies (SIGKILL), hangs (SIGSTOP) or was
// never up. The registries are `dividere registry` processes with their records in memory:
// each knows only what registered with it, so a service shows up at the second registry when
// its renewal moves there.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { RegistryClient, type RegistryEndpoints, connection, registryTransport } from "@dividere/runtime";
import { registrationTimeoutMs } from "../runtime/src/registry/defaults.js";
import { EchoClient } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { eventually, runNode } from "./helpers.js";
import { type Child, dividereBin, node, registryProcess } from "./processes.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const ECHO = "test.services.v1.Echo";
/** How long a try of the test's clients waits for an answer. */
const TIMEOUT_MS = 500;
/** What a move to the other registry may take beyond the timeout of the try that did not answer, on a busy machine. */
const MARGIN_MS = 1000;

const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A `dividere registry` process on loopback ports, killed after the test. */
async function registry(ports?: { request: number; publish: number; watch: number }): Promise<{ child: Child; endpoints: RegistryEndpoints; endpoint: string }> {
  const { registry: child, endpoints } = await registryProcess((c) => later(c, (it) => it.kill()), ports);
  return { child, endpoints, endpoint: endpoints.endpoint };
}

/** A client of `endpoint` (one registry or several), closed after the test. */
function clientOf(endpoint: string | readonly string[], timeoutMs = TIMEOUT_MS): RegistryClient {
  return later(new RegistryClient({ endpoint, timeoutMs }), (c) => c.close());
}

/** A port nothing listens on. */
async function deadEndpoint(): Promise<string> {
  return `tcp://127.0.0.1:${await connection.PortManager.acquire({ host: "127.0.0.1" })}`;
}

/** How long `promise` takes to settle, and its value. */
async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await promise;
  return { value, ms: Date.now() - started };
}

const instance = (id: string, ttlMs = 0) => ({ service: ECHO, instanceId: id, endpoint: "tcp://127.0.0.1:1", ttlMs });
const ids = (instances: readonly { instanceId: string }[]) => instances.map((i) => i.instanceId).sort();

/** Starts an Echo service in a child process registered with `registries`; resolves once registered. */
async function echoProcess(name: string, registries: readonly string[], ttlMs: number): Promise<{ child: Child; instance: string }> {
  const child = later(node(fixture("echo-service.mjs"), name, registries.join(","), String(ttlMs)), (c) => c.kill());
  const { instance } = (await child.next(20_000)) as { instance: string };
  return { child, instance };
}

/**
 * Registers and unregisters instances at `registry` until the watch heard one of them (a
 * subscription made a moment ago may not be in place for the first): resolves with the tries.
 */
async function heardFrom(registry: RegistryClient, changes: readonly string[], prefix: string): Promise<{ tries: number }> {
  const until = Date.now() + 5000;
  for (let tries = 1; ; tries++) {
    const id = `${prefix}-${tries}`;
    await registry.register(instance(id));
    await registry.unregister(ECHO, id);
    const heard = Date.now() + 300;
    while (Date.now() < heard) {
      if (changes.some((change) => change.split(": ")[1]!.split(",").includes(id))) return { tries };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (Date.now() > until) throw new Error(`the watch heard nothing of ${prefix} from ${registry.endpoint}: ${changes.join("; ")}`);
  }
}

describe("a client of several registries", () => {
  test("the first registry SIGKILLed: the next request is answered by the second within one timeout, and the client stays there", async () => {
    const [r1, r2] = await Promise.all([registry(), registry()]);
    const client = clientOf([r1.endpoint, r2.endpoint]);
    expect(client.registries).toEqual([r1.endpoint, r2.endpoint]);
    expect(client.endpoint).toBe(r1.endpoint);
    await client.register(instance("before"));
    expect(ids(await clientOf(r1.endpoint).lookup(ECHO))).toEqual(["before"]);
    // A refusal is an answer: no reason to move.
    await expect(client.register({ service: ECHO, instanceId: "", endpoint: "" })).rejects.toThrow(`the registry at ${r1.endpoint} refused`);
    expect(client.endpoint).toBe(r1.endpoint);

    r1.child.kill("SIGKILL");
    await r1.child.exited;
    const registration = await timed(client.register(instance("after")));
    console.log(`registered at the second registry ${registration.ms} ms after asking (timeout ${TIMEOUT_MS} ms)`);
    expect(registration.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    expect(client.endpoint).toBe(r2.endpoint);
    const lookup = await timed(client.lookup(ECHO));
    expect(ids(lookup.value)).toEqual(["after"]);
    expect(lookup.ms).toBeLessThan(TIMEOUT_MS);

    r2.child.kill("SIGKILL");
    await expect(client.lookup(ECHO)).rejects.toThrow(
      `the registries at ${r2.endpoint}, ${r1.endpoint} did not answer dividere.v1.LookupRequest within ${TIMEOUT_MS} ms on each of 3 tries; are they running?`,
    );
  });

  test("the first registry hangs (SIGSTOP): the request moves to the second within one timeout", async () => {
    const [r1, r2] = await Promise.all([registry(), registry()]);
    await clientOf(r2.endpoint).register(instance("at-r2"));
    const client = clientOf([r1.endpoint, r2.endpoint]);
    expect(await client.lookup(ECHO)).toEqual([]);
    r1.child.kill("SIGSTOP");
    const lookup = await timed(client.lookup(ECHO));
    console.log(`a hung registry: answered by the second ${lookup.ms} ms after asking`);
    expect(ids(lookup.value)).toEqual(["at-r2"]);
    expect(lookup.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    expect(client.endpoint).toBe(r2.endpoint);
  });

  test("the first registry down from the start: the first request is answered by the second", async () => {
    const r2 = await registry();
    await clientOf(r2.endpoint).register(instance("at-r2"));
    const client = clientOf([await deadEndpoint(), r2.endpoint]);
    const lookup = await timed(client.lookup(ECHO));
    expect(ids(lookup.value)).toEqual(["at-r2"]);
    expect(lookup.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
  });

  test("the Python protocol moves the same way, and takes the publish port of the registry in use to be the one after its request port", async () => {
    const r2 = await registry();
    const dead = await deadEndpoint();
    const python = later(new RegistryClient({ endpoint: [dead, r2.endpoint], protocol: "python", timeoutMs: TIMEOUT_MS }), (c) => c.close());
    await python.register({ service: ECHO, instanceId: "ignored", endpoint: "tcp://127.0.0.1:6100" });
    expect(python.endpoint).toBe(r2.endpoint);
    expect((await python.lookup(ECHO)).map((i) => i.endpoint)).toEqual(["tcp://127.0.0.1:6100"]);
    const port = Number(r2.endpoint.split(":").pop());
    expect(await python.endpoints()).toEqual({ endpoint: r2.endpoint, publishEndpoint: `tcp://127.0.0.1:${port + 1}`, watchEndpoint: `tcp://127.0.0.1:${port + 2}` });
  });

  test("publishEndpoint or watchEndpoint with several registries is INVALID_ARGUMENT, saying to leave them out", () => {
    expect(() => new RegistryClient({ endpoint: ["tcp://a:5000", "tcp://b:5000"], watchEndpoint: "tcp://a:5002" })).toThrow(
      /name the sockets of one registry, and 2 are given \(tcp:\/\/a:5000, tcp:\/\/b:5000\): leave them out, each registry is asked where it publishes/,
    );
    expect(() => new RegistryClient({ endpoint: [] })).toThrow(/no registry endpoint given/);
  });

  test("a watch over two registries reports what the second publishes, before and after the first died; one down at start is watched once it is up", async () => {
    const ports = await Promise.all([0, 1, 2].map(() => connection.PortManager.acquire({ host: "127.0.0.1" })));
    const late = `tcp://127.0.0.1:${ports[0]}`;
    const [r1, r2] = await Promise.all([registry(), registry()]);
    const client = clientOf([r1.endpoint, r2.endpoint, late]);
    const changes: string[] = [];
    const connections: boolean[] = [];
    client.onChange((service, instances) => changes.push(`${service}: ${ids(instances).join(",")}`));
    client.onConnection((connected) => connections.push(connected));
    await eventually(() => connections.length > 0, 5000, "the watch connected");

    // Registered at the second directly: the client, which uses the first, hears it on the second's watch.
    const atR2 = clientOf(r2.endpoint);
    await heardFrom(atR2, changes, "r2-before");
    r1.child.kill("SIGKILL");
    await r1.child.exited;
    const after = await heardFrom(atR2, changes, "r2-after");
    expect(after.tries).toBe(1);
    expect(connections).toEqual([true]);

    // The third was down when the watch started: asked again every timeout, it is watched once up.
    const r3 = await registry({ request: ports[0]!, publish: ports[1]!, watch: ports[2]! });
    await heardFrom(clientOf(r3.endpoint), changes, "r3");

    r2.child.kill("SIGKILL");
    r3.child.kill("SIGKILL");
    await eventually(() => connections.at(-1) === false, 5000, "onConnection(false) once no registry is connected");
    expect(connections).toEqual([true, false]);
  });
});

describe("serve() and registryTransport() over several registries", () => {
  test("a served instance registered at the first shows up at the second, by its renewal, within ttl + timeout of the first's SIGKILL", async () => {
    const [r1, r2] = await Promise.all([registry(), registry()]);
    const TTL = 1000;
    const echo = await echoProcess("moving", [r1.endpoint, r2.endpoint], TTL);
    expect(ids(await clientOf(r1.endpoint).lookup(ECHO))).toEqual([echo.instance]);
    const atR2 = clientOf(r2.endpoint);
    expect(await atR2.lookup(ECHO)).toEqual([]);

    r1.child.kill("SIGKILL");
    const killedAt = Date.now();
    let found: string[] = [];
    // The service's registry client waits a third of the lease (at least 500 ms) for the renewal under way.
    const limit = TTL + registrationTimeoutMs(TTL)! + MARGIN_MS;
    while (Date.now() - killedAt < limit && (found = ids(await atR2.lookup(ECHO))).length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    const movedAfter = Date.now() - killedAt;
    console.log(`the instance was registered at the second registry ${movedAfter} ms after the first was killed (ttl ${TTL} ms)`);
    expect(found).toEqual([echo.instance]);
    expect(movedAfter).toBeLessThan(limit);
    expect(echo.child.stderr).toBe("");
  });

  test("registryTransport([r1, r2]): calls go on through the first's SIGKILL, and find an instance that registered with the second alone", async () => {
    const [r1, r2] = await Promise.all([registry(), registry()]);
    const TTL = 1000;
    const registries = [r1.endpoint, r2.endpoint];
    const first = await echoProcess("first", registries, TTL);
    const transport = later(registryTransport(registries, { registry: { timeoutMs: TIMEOUT_MS }, refreshMs: 200 }), (t) => t.close());
    const echoes = new EchoClient(transport);
    const servedBy: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const callers = Array.from({ length: 3 }, async (_, caller) => {
      for (let i = 0; !stop; i++) {
        try {
          const reply = await echoes.say({ text: `${caller}/${i}`, delayMs: 5 }, { timeoutMs: 5000, retries: 3 });
          servedBy.push(reply.servedBy);
        } catch (error) {
          failures.push(String(error));
        }
      }
    });
    await eventually(() => servedBy.length >= 20, 10_000, "calls before");

    r1.child.kill("SIGKILL");
    // Started after the first registry died, the second instance is known to the second registry only.
    const second = await echoProcess("second", registries, TTL);
    const atR2 = clientOf(r2.endpoint);
    const deadline = Date.now() + TTL + 3000 + MARGIN_MS;
    while (ids(await atR2.lookup(ECHO)).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ids(await atR2.lookup(ECHO))).toEqual([first.instance, second.instance].sort());

    first.child.kill("SIGKILL");
    const before = servedBy.length;
    await eventually(() => servedBy.slice(before).filter((name) => name === "second").length >= 20, 10_000, "calls served by the second instance");
    stop = true;
    await Promise.all(callers);
    console.log(`${servedBy.length} calls answered through both kills, ${failures.length} failed`);
    expect(failures).toEqual([]);
  });
});

describe("the command line", () => {
  test("dividere lookup SERVICE --registry DEAD,LIVE answers from the live one; with none, it says which answered", async () => {
    const live = await registry();
    const dead = await deadEndpoint();
    await clientOf(live.endpoint).register(instance("found"));
    const found = await runNode(dividereBin, 20_000, { args: ["lookup", ECHO, "--registry", `${dead},${live.endpoint}`, "--timeout", String(TIMEOUT_MS)] });
    expect(found).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(found.stdout)).toMatchObject({ service: ECHO, instanceId: "found" });

    const none = await runNode(dividereBin, 20_000, { args: ["lookup", "test.Nobody", "--registry", `${dead},${live.endpoint}`, "--timeout", String(TIMEOUT_MS)] });
    expect(none).toMatchObject({ code: 1, stderr: `dividere lookup: no instance of test.Nobody is registered at ${live.endpoint}\n` });
    const services = await runNode(dividereBin, 20_000, { args: ["services", "--registry", `${dead},${live.endpoint}`, "--timeout", String(TIMEOUT_MS), "--json"] });
    expect(services.code).toBe(0);
    expect(JSON.parse(services.stdout)).toMatchObject({ service: ECHO, instanceId: "found" });
    const bad = await runNode(dividereBin, 20_000, { args: ["lookup", ECHO, "--registry", `${live.endpoint},`] });
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining("--registry takes endpoints separated by commas") });
  });
});
