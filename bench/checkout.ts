/**
 * Checkout and sandbox benchmark: `npx tsx bench/checkout.ts [--commits N] [--files N] [--work DIR]`.
 *
 * 1. Makes (once, cached under /tmp/iquest-bench) a synthetic repository of the size of a big
 *    project with `git fast-import`: N files of generated source-like text in nested directories,
 *    and N commits that each edit a few files. Served over file:// with partial clone enabled,
 *    as GitHub serves it. Never committed here.
 * 2. Measures, medians of several runs:
 *    - a plain full clone (`git clone --no-local`), which is what a naive bot does per job;
 *    - a cold checkout (new WORKSPACE_DIR: blob-less partial mirror + the job's standalone repo);
 *    - a warm checkout of another commit (mirror present);
 *    - sandbox start overhead: `true` under the bwrap sandbox vs the same `bash -c true` bare.
 * 3. Prints the markdown table for "## Workspace (bench/checkout.ts)" in docs/BENCHMARKS.md
 *    (the analysis there is written by hand).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { createWorkspaceManager } from "../src/workspace/checkout.js";
import { dirSize } from "../src/workspace/fs-utils.js";
import { createSandbox } from "../src/workspace/sandbox.js";
import { startGitHttpServer } from "../test/support/workspace-git-http.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const COMMITS = arg("commits", 20_000);
const FILES = arg("files", 25_000);
// The synthetic repository lives under /tmp (never in the repository). Checkouts and clones are
// written under --work (default: the same directory); see BENCHMARKS.md for why this machine's
// numbers were taken with --work /var/tmp/iquest-bench.
const ROOT = "/tmp/iquest-bench";
const workArg = process.argv.indexOf("--work");
const WORK = workArg >= 0 ? process.argv[workArg + 1]! : ROOT;
const REPO_KEY = `synthetic-v2-${FILES}f-${COMMITS}c`;
const BARE = join(ROOT, "remotes", "bench", `${REPO_KEY}.git`);
const GIT_ENV = { PATH: "/usr/bin:/bin", HOME: ROOT, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", LC_ALL: "C" };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const time = async <T>(fn: () => Promise<T> | T): Promise<[number, T]> => {
  const t = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t) / 1e6, r];
};
const git = (args: string[], cwd?: string) => execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8", maxBuffer: 1 << 30 }).trim();

/** Deterministic pseudo-random numbers (mulberry32), so every run builds the same repository. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = "const let return function import export from if else for while await async value result error config item list map set index count data node path file user repo commit branch test".split(" ");

async function buildRepo(): Promise<void> {
  if (existsSync(join(BARE, "iquest-bench-complete"))) return;
  rmSync(BARE, { recursive: true, force: true });
  mkdirSync(BARE, { recursive: true });
  git(["init", "-q", "--bare", "-b", "main", BARE]);
  const rand = rng(42);
  const line = () => {
    const n = 3 + Math.floor(rand() * 8);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(rand() * WORDS.length)]!);
    return `  ${words.join(" ")};`;
  };
  const paths: string[] = [];
  const contents: string[] = [];
  for (let i = 0; i < FILES; i++) {
    paths.push(`src/pkg${i % 50}/mod${Math.floor(i / 50) % 20}/file${i}.ts`);
    const lines: string[] = [`// file ${i}`];
    const count = 20 + Math.floor(rand() * 60);
    for (let l = 0; l < count; l++) lines.push(line());
    contents.push(lines.join("\n") + "\n");
  }
  console.error(`building ${FILES} files × ${COMMITS} commits with git fast-import …`);
  const fi = spawn("git", ["fast-import", "--quiet", "--done"], { cwd: BARE, env: GIT_ENV, stdio: ["pipe", "inherit", "inherit"] });
  const write = (s: string) => (fi.stdin.write(s) ? Promise.resolve() : new Promise<void>((r) => fi.stdin.once("drain", () => r())));
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  let when = 1_600_000_000;
  const header = (msg: string) => {
    when += 600;
    return `commit refs/heads/main\ncommitter Bench <bench@example.com> ${when} +0000\n${data(msg)}`;
  };
  let chunk = header("initial import") + "deleteall\n";
  for (let i = 0; i < FILES; i++) {
    chunk += `M 100644 inline ${paths[i]}\n${data(contents[i]!)}`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = "";
    }
  }
  await write(chunk + "\n");
  // Commits shaped like ordinary development: 1–6 files, each a hunk of 3–30 lines replaced or
  // inserted; now and then a new file or a deleted one. Most edits hit a "hot" tenth of the files.
  const live = new Set(paths.map((_, i) => i));
  for (let c = 1; c < COMMITS; c++) {
    let out = header(`change ${c}`);
    const edits = 1 + Math.floor(rand() * 6);
    for (let e = 0; e < edits; e++) {
      let f = Math.floor(rand() * (rand() < 0.8 ? FILES / 10 : FILES));
      if (!live.has(f)) f = 0;
      const lines = contents[f]!.split("\n");
      const at = 1 + Math.floor(rand() * Math.max(1, lines.length - 2));
      const hunk: string[] = [];
      for (let h = 3 + Math.floor(rand() * 28); h > 0; h--) hunk.push(line());
      lines.splice(at, rand() < 0.5 ? hunk.length : 0, ...hunk);
      contents[f] = lines.join("\n");
      out += `M 100644 inline ${paths[f]}\n${data(contents[f]!)}`;
    }
    if (rand() < 0.08) {
      const i = paths.length;
      paths.push(`src/pkg${i % 50}/mod${Math.floor(i / 50) % 20}/added${i}.ts`);
      const body = [`// added in ${c}`];
      for (let l = 20 + Math.floor(rand() * 60); l > 0; l--) body.push(line());
      contents.push(body.join("\n") + "\n");
      live.add(i);
      out += `M 100644 inline ${paths[i]}\n${data(contents[i]!)}`;
    }
    if (rand() < 0.02) {
      const victim = FILES / 10 + Math.floor(rand() * (FILES * 0.9));
      if (live.delete(victim)) out += `D ${paths[victim]}\n`;
    }
    await write(out + "\n");
  }
  await write("done\n");
  fi.stdin.end();
  await new Promise<void>((resolve, reject) => fi.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`fast-import exit ${code}`)))));
  console.error("repacking …");
  git(["repack", "-a", "-d", "-q", "--window=10", "--depth=50"], BARE);
  git(["config", "uploadpack.allowFilter", "true"], BARE);
  git(["config", "uploadpack.allowAnySHA1InWant", "true"], BARE);
  writeFileSync(join(BARE, "iquest-bench-complete"), new Date().toISOString());
}

async function runAsync(cmd: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { env: GIT_ENV, stdio: ["ignore", "ignore", "inherit"] });
    child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args[0]} exit ${code}`))));
  });
}

interface Transport {
  full: number[];
  cold: number[];
  warm: number[];
  remove: number[];
  /** Warm checkouts from the worktree pool (a parked directory moved to the commit). */
  pooled: number[];
  /** A pooled job's end: its directory parked (the private index refreshed). */
  park: number[];
  mirrorBytes: number;
}

/** Full clone, cold checkout and warm checkout against one remote base URL. */
async function measureTransport(o: { gitBaseUrl: string; head: string; commits: string[]; token: string; label: string }): Promise<Transport> {
  const repo = { owner: "bench", name: REPO_KEY, id: 1 };
  const url = `${o.gitBaseUrl}/bench/${REPO_KEY}.git`;
  const auth = o.gitBaseUrl.startsWith("http")
    ? ["-c", `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${o.token}`).toString("base64")}`]
    : [];
  // Plain full clone: what a bot without a cache does for every job.
  const full: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dest = join(WORK, `full-${o.label}-${i}`);
    rmSync(dest, { recursive: true, force: true });
    full.push((await time(() => runAsync("git", [...auth, "clone", "-q", "--no-local", url, dest])))[0]);
    rmSync(dest, { recursive: true, force: true });
  }
  // Cold: a fresh WORKSPACE_DIR each time (partial mirror + the job's repository).
  const cold: number[] = [];
  let mirrorBytes = 0;
  for (let i = 0; i < 3; i++) {
    const root = join(WORK, `ws-cold-${o.label}-${i}`);
    rmSync(root, { recursive: true, force: true });
    const manager = createWorkspaceManager({ root, gitBaseUrl: o.gitBaseUrl });
    const [ms, job] = await time(() => manager.checkout({ repo, commit: o.commits[100]!, jobId: `cold-${i}`, token: o.token }));
    cold.push(ms);
    mirrorBytes = await dirSize(job.mirrorDir);
    await job.remove();
    rmSync(root, { recursive: true, force: true });
  }
  // Warm: the mirror exists; each run checks out a commit not checked out before.
  const root = join(WORK, `ws-warm-${o.label}`);
  rmSync(root, { recursive: true, force: true });
  const manager = createWorkspaceManager({ root, gitBaseUrl: o.gitBaseUrl });
  await (await manager.checkout({ repo, commit: o.head, jobId: "warmup", token: o.token })).remove();
  const warm: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < 7; i++) {
    const [ms, job] = await time(() => manager.checkout({ repo, commit: o.commits[(i + 1) * 120]!, jobId: `warm-${i}`, token: o.token }));
    warm.push(ms);
    remove.push((await time(() => job.remove()))[0]);
  }
  rmSync(root, { recursive: true, force: true });
  // Pooled: as a worker runs by default (WORKTREE_POOL_SIZE=2): the last job's directory is parked
  // and moved to the next commit. The first checkout (new directory) is not counted.
  const poolRoot = join(WORK, `ws-pool-${o.label}`);
  rmSync(poolRoot, { recursive: true, force: true });
  const pooledManager = createWorkspaceManager({ root: poolRoot, gitBaseUrl: o.gitBaseUrl, pool: { perRepo: 2, total: 16 } });
  await (await pooledManager.checkout({ repo, commit: o.head, jobId: "pool-warmup", token: o.token })).remove();
  const pooled: number[] = [];
  const park: number[] = [];
  for (let i = 0; i < 7; i++) {
    const [ms, job] = await time(() => pooledManager.checkout({ repo, commit: o.commits[(i + 1) * 120 + 7]!, jobId: `pooled-${i}`, token: o.token }));
    pooled.push(ms);
    // A job runs for seconds to minutes between its checkout and its end; without this pause the
    // files, the index and the park all fall in one second, and git's racy-timestamp rule (mtime
    // not before the index's own) would make the next reuse hash every file again, which no real
    // job's directory meets. Not timed.
    await new Promise((r) => setTimeout(r, 1100));
    park.push((await time(() => job.remove()))[0]);
  }
  await pooledManager.drainPool();
  rmSync(poolRoot, { recursive: true, force: true });
  console.error(`${o.label}: full ${median(full).toFixed(0)} ms, cold ${median(cold).toFixed(0)} ms, warm ${median(warm).toFixed(0)} ms, pooled ${median(pooled).toFixed(0)} ms`);
  return { full, cold, warm, remove, pooled, park, mirrorBytes };
}

async function main() {
  for (const d of [ROOT, WORK]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o711);
  }
  const [buildMs] = await time(buildRepo);
  const head = git(["rev-parse", "main"], BARE);
  const commits = git(["rev-list", "--max-count=2000", "main"], BARE).split("\n");
  const repoBytes = await dirSize(BARE);
  console.error(`repository ready (${(buildMs / 1000).toFixed(0)} s): ${(repoBytes / 1024 ** 2).toFixed(0)} MiB packed`);

  const gitBaseUrl = `file://${join(ROOT, "remotes")}`;
  const file = await measureTransport({ gitBaseUrl, head, commits, token: "ghs_bench", label: "file" });
  // The same over git's smart HTTP (git http-backend behind a local server that checks the
  // token like GitHub does), as the app talks to GitHub or GHE.
  const token = "ghs_bench_http_token";
  const server = await startGitHttpServer(join(ROOT, "remotes"), token);
  let http: Transport;
  try {
    http = await measureTransport({ gitBaseUrl: server.baseUrl, head, commits: commits.slice(1000), token, label: "http" });
  } finally {
    await server.close();
  }

  // Sandbox start overhead per command.
  const root = join(WORK, "ws-sandbox");
  rmSync(root, { recursive: true, force: true });
  const manager = createWorkspaceManager({ root, gitBaseUrl });
  const job = await manager.checkout({ repo: { owner: "bench", name: REPO_KEY, id: 1 }, commit: head, jobId: "sandbox", token: "ghs_bench" });
  const sandbox = await createSandbox({ mode: "bwrap", worktree: job.worktree, home: job.home, uid: job.uid, gid: job.gid });
  const sandboxMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < 40; i++) {
    const [s, r] = await time(() => sandbox.exec("true", { timeoutMs: 10_000 }));
    if (r.exitCode !== 0) throw new Error(`sandbox: ${r.output}`);
    sandboxMs.push(s);
    const [b] = await time(
      () => new Promise<void>((resolve) => spawn("/bin/bash", ["-c", "true"], { cwd: job.worktree, stdio: "ignore" }).once("close", () => resolve())),
    );
    bareMs.push(b);
  }
  const statusSandbox: number[] = [];
  const statusBare: number[] = [];
  for (let i = 0; i < 5; i++) {
    statusSandbox.push((await time(() => sandbox.exec("git status --porcelain", { timeoutMs: 60_000 })))[0]);
    statusBare.push((await time(() => spawnSync("git", ["-c", `safe.directory=${job.worktree}`, "status", "--porcelain"], { cwd: job.worktree, env: GIT_ENV })))[0]);
  }
  await sandbox.close();
  await job.remove();
  rmSync(root, { recursive: true, force: true });

  const f = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
  const x = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(1);
  const cpu = cpus();
  const mib = (n: number) => (n / 1024 ** 2).toFixed(0);
  const bwrapVersion = execFileSync("bwrap", ["--version"], { encoding: "utf8" }).trim().replace("bubblewrap ", "");
  const section = `## Workspace (bench/checkout.ts)

Command: \`npx tsx bench/checkout.ts --commits ${COMMITS} --files ${FILES}${WORK !== ROOT ? ` --work ${WORK}` : ""}\`
Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}, git ${git(["--version"]).replace("git version ", "")}, bubblewrap ${bwrapVersion}; run as ${process.getuid?.() === 0 ? "root (so the sandbox uid pool, setpriv and chown are included)" : "a normal user"}; checkouts and clones written under \`${WORK}\`.
Date: ${new Date().toISOString().slice(0, 10)}

Repository: synthetic, made by \`git fast-import\` under /tmp (${FILES.toLocaleString("en")} files of generated source text in 1,000 directories, ${COMMITS.toLocaleString("en")} commits, each replacing or inserting 3–30-line hunks in 1–6 files, sometimes adding or deleting a file), ${mib(repoBytes)} MiB packed. Served over \`file://\`, and over smart HTTP on localhost (\`git http-backend\` behind a server that checks the token), both with \`uploadpack.allowFilter\`. Neither has network latency or a bandwidth limit: against GitHub a full clone also pays for ${mib(repoBytes)} MiB of transfer, while a warm checkout fetches only new commits and the blobs it lacks.

| checkout (median) | runs | file:// | smart HTTP (local) |
| --- | --- | --- | --- |
| plain full clone (\`git clone --no-local\`) | 3 | ${f(median(file.full))} | ${f(median(http.full))} |
| cold checkout: blob-less mirror + job repository | 3 | ${f(median(file.cold))} | ${f(median(http.cold))} |
| warm checkout of another commit, new directory (pool off) | 7 | ${f(median(file.warm))} | ${f(median(http.warm))} |
| warm checkout of another commit from the worktree pool | 7 | ${f(median(file.pooled))} | ${f(median(http.pooled))} |
| removing a job's checkout (pool off) | 7 | ${f(median(file.remove))} | ${f(median(http.remove))} |
| parking a job's checkout (pool on) | 7 | ${f(median(file.park))} | ${f(median(http.park))} |

| sandbox (median) | runs | time |
| --- | --- | --- |
| \`true\` in the bwrap sandbox | ${sandboxMs.length} | ${f(median(sandboxMs))} |
| \`bash -c true\` bare | ${bareMs.length} | ${f(median(bareMs))} |
| \`git status\` in the sandbox / bare (${FILES.toLocaleString("en")} files) | ${statusSandbox.length} | ${f(median(statusSandbox))} / ${f(median(statusBare))} |

- Warm checkout from the pool vs full clone: **${x(file.full, file.pooled)}× faster over file://, ${x(http.full, http.pooled)}× over HTTP** (target ≥ 10×); without the pool (a new directory): ${x(file.full, file.warm)}× / ${x(http.full, http.warm)}×.
- Cold checkout vs full clone: ${x(file.full, file.cold)}× (file://), ${x(http.full, http.cold)}× (HTTP). The mirror holds all commits and trees but only the blobs of commits checked out: ${mib(file.mirrorBytes)} MiB against ${mib(repoBytes)} MiB for the full pack.
- Sandbox start overhead: **${(median(sandboxMs) - median(bareMs)).toFixed(1)} ms per command** (target < 30 ms): setpriv, prlimit and bwrap exec, namespaces and mounts.
- A checkout is: locks, a fetch if the commit is missing, one batched fetch of the blobs the mirror lacks, then in parallel \`read-tree -u\` (writing the files) and \`pack-objects\` of the one commit into the job's fresh repository, then \`chown -R\` to the sandbox uid. The warm figure is mostly writing the ${FILES.toLocaleString("en")} files, so it grows with the size of the tree, not of the history. From the pool, \`clean -ffdx\` runs while the blobs are fetched, and \`read-tree -u --reset\` writes only the files that differ, then a \`find\` hands just those to the sandbox uid.
`;
  console.log(section);
}

await main();
