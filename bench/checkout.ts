/**
 * Checkout and sandbox benchmark: `npx tsx bench/checkout.ts [--commits N] [--files N] [--write]`.
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
 * 3. Prints a markdown section; with --write, replaces "## Workspace (bench/checkout.ts)" in
 *    docs/BENCHMARKS.md (creating the file if absent).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { createWorkspaceManager } from "../src/workspace/checkout.js";
import { dirSize } from "../src/workspace/fs-utils.js";
import { createSandbox } from "../src/workspace/sandbox.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const COMMITS = arg("commits", 20_000);
const FILES = arg("files", 25_000);
const WRITE = process.argv.includes("--write");
// The synthetic repository lives under /tmp (never in the repository). Checkouts and clones are
// written under --work (default: the same directory); see BENCHMARKS.md for why this machine's
// numbers were taken with --work /var/tmp/iquest-bench.
const ROOT = "/tmp/iquest-bench";
const workArg = process.argv.indexOf("--work");
const WORK = workArg >= 0 ? process.argv[workArg + 1]! : ROOT;
const REPO_KEY = `synthetic-${FILES}f-${COMMITS}c`;
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
  for (let c = 1; c < COMMITS; c++) {
    let out = header(`change ${c}`) + (c === 1 ? "" : "");
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const f = Math.floor(rand() * (rand() < 0.8 ? FILES / 10 : FILES)); // hot files change most
      const lines = contents[f]!.split("\n");
      lines[1 + Math.floor(rand() * (lines.length - 2))] = line();
      contents[f] = lines.join("\n");
      out += `M 100644 inline ${paths[f]}\n${data(contents[f]!)}`;
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

async function main() {
  for (const d of [ROOT, WORK]) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o711);
  }
  const [buildMs] = await time(buildRepo);
  const head = git(["rev-parse", "main"], BARE);
  const commits = git(["rev-list", "--max-count=2000", "main"], BARE).split("\n");
  const repoBytes = await dirSize(BARE);
  const gitBaseUrl = `file://${join(ROOT, "remotes")}`;
  const repo = { owner: "bench", name: REPO_KEY, id: 1 };
  console.error(`repository ready (${(buildMs / 1000).toFixed(0)} s): ${(repoBytes / 1024 ** 2).toFixed(0)} MiB packed`);

  // Plain full clone (what a naive bot does for every job).
  const fullMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dest = join(WORK, `full-${i}`);
    rmSync(dest, { recursive: true, force: true });
    const [ms] = await time(() => git(["clone", "-q", "--no-local", `${gitBaseUrl}/bench/${REPO_KEY}.git`, dest]));
    fullMs.push(ms);
    rmSync(dest, { recursive: true, force: true });
  }

  // Cold: a fresh WORKSPACE_DIR each time.
  const coldMs: number[] = [];
  let mirrorBytes = 0;
  for (let i = 0; i < 3; i++) {
    const root = join(WORK, `ws-cold-${i}`);
    rmSync(root, { recursive: true, force: true });
    const manager = createWorkspaceManager({ root, gitBaseUrl });
    const [ms, job] = await time(() => manager.checkout({ repo, commit: commits[100]!, jobId: `cold-${i}`, token: "ghs_bench" }));
    coldMs.push(ms);
    mirrorBytes = await dirSize(job.mirrorDir);
    await job.remove();
    rmSync(root, { recursive: true, force: true });
  }

  // Warm: the mirror exists; each run checks out a commit not checked out before.
  const root = join(WORK, "ws-warm");
  rmSync(root, { recursive: true, force: true });
  const manager = createWorkspaceManager({ root, gitBaseUrl });
  const first = await manager.checkout({ repo, commit: head, jobId: "warmup", token: "ghs_bench" });
  await first.remove();
  const warmMs: number[] = [];
  const removeMs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const [ms, job] = await time(() => manager.checkout({ repo, commit: commits[(i + 1) * 150]!, jobId: `warm-${i}`, token: "ghs_bench" }));
    warmMs.push(ms);
    const [rm] = await time(() => job.remove());
    removeMs.push(rm);
  }

  // Sandbox overhead per command.
  const job = await manager.checkout({ repo, commit: head, jobId: "sandbox", token: "ghs_bench" });
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
  const gitStatusSandbox: number[] = [];
  const gitStatusBare: number[] = [];
  for (let i = 0; i < 5; i++) {
    gitStatusSandbox.push((await time(() => sandbox.exec("git status --porcelain", { timeoutMs: 60_000 })))[0]);
    gitStatusBare.push((await time(() => spawnSync("git", ["-c", `safe.directory=${job.worktree}`, "status", "--porcelain"], { cwd: job.worktree, env: GIT_ENV })))[0]);
  }
  await sandbox.close();
  await job.remove();
  rmSync(root, { recursive: true, force: true });

  const f = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
  const cpu = cpus();
  const fullBytes = repoBytes;
  const section = `## Workspace (bench/checkout.ts)

Command: \`npx tsx bench/checkout.ts --commits ${COMMITS} --files ${FILES}${WRITE ? " --write" : ""}\`
Machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}, git ${git(["--version"]).replace("git version ", "")}, bubblewrap ${execFileSync("bwrap", ["--version"], { encoding: "utf8" }).trim().replace("bubblewrap ", "")}; run as ${process.getuid?.() === 0 ? "root (sandbox uid pool and chown included)" : "a normal user"}.
Date: ${new Date().toISOString().slice(0, 10)}

Repository: synthetic, made by \`git fast-import\` (${FILES.toLocaleString("en")} files of generated source text in 1,000 directories, ${COMMITS.toLocaleString("en")} commits of 1–4 file edits each), ${(fullBytes / 1024 ** 2).toFixed(0)} MiB packed, served over \`file://\` with \`uploadpack.allowFilter\` (git's own transport, no network latency: a real remote makes the full clone slower still, while the warm checkout mostly stays local).

| measure (median) | runs | time |
| --- | --- | --- |
| plain full clone (\`git clone --no-local\`) | ${fullMs.length} | ${f(median(fullMs))} |
| cold checkout: blob-less mirror + job repository | ${coldMs.length} | ${f(median(coldMs))} |
| warm checkout of another commit | ${warmMs.length} | ${f(median(warmMs))} |
| removing a job's checkout | ${removeMs.length} | ${f(median(removeMs))} |
| \`true\` in the bwrap sandbox | ${sandboxMs.length} | ${f(median(sandboxMs))} |
| \`bash -c true\` bare | ${bareMs.length} | ${f(median(bareMs))} |
| \`git status\` in the sandbox / bare (${FILES.toLocaleString("en")} files) | ${gitStatusSandbox.length} | ${f(median(gitStatusSandbox))} / ${f(median(gitStatusBare))} |

- Warm checkout vs full clone: **${(median(fullMs) / median(warmMs)).toFixed(1)}× faster** (target ≥ 10×).
- Cold checkout vs full clone: ${(median(fullMs) / median(coldMs)).toFixed(1)}× faster; the mirror takes ${(mirrorBytes / 1024 ** 2).toFixed(0)} MiB (blobs of the checked-out commit only) against ${(fullBytes / 1024 ** 2).toFixed(0)} MiB for a full clone's pack.
- Sandbox start overhead: **${(median(sandboxMs) - median(bareMs)).toFixed(1)} ms per command** (target < 30 ms): setpriv, prlimit and bwrap exec, namespace and mount setup.
- A checkout is: lock, fetch if the commit is missing, \`read-tree -u\` from the mirror (one batched fetch of missing blobs), \`pack-objects | index-pack\` of the one commit into a fresh repository, \`chown -R\` to the sandbox uid. The warm figure is dominated by writing the files and copying one commit's objects, so it scales with the size of the tree, not of the history.
`;
  console.log(section);
  if (WRITE) {
    const path = "docs/BENCHMARKS.md";
    const existing = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n\nMeasured results; each section names its script, command, machine and date.\n";
    const start = existing.indexOf("## Workspace (bench/checkout.ts)");
    let next = start >= 0 ? existing.indexOf("\n## ", start + 3) : -1;
    if (next < 0) next = existing.length;
    const updated = start >= 0 ? existing.slice(0, start) + section + existing.slice(next).replace(/^\n?/, "\n") : `${existing.trimEnd()}\n\n${section}`;
    writeFileSync(path, updated.replace(/\n{3,}/g, "\n\n").trimEnd() + "\n");
    console.error(`wrote ${path}`);
  }
}

await main();
