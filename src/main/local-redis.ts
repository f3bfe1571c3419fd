import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { waitForPing } from "../queue/connection.js";
import { StartupError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";

/**
 * `npm start` without REDIS_URL: a private redis-server child, data under .data/redis with AOF
 * on (so queued jobs survive a restart) and noeviction (so none is dropped). A leftover server
 * from a crashed run is stopped first: two servers on one AOF file would corrupt it.
 */
export interface LocalRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startLocalRedis(dataDir: string, log: Logger): Promise<LocalRedis> {
  const which = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const binary = which.stdout.trim();
  if (which.status !== 0 || !binary) {
    throw new StartupError(
      "No REDIS_URL is set and no redis-server binary was found. Install one " +
        "(Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), or set REDIS_URL " +
        "to a Redis 6.2+ with maxmemory-policy noeviction.",
    );
  }
  const dir = resolve(dataDir, "redis");
  mkdirSync(dir, { recursive: true });
  const pidFile = resolve(dir, "redis.pid");
  stopStale(pidFile, log);

  const port = await freePort();
  const child = spawn(
    binary,
    [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--dir", dir,
      "--pidfile", pidFile,
      "--appendonly", "yes",
      "--appendfsync", "everysec",
      "--save", "",
      "--maxmemory-policy", "noeviction",
      "--daemonize", "no",
      "--logfile", resolve(dir, "redis.log"),
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const url = `redis://127.0.0.1:${port}`;
  if (!(await waitForPing(port, { alive: () => child.exitCode === null }))) {
    child.kill("SIGKILL");
    throw new StartupError(`redis-server did not start (exit code ${child.exitCode}); see ${resolve(dir, "redis.log")}`);
  }
  writeFileSync(resolve(dir, "redis.url"), url);
  log.info({ url, dir }, "started local redis-server (AOF on)");
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(resolve(dir, "redis.url"), { force: true });
    },
  };
}

function stopStale(pidFile: string, log: Logger): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!cmdline.includes("redis-server")) return;
    process.kill(pid, "SIGTERM");
    log.warn({ pid }, "stopped a leftover local redis-server from an earlier run");
    const until = Date.now() + 5000;
    while (Date.now() < until && existsSync(`/proc/${pid}`)) spawnSync("sleep", ["0.1"]);
  } catch {
    // Not running any more.
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}
