import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connection } from "@dividere/runtime";
import { etcd } from "./prerequisites.js";

/** One member of a test cluster. */
interface Member {
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  process: ChildProcess | undefined;
  exited: Promise<void>;
}

/** Every member started by this test process, so that none outlives it (etcd has no parent-death option). */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * A 3-member etcd cluster on loopback, on free ports, each member with its data under one
 * temporary directory: started by a test (`beforeAll`), its members killed, hung and restarted
 * by it, and stopped at the end. Members run with etcd's defaults (heartbeat 100 ms, election
 * 1000 ms), as users run them.
 */
export class EtcdCluster {
  readonly members: Member[] = [];
  readonly #dir = mkdtempSync(join(tmpdir(), "dividere-etcd-"));
  readonly #token = `dividere-test-${process.pid}-${Date.now()}`;

  /** Starts `size` members and resolves once every one is healthy (it sees a leader and a quorum read works). */
  static async start(size = 3): Promise<EtcdCluster> {
    const cluster = new EtcdCluster();
    for (let i = 0; i < size; i++) {
      const [peer, client] = [await connection.PortManager.acquire({ host: "127.0.0.1" }), await connection.PortManager.acquire({ host: "127.0.0.1" })];
      const name = `m${i}`;
      cluster.members.push({
        name,
        peerUrl: `http://127.0.0.1:${peer}`,
        clientUrl: `http://127.0.0.1:${client}`,
        dataDir: join(cluster.#dir, name),
        logFile: join(cluster.#dir, `${name}.log`),
        process: undefined,
        exited: Promise.resolve(),
      });
    }
    for (const member of cluster.members) cluster.#spawn(member);
    await cluster.healthy();
    return cluster;
  }

  /** The store option of a registry over this cluster: `etcd://127.0.0.1:P1,127.0.0.1:P2,...`, under `root` if given. */
  store(root?: string): string {
    return `etcd://${this.members.map((member) => member.clientUrl.replace("http://", "")).join(",")}${root ?? ""}`;
  }

  /** Waits until each of `members` (default all) answers healthy, within `timeoutMs`. */
  async healthy(members: readonly Member[] = this.members, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(members.map((member) => isHealthy(member.clientUrl)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) {
        const report = members.map((member, i) => `${member.name} ${states[i] ? "healthy" : "not healthy"}: ${tail(member.logFile)}`).join("\n");
        throw new Error(`etcd did not become healthy within ${timeoutMs} ms:\n${report}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The member that leads now. */
  async leader(): Promise<Member> {
    const statuses = await Promise.all(this.members.map((member) => gateway(member.clientUrl, "/v3/maintenance/status").catch(() => undefined)));
    const leaderId = statuses.find((status) => status !== undefined)?.leader;
    const index = statuses.findIndex((status) => status !== undefined && status.header.member_id === leaderId);
    if (index < 0) throw new Error("no etcd member knows a leader");
    return this.members[index]!;
  }

  /** Sends `signal` to a member and, for SIGKILL, waits for it to exit. */
  async signal(member: Member, signal: NodeJS.Signals): Promise<void> {
    member.process?.kill(signal);
    if (signal === "SIGKILL") await member.exited;
  }

  /** Starts a member again on its data, and waits until it is healthy. */
  async restart(member: Member): Promise<void> {
    this.#spawn(member);
    await this.healthy([member]);
  }

  /** Stops every member (SIGKILL: their data is thrown away, and the last member of a cluster without quorum takes 7 s to obey SIGTERM). */
  async stop(): Promise<void> {
    for (const member of this.members) member.process?.kill("SIGKILL");
    await Promise.all(this.members.map((member) => member.exited));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #spawn(member: Member): void {
    const log = openSync(member.logFile, "a");
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    const child = spawn(
      etcd.program ?? "etcd",
      [
        `--name=${member.name}`,
        `--data-dir=${member.dataDir}`,
        `--listen-peer-urls=${member.peerUrl}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
        `--listen-client-urls=${member.clientUrl}`,
        `--advertise-client-urls=${member.clientUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${this.#token}`,
        "--initial-cluster-state=new",
        "--logger=zap",
        "--log-outputs=stderr",
        "--log-level=warn",
      ],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    running.add(child);
    member.process = child;
    member.exited = new Promise((resolve) => child.once("exit", () => (running.delete(child), resolve())));
  }
}

async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(500) });
    return ((await response.json()) as { health?: string }).health === "true";
  } catch {
    return false;
  }
}

/** A POST to a member's v3 JSON gateway. */
async function gateway(clientUrl: string, path: string): Promise<{ header: { member_id: string }; leader: string }> {
  const response = await fetch(`${clientUrl}${path}`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return (await response.json()) as { header: { member_id: string }; leader: string };
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-5).join("\n");
  } catch {
    return "(no log)";
  }
}
