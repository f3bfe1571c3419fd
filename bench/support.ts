import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Shared helpers for bench scripts: child processes, RSS, a minimal fake GitHub, stats. */

export function ensureBuilt(): void {
  if (!existsSync("dist/src/main/web.js")) {
    const r = spawn("npm", ["run", "build"], { stdio: "inherit" });
    throw new Error(`dist/ is missing: run \`npm run build\` first (started it for you, pid ${r.pid})`);
  }
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

export async function startChild(command: string, args: string[], env: Record<string, string>, ready: () => Promise<boolean>): Promise<ChildProcess> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited with ${child.exitCode}`);
    if (await ready().catch(() => false)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`${args.join(" ")} did not become ready`);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null) child.kill("SIGKILL");
}

/**
 * The GitHub calls a webhook handler makes, answered at once: installation token, no repo
 * config (404), and "write" for every permission check. Counts calls by route.
 */
export async function startFakeGitHub(): Promise<{ host: string; calls: Map<string, number>; close(): Promise<void> }> {
  const calls = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "";
    const route = url.includes("/access_tokens")
      ? "token"
      : url.includes("/contents/")
        ? "contents"
        : url.includes("/permission")
          ? "permission"
          : "other";
    calls.set(route, (calls.get(route) ?? 0) + 1);
    req.resume();
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      if (route === "token") {
        res.writeHead(201).end(JSON.stringify({ token: "ghs_bench", expires_at: new Date(Date.now() + 3600_000).toISOString() }));
      } else if (route === "contents") {
        res.writeHead(404).end(JSON.stringify({ message: "Not Found" }));
      } else if (route === "permission") {
        res.writeHead(200).end(JSON.stringify({ permission: "write", role_name: "write" }));
      } else {
        res.writeHead(404).end("{}");
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function machine(): string {
  const cpus = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU";
  const cores = readFileSync("/proc/cpuinfo", "utf8").match(/^processor\s*:/gm)?.length ?? 0;
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return `${cores} cores (${cpus}), ${Math.round(memKb / 1024 / 1024)} GiB, Node ${process.version}`;
}
