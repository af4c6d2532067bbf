// Capacity, over real processes and sockets: how many connections one process holds, what
// hostile or hung peers can make a server hold, how a burst of connections is accepted, and
// what a caller is told when a server is full or its request too large (docs/limits.md).
import { readFileSync } from "node:fs";
import { type Socket, connect } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { Broker, RegistryServer, RpcServer, connection, directTransport } from "@dividere/runtime";
import { native } from "../runtime/src/connection/socket.js";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { greeting, longFrameHeader, ready } from "./fixtures/trickle-attacker.mjs";
import { eventually, nextEvent } from "./helpers.js";
import { Child, node } from "./processes.js";

const MiB = 1024 * 1024;
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** What capacity-client.mjs prints. */
interface ClientResult {
  opened: number;
  answered: number;
  failed: Record<string, number>;
  latencies: number[];
  openError?: string;
  fds: number;
}

/** An Echo server process (capacity-server.mjs) with these ServeOptions; resolves once it serves. */
async function serverProcess(options: object = {}, env: NodeJS.ProcessEnv = process.env) {
  const child = later(new Child(process.execPath, [fixture("capacity-server.mjs"), JSON.stringify(options)], env), (c) => c.kill());
  const { ready: endpoint, pid } = (await child.next(15_000)) as { ready: string; pid: number };
  return { child, endpoint, pid, port: Number(endpoint.split(":").pop()) };
}

/** The server process's stats, as it prints them on SIGUSR2. */
async function statsOf(server: Child): Promise<Record<string, unknown>> {
  process.kill(server.pid, "SIGUSR2");
  return ((await server.next()) as { stats: Record<string, unknown> }).stats;
}

function rssMiB(pid: number): number {
  const kB = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kB) / 1024;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** TCP listen queue overflows on this host so far (TcpExt ListenOverflows): connections whose SYN was dropped. */
function listenOverflows(): number {
  const [names, values] = readFileSync("/proc/net/netstat", "utf8")
    .split("\n")
    .filter((line) => line.startsWith("TcpExt:"))
    .map((line) => line.split(/\s+/));
  return Number(values?.[names?.indexOf("ListenOverflows") ?? -1] ?? Number.NaN);
}

describe("capacity", () => {
  test("one client process holds 1,000 RPC connections to a server process, and 5,000 calls are answered", async () => {
    const { endpoint } = await serverProcess();
    const client = later(node(fixture("capacity-client.mjs"), endpoint, "1000", "5"), (c) => c.kill());
    const result = (await client.next(60_000)) as unknown as ClientResult;
    const sorted = [...result.latencies].sort((a, b) => a - b);
    console.log(
      `1,000 connections from one process: ${result.opened} opened${result.openError ? ` (then: ${result.openError})` : ""}, ${result.answered} calls answered, ` +
        `failed ${JSON.stringify(result.failed)}; first calls p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms; ${result.fds} file descriptors open`,
    );
    expect(result.openError).toBeUndefined();
    expect(result.opened).toBe(1000);
    expect(result.failed).toEqual({});
    expect(result.answered).toBe(5000);
    await client.finished();
  }, 90_000);

  test("a process out of ZeroMQ sockets is told which limit it met and how to raise it", async () => {
    const { endpoint } = await serverProcess();
    // 32 sockets: room for 10 connections of 3 (a Dealer and its monitor's two), not for 11.
    const env = { ...process.env, DIVIDERE_MAX_SOCKETS: "32" };
    const client = later(new Child(process.execPath, [fixture("capacity-client.mjs"), endpoint, "20", "1"], env), (c) => c.kill());
    const result = (await client.next(20_000)) as unknown as ClientResult;
    console.log(`with DIVIDERE_MAX_SOCKETS=32: ${result.opened} connections opened, then: ${result.openError}`);
    expect(result.opened).toBe(10);
    expect(result.openError).toMatch(/^RESOURCE_EXHAUSTED: .*ZeroMQ's limit of sockets in this process, 32 .*set DIVIDERE_MAX_SOCKETS/);
    expect(result.openError).toMatch(/operating system's limit of open files.*ulimit -Hn/);
    // The connections opened before still work.
    expect(result.answered).toBe(10);
    await client.finished();
  });

  test("100 hostile connections trickling frames announced at 32 MiB: the server stays within its bound, its callers are answered", async () => {
    const CONNECTIONS = 100;
    const { endpoint, pid, port } = await serverProcess();
    const transport = later(directTransport(endpoint), (t) => t.close());
    const echoes = new EchoClient(transport);
    await echoes.say({ text: "warm-up" }, { timeoutMs: 5000 });
    const baseline = rssMiB(pid);
    let peak = baseline;
    const sampling = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 250);
    const attacker = later(node(fixture("trickle-attacker.mjs"), String(port), String(CONNECTIONS), String(32 * MiB), "600000", "12000"), (c) => c.kill());
    let attacking = true;
    const outcomes = { made: 0, answered: 0, failed: [] as string[], slowest: 0 };
    const calling = (async () => {
      while (attacking) {
        const started = Date.now();
        const text = `call-${outcomes.made++}`;
        try {
          if ((await echoes.say({ text }, { timeoutMs: 2000 })).text === text) outcomes.answered++;
        } catch (error) {
          outcomes.failed.push((error as Error).message);
        }
        outcomes.slowest = Math.max(outcomes.slowest, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const summary = await attacker.next(30_000);
    attacking = false;
    await calling;
    clearInterval(sampling);
    const bound = (CONNECTIONS * connection.DEFAULT_SERVER_MAX_MESSAGE_SIZE) / MiB;
    console.log(
      `trickle attack, ${CONNECTIONS} connections announcing 32 MiB frames at 600 KB/s each for 12 s: server RSS ${baseline.toFixed(0)} MiB before, ` +
        `peak ${peak.toFixed(0)} MiB (bound: +${bound} MiB, ${CONNECTIONS} × maxMessageSize); attacker ${JSON.stringify(summary)}; ` +
        `valid calls ${outcomes.answered} of ${outcomes.made} answered, slowest ${outcomes.slowest} ms`,
    );
    expect(peak - baseline).toBeLessThan(bound);
    expect(outcomes.failed).toEqual([]);
    expect(outcomes.answered).toBe(outcomes.made);
    expect(outcomes.made).toBeGreaterThan(50);
  }, 60_000);

  test("500 clients connecting at once: first calls with ZeroMQ's backlog of 100, then with the default", async () => {
    // The default reaches ZeroMQ on every socket.
    await using probe = new connection.Router({ bind: "tcp://127.0.0.1:0" });
    expect((probe[native] as unknown as { backlog: number }).backlog).toBe(connection.DEFAULT_BACKLOG);
    const PROCESSES = 8;
    const EACH = 63;
    const runs: string[] = [];
    for (const [label, options] of [
      ["backlog 100 (ZeroMQ's default)", { backlog: 100 }],
      [`backlog ${connection.DEFAULT_BACKLOG} (the default)`, {}],
    ] as const) {
      const { child: server, endpoint } = await serverProcess(options);
      const clients = Array.from({ length: PROCESSES }, () => later(node(fixture("capacity-client.mjs"), endpoint, String(EACH), "1", "onSignal"), (c) => c.kill()));
      for (const client of clients) expect(await client.next(20_000)).toEqual({ waiting: true });
      const overflows = listenOverflows();
      for (const client of clients) process.kill(client.pid, "SIGUSR2");
      const results = (await Promise.all(clients.map((client) => client.next(30_000)))) as unknown as ClientResult[];
      const sorted = results.flatMap((result) => result.latencies).sort((a, b) => a - b);
      runs.push(
        `${label}: p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms, max ${sorted.at(-1)} ms; ` +
          `listen queue overflows on this host meanwhile: ${listenOverflows() - overflows}`,
      );
      expect(results.map((result) => result.failed)).toEqual(results.map(() => ({})));
      expect(sorted).toHaveLength(PROCESSES * EACH);
      for (const client of clients) await client.finished();
      server.kill("SIGTERM");
      await server.exited;
    }
    console.log(`${PROCESSES * EACH} clients connecting at once, first call of each from its transport's creation:\n  ${runs.join("\n  ")}`);
  }, 90_000);

  test("a server at maxConnections refuses more callers, saying it is full, counts and logs them; a refused caller gets in once there is room", async () => {
    const { child: server, endpoint } = await serverProcess({ maxConnections: 2 }, { ...process.env, NODE_DEBUG: "dividere" });
    // One after the other: a connection still shaking hands counts as held (docs/limits.md), so
    // three at once could see the third's handshake refuse the first.
    const transports = [later(directTransport(endpoint), (t) => t.close())];
    const first = new EchoClient(transports[0]!);
    expect((await first.say({ text: "1" }, { timeoutMs: 5000 })).text).toBe("1");
    transports.push(later(directTransport(endpoint), (t) => t.close()));
    const second = new EchoClient(transports[1]!);
    expect((await second.say({ text: "2" }, { timeoutMs: 5000 })).text).toBe("2");
    transports.push(later(directTransport(endpoint), (t) => t.close()));
    const third = new EchoClient(transports[2]!);
    const refused = await third.say({ text: "3" }, { timeoutMs: 5000 }).then(
      () => new Error("answered"),
      (error: unknown) => error as Error,
    );
    console.log(`the third caller of a server with maxConnections 2: ${refused.message}`);
    expect(refused).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/is full.*maxConnections/) });
    expect((await statsOf(server)).refusedConnections).toBeGreaterThanOrEqual(1);
    expect(server.stderr).toMatch(/refused a connection from 127\.0\.0\.1: it holds 2 connections \(maxConnections 2\)/);
    // Callers below the bound are still answered.
    expect((await first.say({ text: "again" }, { timeoutMs: 5000 })).text).toBe("again");
    await transports[0]!.close();
    // The refused caller connects again by itself, later and later; with retries its call gets through.
    expect((await third.say({ text: "in" }, { timeoutMs: 15_000, retries: 50, retryDelayMs: 100 })).text).toBe("in");
  });

  test("the Broker's sockets and the RegistryServer's refuse connections beyond maxConnections and count them", async () => {
    const dealer = (endpoint: string) => new connection.Dealer({ connect: endpoint });
    const subscriber = (endpoint: string) => new connection.Subscriber({ connect: endpoint });
    const servers = [
      () => {
        const broker = new Broker({ frontend: { bind: "tcp://127.0.0.1:0" }, backend: { bind: "tcp://127.0.0.1:0" }, maxConnections: 1 });
        const sockets = [{ endpoint: broker.frontendEndpoint, peer: dealer }, { endpoint: broker.backendEndpoint, peer: dealer }];
        return { close: () => broker.close({ graceMs: 0 }), sockets, refused: () => broker.stats.refusedConnections };
      },
      () => {
        const registry = new RegistryServer({ endpoint: { bind: "tcp://127.0.0.1:0" }, publishEndpoint: { bind: "tcp://127.0.0.1:0" }, maxConnections: 1 });
        const sockets = [{ endpoint: registry.endpoint, peer: dealer }, { endpoint: registry.publishEndpoint, peer: subscriber }];
        return { close: () => registry.close(), sockets, refused: () => registry.stats.refusedConnections };
      },
    ];
    for (const open of servers) {
      const server = later(open(), (s) => s.close());
      for (const [i, { endpoint, peer }] of server.sockets.entries()) {
        const admitted = later(peer(endpoint), (p) => p.close());
        await nextEvent(admitted.events, "handshake");
        const refused = later(peer(endpoint), (p) => p.close());
        expect(await nextEvent<{ error: { status: number } }>(refused.events, "handshake:error:auth")).toMatchObject({ error: { status: 500 } });
        await eventually(() => server.refused() === i + 1, 5000, "the refusal counted");
      }
    }
  });

  test("the count of connections comes back to 0 whatever ended them: refusals, garbage, oversized and cut frames", async () => {
    await using server = new connection.Router({ bind: "tcp://127.0.0.1:0" }, { maxConnections: 2, maxMessageSize: 1024 });
    const port = Number(server.endpoint.split(":").pop());
    const raw = (bytes: Buffer[]): Promise<void> =>
      new Promise((resolve) => {
        const socket: Socket = connect({ host: "127.0.0.1", port }, () => {
          for (const chunk of bytes) socket.write(chunk);
        });
        socket.on("error", () => undefined);
        socket.on("close", () => resolve());
        setTimeout(() => socket.destroy(), 500);
      });
    await Promise.all([
      raw([Buffer.from("GET / HTTP/1.0\r\n\r\n")]), // not ZMTP at all
      raw([]), // says nothing
      raw([greeting, longFrameHeader(64 * MiB, 0x06)]), // a READY over maxMessageSize, in the handshake
      raw([greeting, ready, longFrameHeader(64 * MiB)]), // a frame over maxMessageSize, after it
      raw([greeting, ready, longFrameHeader(1000), Buffer.alloc(10)]), // a frame cut short
    ]);
    await eventually(() => server.connections.open === 0, 5000, `no connection open (open: ${server.connections.open})`);
    for (let round = 0; round < 2; round++) {
      // Both places are free: two get in, a third is refused.
      const admitted = [new connection.Dealer({ connect: server.endpoint }), new connection.Dealer({ connect: server.endpoint })];
      await Promise.all(admitted.map((dealer) => nextEvent(dealer.events, "handshake")));
      const refused = new connection.Dealer({ connect: server.endpoint });
      await nextEvent(refused.events, "handshake:error:auth");
      await Promise.all([...admitted, refused].map((dealer) => dealer.close()));
      await eventually(() => server.connections.open === 0, 5000, `no connection open (open: ${server.connections.open})`);
    }
    expect(server.connections.refused).toBeGreaterThanOrEqual(2);
  });

  test("a request over a server's maxMessageSize fails with RESOURCE_EXHAUSTED, saying why; the server goes on", async () => {
    await using server = new RpcServer({ bind: "tcp://127.0.0.1:0" }).add(EchoDefinition, echo("small"));
    const transport = later(directTransport(server.endpoint), (t) => t.close());
    const echoes = new EchoClient(transport);
    const large = await echoes.say({ text: "x".repeat(5 * MiB) }, { timeoutMs: 5000 }).then(
      () => new Error("answered"),
      (error: unknown) => error as Error,
    );
    console.log(`a 5 MiB request to a server with the default maxMessageSize: ${large.message}`);
    expect(large).toMatchObject({ code: "RESOURCE_EXHAUSTED", message: expect.stringMatching(/request of \d+ bytes.*maxMessageSize/) });
    // The caller connects again; small calls go on.
    expect((await echoes.say({ text: "small" }, { timeoutMs: 5000, retries: 3 })).text).toBe("small");
    // A server that takes more answers it.
    await using roomy = new RpcServer({ bind: "tcp://127.0.0.1:0" }, { maxMessageSize: 8 * MiB }).add(EchoDefinition, echo("roomy"));
    const roomyTransport = later(directTransport(roomy.endpoint), (t) => t.close());
    expect((await new EchoClient(roomyTransport).say({ text: "y".repeat(5 * MiB) }, { timeoutMs: 10_000 })).text).toHaveLength(5 * MiB);
  });

  test("a caller that hangs (SIGSTOP) is dropped by the server's heartbeats within 5 + 15 s, freeing its connection", async () => {
    await using server = new RpcServer({ bind: "tcp://127.0.0.1:0" }).add(EchoDefinition, echo("server"));
    // A caller that reads one message of a long stream and stops itself.
    const caller = later(node(fixture("faults-caller.mjs"), server.endpoint, "100000", "1024", "60000", "direct"), (c) => c.kill());
    expect(await caller.next(15_000)).toEqual({ streaming: true });
    expect(server.connections.open).toBe(1);
    const stopped = Date.now();
    await eventually(() => server.connections.open === 0, 30_000, "the hung caller's connection dropped");
    const dropped = Date.now() - stopped;
    console.log(`a caller stopped by SIGSTOP was dropped after ${dropped} ms (heartbeatInterval 5000 + heartbeatTimeout 15000)`);
    expect(dropped).toBeLessThan(5000 + 15_000 + 5000);
    process.kill(caller.pid, "SIGCONT");
    const summary = (await caller.next(20_000)) as { ended: string; gaps: number };
    expect(summary.gaps).toBe(0);
    expect(summary.ended).toBe("UNAVAILABLE");
  }, 60_000);
});
