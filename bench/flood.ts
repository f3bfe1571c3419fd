/**
 * bench/flood: a forged-signature flood at the built web process, as anyone on the internet can
 * send it: wrk, 10 connections, 15 s, 12 KB JSON bodies whose X-Hub-Signature-256 is wrong.
 * While it runs, a second sender posts VALID signed deliveries (pull_request.opened, 10 a
 * second) and times each answer. Reported: bytes the process logged (stdout + stderr, at the
 * default LOG_LEVEL=info), its RSS (sampled, and the kernel's peak VmHWM), the flood's request
 * rate, and the valid deliveries' statuses and p50/p99. With --bare, the same flood hits a bare
 * Probot app (bench/bare-probot.mjs) in the same run, for comparison.
 *
 *   npm run build && npx tsx bench/flood.ts [--seconds 15] [--connections 10] [--bare]
 *
 * Goal (issue 16): logs < 10 MB, RSS < 300 MB, every valid delivery 2xx with p99 < 100 ms.
 * Needs `wrk` (Debian: apt-get install wrk). Loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { pullRequest } from "../test/support/payloads.js";
import { freePort, startTestRedis } from "../test/support/redis-server.js";
import { ensureBuilt, machine, percentile, rssMb, startFakeGitHub } from "./support.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || def : def;
};
const SECONDS = arg("--seconds", 15);
const CONNECTIONS = arg("--connections", 10);
const VALID_PER_SECOND = arg("--valid-rate", 10);
const BARE = process.argv.includes("--bare");
const SECRET = "bench-flood-secret";

interface Target {
  name: string;
  pid: number;
  logBytes(): number;
  stop(): Promise<void>;
}

/** A child whose stdout and stderr are counted, not kept (bare Probot writes ~1 GB). */
async function startCounted(name: string, args: string[], env: Record<string, string>, port: number): Promise<Target> {
  const child: ChildProcess = spawn("node", args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let bytes = 0;
  let tail = "";
  for (const s of [child.stdout!, child.stderr!]) {
    s.on("data", (b: Buffer) => {
      bytes += b.length;
      tail = (tail + b.toString("utf8")).slice(-2000);
    });
  }
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${tail}`);
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
    if (Date.now() > until) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not become ready: ${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    pid: child.pid!,
    logBytes: () => bytes,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

function hwmMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

/** The wrk script: one 12 KB body, a signature that is well formed but wrong. */
function wrkScript(dir: string): string {
  const filler = "x".repeat(12 * 1024 - 200);
  const body = JSON.stringify({ action: "opened", number: 1, pull_request: { body: filler }, repository: { id: 1 }, installation: { id: 1 } });
  writeFileSync(join(dir, "body.json"), body);
  const lua = `
local f = io.open("${join(dir, "body.json")}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "pull_request"
wrk.headers["X-GitHub-Delivery"] = "00000000-0000-0000-0000-000000000000"
wrk.headers["X-Hub-Signature-256"] = "sha256=${"0".repeat(64)}"
`;
  const path = join(dir, "flood.lua");
  writeFileSync(path, lua);
  return path;
}

interface FloodResult {
  target: string;
  floodRequests: number;
  floodRps: number;
  floodStatuses: string;
  logMb: number;
  rssMaxMb: number;
  hwmMb: number;
  valid: { sent: number; ok: number; non2xx: number; errors: number; p50: number; p99: number };
}

async function flood(target: Target, port: number, script: string, sendValid: boolean): Promise<FloodResult> {
  const url = `http://127.0.0.1:${port}/api/github/webhooks`;
  const logBefore = target.logBytes();
  let rssMax = rssMb(target.pid);
  const sampler = setInterval(() => {
    try {
      rssMax = Math.max(rssMax, rssMb(target.pid));
    } catch {
      /* exited */
    }
  }, 200);
  const wrk = spawn("wrk", ["-t", "2", "-c", String(CONNECTIONS), "-d", `${SECONDS}s`, "--latency", "-s", script, url], { stdio: ["ignore", "pipe", "inherit"] });
  let wrkOut = "";
  wrk.stdout!.on("data", (b: Buffer) => (wrkOut += b.toString()));
  const wrkDone = new Promise<void>((r) => wrk.once("exit", () => r()));

  // Valid deliveries during the flood: fresh ids and PR numbers, so each one is a new job.
  const latencies: number[] = [];
  const valid = { sent: 0, ok: 0, non2xx: 0, errors: 0 };
  const pending: Promise<void>[] = [];
  if (sendValid) {
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 500)); // let the flood reach full speed first
    for (let i = 0; Date.now() - started < (SECONDS - 1) * 1000; i++) {
      const n = 500_000 + i;
      const body = JSON.stringify(pullRequest("opened", { number: n, sha: n.toString(16).padStart(40, "0") }));
      const t0 = performance.now();
      valid.sent++;
      pending.push(
        fetch(url, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "x-github-event": "pull_request",
            "x-github-delivery": randomUUID(),
            "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`,
          },
        }).then(
          async (res) => {
            await res.arrayBuffer();
            latencies.push(performance.now() - t0);
            if (res.ok) valid.ok++;
            else valid.non2xx++;
          },
          () => void valid.errors++,
        ),
      );
      await new Promise((r) => setTimeout(r, 1000 / VALID_PER_SECOND));
    }
  }
  await wrkDone;
  await Promise.all(pending);
  clearInterval(sampler);
  // Give the process its summary interval to write what it counted (the lines are part of the cost).
  await new Promise((r) => setTimeout(r, 1500));

  const requests = Number(/(\d+) requests in/.exec(wrkOut)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(wrkOut)?.[1] ?? 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(wrkOut)?.[1] ?? "0";
  return {
    target: target.name,
    floodRequests: requests,
    floodRps: Math.round(rps),
    floodStatuses: `${non2xx} of ${requests} non-2xx`,
    logMb: Math.round(((target.logBytes() - logBefore) / 1048576) * 100) / 100,
    rssMaxMb: rssMax,
    hwmMb: hwmMb(target.pid),
    valid: { ...valid, p50: Math.round(percentile(latencies, 50) * 10) / 10, p99: Math.round(percentile(latencies, 99) * 10) / 10 },
  };
}

async function main() {
  ensureBuilt();
  if (spawnSync("wrk", ["--version"]).error) throw new Error("wrk is not installed (Debian: apt-get install wrk)");
  const dir = mkdtempSync(join(tmpdir(), "iquest-flood-"));
  const script = wrkScript(dir);
  const privateKey = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey;
  const redis = await startTestRedis();
  const github = await startFakeGitHub();
  const common = { APP_ID: "1", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: SECRET, HOST: "127.0.0.1" };
  const results: FloodResult[] = [];
  let jobs = 0;
  try {
    const appPort = await freePort();
    const web = await startCounted(
      "iquest-bot web + Redis",
      ["dist/src/main/web.js"],
      // LOG_LEVEL info: what production runs. The valid deliveries are automatic reviews, which
      // count against the installation's limit only; it is raised so that all of them are jobs.
      { ...common, LOG_LEVEL: "info", PORT: String(appPort), REDIS_URL: redis.url, GHE_HOST: github.host, GHE_PROTOCOL: "http", QUEUE_PREFIX: "flood", INTAKE_INSTALLATION_LIMIT: "100000/10m", LOG_SUMMARY_INTERVAL_MS: "1000" },
      appPort,
    );
    try {
      results.push(await flood(web, appPort, script, true));
    } finally {
      await web.stop();
    }
    const inspect = new Redis(redis.url);
    jobs = (await inspect.llen("flood:review:wait")) + (await inspect.zcard("flood:review:prioritized"));
    await inspect.quit();
    if (BARE) {
      const barePort = await freePort();
      const bare = await startCounted("bare Probot (no-op)", ["bench/bare-probot.mjs"], { ...common, PORT: String(barePort) }, barePort);
      try {
        results.push(await flood(bare, barePort, script, false));
      } finally {
        await bare.stop();
      }
    }
  } finally {
    await github.close();
    await redis.destroy();
    rmSync(dir, { recursive: true, force: true });
  }

  const lines = [
    `Date: ${new Date().toISOString().slice(0, 10)} · Machine: ${machine()} · wrk -c ${CONNECTIONS} -d ${SECONDS}s, 12 KB bodies, forged signature; valid deliveries at ${VALID_PER_SECOND}/s during the flood`,
    "",
    "| target | flood requests | flood req/s | flood answers | logs MB | RSS max MB (sampled) | RSS peak MB (VmHWM) | valid sent | valid 2xx | valid p50 ms | valid p99 ms |",
    "| --- | --: | --: | --- | --: | --: | --: | --: | --: | --: | --: |",
    ...results.map(
      (r) =>
        `| ${r.target} | ${r.floodRequests} | ${r.floodRps} | ${r.floodStatuses} | ${r.logMb} | ${r.rssMaxMb} | ${r.hwmMb} | ${r.valid.sent || "—"} | ${r.valid.sent ? r.valid.ok : "—"} | ${r.valid.sent ? r.valid.p50 : "—"} | ${r.valid.sent ? r.valid.p99 : "—"} |`,
    ),
    "",
    `- review jobs in Redis after the flood: ${jobs}, for ${results[0]!.valid.ok} valid deliveries answered 2xx`,
  ];
  const app = results[0]!;
  const met = app.logMb < 10 && app.hwmMb < 300 && app.valid.ok === app.valid.sent && app.valid.p99 < 100;
  lines.push(`- goal (logs < 10 MB, RSS < 300 MB, every valid delivery 2xx, p99 < 100 ms): ${met ? "met" : "NOT met"}`);
  console.log(lines.join("\n"));
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/flood.json", JSON.stringify({ results, jobs }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
