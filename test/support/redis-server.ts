import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitForPing } from "../../src/queue/connection.js";

/**
 * A real redis-server for one test file, on a spare port, so tests are isolated from the
 * machine's own Redis and can kill or restart theirs in fault tests.
 */
export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** Stop (SIGTERM) or kill (SIGKILL) the server; data in `dir` stays for a restart. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port and dir (AOF is replayed if enabled). */
  restart(): Promise<void>;
  /** Stop and delete the data dir. */
  destroy(): Promise<void>;
}

export interface TestRedisOptions {
  maxmemoryPolicy?: string;
  appendonly?: boolean;
  /** `always` (default: the durability tests kill Redis right after a write) or `everysec` (as deploy/ runs it). */
  appendfsync?: "always" | "everysec";
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "iquest-redis-"));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(
      process.env.REDIS_SERVER_BIN ?? "redis-server",
      [
        "--port", String(port),
        "--bind", "127.0.0.1",
        "--dir", dir,
        "--save", "",
        "--appendonly", options.appendonly ? "yes" : "no",
        "--appendfsync", options.appendfsync ?? "always",
        "--maxmemory-policy", options.maxmemoryPolicy ?? "noeviction",
      ],
      { stdio: "ignore" },
    );
    const c = child;
    if (await waitForPing(port, { alive: () => c.exitCode === null })) return;
    throw new Error("test redis-server did not start");
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
  };

  await launch();
  return {
    url,
    port,
    dir,
    stop,
    restart: launch,
    async destroy() {
      await stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
