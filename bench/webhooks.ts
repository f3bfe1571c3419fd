/**
 * bench/webhooks: signed deliveries at concurrency 10 and 50 for 10 s each (autocannon on
 * loopback) against (a) iquest-bot's web process with a real redis-server, persisting every job
 * before answering, and (b) a bare Probot app whose handler does nothing, in the same run.
 *
 *   npm run build && npx tsx bench/webhooks.ts [--seconds 10] [--rounds 3]
 *
 * Three kinds of delivery, each distinct (new delivery id, new issue/PR/comment number, its own
 * HMAC), so every 2xx from iquest-bot is a new job in Redis (the script checks that count):
 * - pull_request.opened → a review job: config (cached per repo), the installation's intake
 *   limit (one Redis script call), enqueue;
 * - issues.labeled → a fix job: config, the sender's permission (cached per repository and user;
 *   the first delivery of each sender asks a loopback fake GitHub), both intake limits, enqueue;
 * - issue_comment.created with `/iquest fix` → a fix job: the same path as a label.
 * Senders rotate over a pool of 50 users, and the intake limits are raised (see `common`) so that
 * every delivery is a job: the limits' Redis call is measured, not their refusals.
 */
import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import { issueComment, issuesLabeled, pullRequest } from "../test/support/payloads.js";
import { freePort, startTestRedis } from "../test/support/redis-server.js";
import { ensureBuilt, machine, median, rssMb, startChild, startFakeGitHub, stopChild } from "./support.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || def : def;
};
const SECONDS = arg("--seconds", 10);
const ROUNDS = arg("--rounds", 3);
const SECRET = "bench-webhook-secret";

interface Row {
  target: string;
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  total2xx: number;
  non2xx: number;
  errors: number;
}

// Issue numbers never repeat across runs, so no delivery is a duplicate of an earlier one.
let issueCounter = 0;

const KINDS = ["pull_request.opened", "issues.labeled", "issue_comment.created"] as const;
type Kind = (typeof KINDS)[number];
const sender = (n: number) => ({ login: `user${n % 50}`, id: 10_000 + (n % 50), type: "User" });

/** A fresh delivery each time: new id, new issue/PR number (so never a duplicate), own HMAC. */
function delivery(kind: Kind): { event: string; body: string } {
  const n = 100_000 + ++issueCounter;
  if (kind === "issues.labeled") {
    const p = issuesLabeled({ issue: n, sender: sender(n) });
    return { event: "issues", body: JSON.stringify(p) };
  }
  if (kind === "issue_comment.created") {
    const p = issueComment("/iquest fix", { issue: n, commentId: n, sender: sender(n) });
    return { event: "issue_comment", body: JSON.stringify(p) };
  }
  const p = pullRequest("opened", { number: n, sha: n.toString(16).padStart(40, "0") });
  return { event: "pull_request", body: JSON.stringify(p) };
}

async function load(url: string, connections: number, target: string, kind: Kind): Promise<Row> {
  const result = await autocannon({
    url,
    connections,
    duration: SECONDS,
    method: "POST",
    requests: [
      {
        setupRequest: (req: autocannon.Request) => {
          const { event, body } = delivery(kind);
          return {
            ...req,
            body,
            headers: {
              "content-type": "application/json",
              "x-github-event": event,
              "x-github-delivery": randomUUID(),
              "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`,
            },
          };
        },
      },
    ],
  });
  return {
    target: `${target}, ${kind}`,
    connections,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    total2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function main() {
  ensureBuilt();
  const privateKey = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey;
  const redis = await startTestRedis();
  const github = await startFakeGitHub();
  const appPort = await freePort();
  const barePort = await freePort();
  const common = { APP_ID: "1", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: SECRET, HOST: "127.0.0.1", LOG_LEVEL: "warn" };
  const healthy = (port: number) => async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  const web = await startChild(
    "node",
    ["dist/src/main/web.js"],
    {
      ...common,
      PORT: String(appPort),
      REDIS_URL: redis.url,
      GHE_HOST: github.host,
      GHE_PROTOCOL: "http",
      QUEUE_PREFIX: "bench",
      // Counted on every delivery, but high enough that none is refused (a run makes about a million jobs).
      INTAKE_SENDER_LIMIT: "1000000/1h",
      INTAKE_INSTALLATION_LIMIT: "9999999/1h",
    },
    healthy(appPort),
  );
  const bare = await startChild("node", ["bench/bare-probot.mjs"], { ...common, PORT: String(barePort) }, healthy(barePort));
  const rssBefore = rssMb(web.pid!);

  // Rounds interleave the two servers, so machine noise hits both alike; rows are medians.
  const samples: Row[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const connections of [10, 50]) {
      for (const kind of KINDS) {
        samples.push(await load(`http://127.0.0.1:${barePort}/api/github/webhooks`, connections, "bare Probot (no-op)", kind));
        samples.push(await load(`http://127.0.0.1:${appPort}/api/github/webhooks`, connections, "iquest-bot web + Redis", kind));
      }
    }
  }
  const rows: Row[] = [];
  for (const s of samples.slice(0, samples.length / ROUNDS)) {
    const same = samples.filter((x) => x.target === s.target && x.connections === s.connections);
    rows.push({
      target: s.target,
      connections: s.connections,
      rps: median(same.map((x) => x.rps)),
      p50: median(same.map((x) => x.p50)),
      p99: median(same.map((x) => x.p99)),
      total2xx: same.reduce((a, x) => a + x.total2xx, 0),
      non2xx: same.reduce((a, x) => a + x.non2xx, 0),
      errors: same.reduce((a, x) => a + x.errors, 0),
    });
  }
  const rssAfter = rssMb(web.pid!);
  const metrics = await (await fetch(`http://127.0.0.1:${appPort}/metrics`)).text();
  const heapUsedMb = Math.round(Number(/^iquest_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? 0) / 1048576);

  const inspect = new Redis(redis.url);
  let jobs = 0;
  for (const q of ["fix", "review"]) jobs += (await inspect.llen(`bench:${q}:wait`)) + (await inspect.zcard(`bench:${q}:prioritized`));
  await inspect.quit();
  const app2xx = samples.filter((r) => r.target.startsWith("iquest")).reduce((a, r) => a + r.total2xx, 0);

  await stopChild(web);
  await stopChild(bare);
  await github.close();
  await redis.destroy();

  const lines = [
    `Date: ${new Date().toISOString().slice(0, 10)} · Machine: ${machine()} · ${SECONDS} s per run, median of ${ROUNDS} interleaved rounds`,
    "",
    "| target | connections | req/s | p50 ms | p99 ms | 2xx | non-2xx | errors |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
    ...rows.map((r) => `| ${r.target} | ${r.connections} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.total2xx} | ${r.non2xx} | ${r.errors} |`),
    "",
    ...[10, 50].flatMap((c) =>
      KINDS.map((kind) => {
        const bareRow = rows.find((r) => r.connections === c && r.target === `bare Probot (no-op), ${kind}`)!;
        const appRow = rows.find((r) => r.connections === c && r.target === `iquest-bot web + Redis, ${kind}`)!;
        const ratio = appRow.rps / bareRow.rps;
        const goal = ratio >= 0.7 && (c !== 50 || appRow.p99 < 25) ? "goal met" : "goal NOT met";
        return `- concurrency ${c}, ${kind}: iquest-bot throughput = ${ratio.toFixed(2)} × the bare app's; p99 ${appRow.p99} ms vs ${bareRow.p99} ms (≥ 0.70×${c === 50 ? ", p99 < 25 ms" : ""}: ${goal})`;
      }),
    ),
    `- jobs in Redis after the run: ${jobs}, for ${app2xx} accepted deliveries (every 2xx persisted a job first)`,
    `- web process RSS: ${rssBefore} MB at start, ${rssAfter} MB after the run (JS heap in use: ${heapUsedMb} MB)`,
    `- GitHub API calls made by the handlers: ${JSON.stringify(Object.fromEntries(github.calls))}`,
  ];
  console.log(lines.join("\n"));
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/webhooks.json", JSON.stringify({ rows, samples, jobs, app2xx, rssBefore, rssAfter, calls: Object.fromEntries(github.calls) }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
