/**
 * A 3-member etcd cluster (Debian's etcd-server) on loopback free ports for the registry
 * suite, with its data in a temporary directory thrown away at the end; or why there is none.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connection } from "@dividere/runtime";
import type { Cleanups } from "./processes.js";

const MEMBERS = 3;

/** The `--store` of a registry over the cluster, or why there is no cluster. */
export type Etcd = { store: string } | { failure: string };

export async function startEtcd(cleanups: Cleanups): Promise<Etcd> {
  try {
    execFileSync("etcd", ["--version"], { stdio: "ignore" });
  } catch {
    return { failure: "etcd is not on PATH: apt-get install -y etcd-server" };
  }
  const dir = mkdtempSync(join(tmpdir(), "dividere-bench-etcd-"));
  const port = () => connection.PortManager.acquire({ host: "127.0.0.1" });
  const members: { name: string; peer: string; client: string }[] = [];
  for (let i = 0; i < MEMBERS; i++) members.push({ name: `m${i}`, peer: `http://127.0.0.1:${await port()}`, client: `http://127.0.0.1:${await port()}` });
  const cluster = members.map((member) => `${member.name}=${member.peer}`).join(",");
  const children: ChildProcess[] = members.map((member) =>
    spawn(
      "etcd",
      [
        `--name=${member.name}`,
        `--data-dir=${join(dir, member.name)}`,
        `--listen-peer-urls=${member.peer}`,
        `--initial-advertise-peer-urls=${member.peer}`,
        `--listen-client-urls=${member.client}`,
        `--advertise-client-urls=${member.client}`,
        `--initial-cluster=${cluster}`,
        `--initial-cluster-token=dividere-bench-${process.pid}`,
        "--logger=zap",
        "--log-level=error",
      ],
      { stdio: "ignore" },
    ),
  );
  cleanups.push(async () => {
    // SIGKILL: the data is thrown away, and a member left without quorum takes 7 s to obey SIGTERM.
    await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : (child.once("exit", resolve), child.kill("SIGKILL"))))));
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 15_000;
  while (!(await Promise.all(members.map((member) => healthy(member.client)))).every(Boolean)) {
    if (Date.now() > deadline) return { failure: "etcd's 3 members were not healthy within 15 s" };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { store: `etcd://${members.map((member) => member.client.replace("http://", "")).join(",")}` };
}

async function healthy(client: string): Promise<boolean> {
  try {
    const response = await fetch(`${client}/health`, { signal: AbortSignal.timeout(500) });
    return ((await response.json()) as { health?: string }).health === "true";
  } catch {
    return false;
  }
}
