import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitForPing } from "../../src/queue/connection.js";
import { freePort } from "./redis-server.js";

const sh = promisify(execFile);

/**
 * A real Redis Cluster for one test file: three masters and one replica each (six
 * `redis-server --cluster-enabled yes` on spare ports, joined by `redis-cli --cluster create`),
 * with a short node timeout so that a killed master's replica is promoted within seconds.
 */
export interface TestRedisCluster {
  /** `127.0.0.1:p1,127.0.0.1:p2,...` for REDIS_CLUSTER_NODES (the masters, as seeds). */
  seeds: string;
  ports: number[];
  /** The port of the master that serves `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** Kill one node's process (SIGKILL by default). */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Wait until the cluster says ok and `key`'s slot is served by a master other than `not`. */
  waitForFailover(key: string, not: number, timeoutMs?: number): Promise<number>;
  destroy(): Promise<void>;
}

export async function startTestRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "iquest-redis-cluster-"));
  const ports: number[] = [];
  while (ports.length < 6) {
    const p = await freePort();
    if (!ports.includes(p) && p < 55_000) ports.push(p); // the cluster bus listens on port + 10000
  }
  const children = new Map<number, ChildProcess>();
  for (const port of ports) {
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir);
    const child = spawn(
      process.env.REDIS_SERVER_BIN ?? "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", nodeDir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "1500", "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction"],
      { stdio: "ignore" },
    );
    children.set(port, child);
    if (!(await waitForPing(port, { alive: () => child.exitCode === null }))) throw new Error(`redis-server on ${port} did not start`);
  }
  await sh("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"]);
  const cli = async (port: number, ...args: string[]) => (await sh("redis-cli", ["-p", String(port), ...args])).stdout.trim();
  const alive = () => ports.filter((p) => children.get(p)?.exitCode === null && children.get(p)?.signalCode === null);

  const masterOf = async (key: string) => {
    const port = alive()[0]!;
    const slot = Number(await cli(port, "CLUSTER", "KEYSLOT", key));
    for (const line of (await cli(port, "CLUSTER", "NODES")).split("\n")) {
      const parts = line.split(" ");
      if (!parts[2]?.includes("master") || parts[2].includes("fail")) continue;
      for (const range of parts.slice(8)) {
        const [a, b] = range.split("-").map(Number);
        if (slot >= a! && slot <= (b ?? a)!) return Number(parts[1]!.split(":")[1]!.split("@")[0]);
      }
    }
    throw new Error(`no master serves slot ${slot}`);
  };
  const clusterOk = async () => {
    for (const port of alive()) {
      if (!/cluster_state:ok/.test(await cli(port, "CLUSTER", "INFO").catch(() => ""))) return false;
    }
    return true;
  };
  const until = Date.now() + 20_000;
  while (!(await clusterOk())) {
    if (Date.now() > until) throw new Error("the test Redis Cluster did not become ok");
    await new Promise((r) => setTimeout(r, 200));
  }
  // Every replica attached (a failover needs one in sync).
  while (Date.now() < until) {
    const nodes = await cli(ports[0]!, "CLUSTER", "NODES");
    if (nodes.split("\n").filter((l) => l.includes("slave") && l.includes("connected")).length === 3) break;
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(","),
    ports,
    masterOf,
    async kill(port, signal = "SIGKILL") {
      const c = children.get(port);
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill(signal);
      await exited;
    },
    async waitForFailover(key, not, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        const master = await masterOf(key).catch(() => not);
        if (master !== not && (await clusterOk())) return master;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`no replica was promoted for ${key} within ${timeoutMs} ms`);
    },
    async destroy() {
      await Promise.all(
        [...children.values()].map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise((r) => c.once("exit", r));
          c.kill("SIGKILL");
          await exited;
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
