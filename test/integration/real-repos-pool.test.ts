import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { createWorkspaceManager, type JobCheckout, type RepoRef, type WorkspaceManager } from "../../src/workspace/checkout.js";
import { createSandbox, type SandboxEnvironment } from "../../src/workspace/sandbox.js";
import { detectTestPlan, readerFor, runBaseline, runSetup } from "../../src/workspace/test-runner.js";
import { npmRegistryRules } from "../support/registry-rules.js";

/**
 * Warm checkouts on a real repository (tj/commander.js from ../shared/real-repos: a package-lock
 * with ~200 packages, engines.node that may need a Node fetched into HOME): the first job makes a
 * new directory, installs through the egress proxy and saves the install; the second job, on the
 * next commit with the same lock file, gets the first one's directory back from the pool, where
 * `clean -ffdx` has removed node_modules and HOME is new, and its dependencies come back from the
 * install cache alone (no setup run, no network), and the project's real suite gives the same
 * counts. What the first job's tests and the agent left behind is gone.
 */
const execFileAsync = promisify(execFile);
const SNAPSHOT = join(process.cwd(), "..", "shared", "real-repos", "tj+commander.js.tar.gz");
const repo: RepoRef = { owner: "tj", name: "commander.js", id: 901 };
let tmp: string;
let manager: WorkspaceManager;
let base: string;
let next: string;
const open: Array<{ job: JobCheckout; sandbox: SandboxEnvironment }> = [];

const git = (cwd: string, ...args: string[]) =>
  execFileAsync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd }).then((r) => r.stdout.trim());

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "iquest-real-pool-"));
  chmodSync(tmp, 0o711);
  const work = join(tmp, "src");
  await execFileAsync("mkdir", ["-p", work]);
  await execFileAsync("tar", ["-xzf", SNAPSHOT, "-C", work]);
  await git(work, "init", "-q", "-b", "main");
  await git(work, "add", "-A");
  await git(work, "commit", "-qm", "snapshot");
  base = await git(work, "rev-parse", "HEAD");
  // The next commit changes source, not the lock file: the install cache's key stays.
  writeFileSync(join(work, "index.js"), `${readFileSync(join(work, "index.js"), "utf8")}\n// a later commit\n`);
  await git(work, "commit", "-qam", "a later commit");
  next = await git(work, "rev-parse", "HEAD");
  const bare = join(tmp, "remotes", repo.owner, `${repo.name}.git`);
  await execFileAsync("git", ["clone", "-q", "--bare", work, bare]);
  await git(bare, "config", "uploadpack.allowFilter", "true");
  manager = createWorkspaceManager({ root: join(tmp, "ws"), gitBaseUrl: `file://${join(tmp, "remotes")}`, pool: { perRepo: 2, total: 16 } });
}, 120_000);

afterAll(async () => {
  for (const { job, sandbox } of open) {
    await sandbox.close().catch(() => {});
    await job.remove().catch(() => {});
  }
  await manager?.drainPool();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function jobAt(commit: string, name: string) {
  const job = await manager.checkout({ repo, commit, jobId: name, token: "ghs_x" });
  const sandbox = await createSandbox({
    mode: "bwrap",
    worktree: job.worktree,
    home: job.home,
    uid: job.uid,
    gid: job.gid,
    allowNetwork: true,
    egress: { rules: await npmRegistryRules() },
  });
  const entry = { job, sandbox };
  open.push(entry);
  const done = async () => {
    await sandbox.close();
    open.splice(open.indexOf(entry), 1);
    await job.remove();
  };
  return { job, sandbox, done };
}

const cacheOf = (job: JobCheckout) => ({ dir: manager.installCacheDirOf(repo), worktree: job.worktree, home: job.home, owner: job.uid === null ? null : { uid: job.uid, gid: job.gid! } });

describe("warm checkouts on a real repository", () => {
  test("commander.js: the second job reuses the first one's directory, its dependencies come from the install cache, and its suite gives the same counts", async () => {
    const first = await jobAt(base, "real-pool-1");
    const plan = (await detectTestPlan(readerFor(first.sandbox)))!;
    expect(plan).toMatchObject({ ecosystem: "node", test: "npm test", lockFiles: ["package-lock.json", "package.json"] });
    const s1 = await runSetup(first.sandbox, plan, { timeoutMs: 600_000, network: true, cache: cacheOf(first.job) });
    if (!s1.ok) throw new Error(`setup failed (${s1.exitCode}):\n${s1.output.slice(-3000)}`);
    expect(s1).toMatchObject({ ran: true, ok: true, cache: "miss" });
    const b1 = await runBaseline(first.sandbox, plan, { timeoutMs: 600_000 });
    expect(b1.run.parsed).toMatchObject({ runners: ["tap"], passed: 1372, failed: 0 });
    expect(b1.run.exitCode).toBe(0);
    // What a job leaves behind: build output, a coverage report, a file in node_modules, a dotfile in HOME.
    writeFileSync(join(first.job.worktree, "planted.txt"), "left by job 1\n");
    writeFileSync(join(first.job.worktree, "node_modules", "planted.js"), "module.exports = 'left by job 1';\n");
    writeFileSync(join(first.job.home, ".planted"), "left by job 1\n");
    const dir = first.job.dir;
    // A job runs for a while between checkout and end (git's racy-timestamp rule; see bench/checkout).
    await new Promise((r) => setTimeout(r, 1100));
    await first.done();

    const second = await jobAt(next, "real-pool-2");
    expect(second.job.dir).toBe(dir);
    expect(existsSync(join(second.job.worktree, "planted.txt"))).toBe(false);
    expect(existsSync(join(second.job.worktree, "node_modules"))).toBe(false);
    expect(existsSync(join(second.job.home, ".planted"))).toBe(false);
    expect(readFileSync(join(second.job.worktree, "index.js"), "utf8")).toMatch(/\/\/ a later commit\n$/);
    const plan2 = (await detectTestPlan(readerFor(second.sandbox)))!;
    expect(plan2.setup).toBe(plan.setup);
    // No network this time: everything must come from the cache.
    const s2 = await runSetup(second.sandbox, plan2, { timeoutMs: 600_000, network: false, cache: cacheOf(second.job) });
    expect(s2).toMatchObject({ ran: false, ok: true, cache: "hit" });
    expect(existsSync(join(second.job.worktree, "node_modules", "planted.js"))).toBe(false);
    if (second.job.uid !== null) expect(statSync(join(second.job.worktree, "node_modules")).uid).toBe(second.job.uid);
    const b2 = await runBaseline(second.sandbox, plan2, { timeoutMs: 600_000 });
    expect(b2.run.parsed).toMatchObject({ runners: ["tap"], passed: 1372, failed: 0 });
    expect(b2.run.exitCode).toBe(0);
    // The job's own repository, as the agent sees it: on the new commit, nothing tracked changed by the run.
    const status = await second.sandbox.exec("git log --format=%H -1 && git status --porcelain --untracked-files=no", { timeoutMs: 60_000 });
    expect(status.output).toBe(`${next}\n`);
    await second.done();
  }, 1_200_000);
});
