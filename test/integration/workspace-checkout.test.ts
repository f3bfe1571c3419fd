import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { createWorkspaceManager, withCheckout, type RepoRef, type WorkspaceManager } from "../../src/workspace/checkout.js";
import { GitCommandError } from "../../src/workspace/errors.js";
import { tryLock } from "../../src/workspace/lock.js";
import { startGitHttpServer, type GitHttpServer } from "../support/workspace-git-http.js";
import { createRemote, gitSync, makeTempDir, type TestRemote } from "../support/workspace-repos.js";

/**
 * The mirror cache and per-job checkouts, against real git: file:// remotes, and a real smart-HTTP
 * server that demands the token like GitHub does.
 */

const REPO: RepoRef = { owner: "octo", name: "demo", id: 7 };
let tmp: string;
let remote: TestRemote;
let shas: string[];

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Read a checkout's own repository as git inside the sandbox would (it belongs to the pool uid). */
const inJob = (worktree: string, args: string[]) => gitSync(["-c", `safe.directory=${worktree}`, ...args], worktree);

beforeAll(() => {
  tmp = makeTempDir("iquest-co-test-");
  chmodSync(tmp, 0o711);
  remote = createRemote(join(tmp, "remotes"), REPO.owner, REPO.name);
  shas = [];
  for (let i = 1; i <= 4; i++) {
    const files: Record<string, string> = { "VERSION": `${i}\n`, [`history/step-${i}.txt`]: `step ${i}\n` };
    for (let f = 0; f < 40; f++) files[`src/mod${f}.js`] = `export const v${f} = ${i * 1000 + f};\n${"// filler\n".repeat(20)}`;
    shas.push(remote.commit(files, `step ${i}`));
  }
});

afterAll(() => {
  remote.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const newManager = (name: string, extra: Partial<Parameters<typeof createWorkspaceManager>[0]> = {}) =>
  createWorkspaceManager({ root: join(tmp, name), gitBaseUrl: remote.gitBaseUrl, ...extra });

describe("checkout", () => {
  let manager: WorkspaceManager;
  beforeAll(() => {
    manager = newManager("ws-basic");
  });

  test("makes a partial mirror and a standalone repository at the exact commit", async () => {
    const job = await manager.checkout({ repo: REPO, commit: shas[1]!, jobId: "job-1", token: "ghs_x" });
    try {
      expect(readFileSync(join(job.worktree, "VERSION"), "utf8")).toBe("2\n");
      expect(existsSync(join(job.worktree, "history/step-3.txt"))).toBe(false);
      // The mirror is a blob-less partial clone of the remote.
      expect(gitSync(["--git-dir", job.mirrorDir, "config", "remote.origin.partialclonefilter"])).toBe("blob:none");
      expect(gitSync(["--git-dir", job.mirrorDir, "config", "remote.origin.url"])).toBe(`${remote.gitBaseUrl}/octo/demo.git`);
      // The job's repository: HEAD at the commit, one commit of history, no remote, no alternates.
      expect(inJob(job.worktree, ["rev-parse", "HEAD"])).toBe(shas[1]);
      expect(inJob(job.worktree, ["log", "--all", "--format=%H"])).toBe(shas[1]);
      expect(inJob(job.worktree, ["remote"])).toBe("");
      expect(existsSync(join(job.worktree, ".git/objects/info/alternates"))).toBe(false);
      expect(readFileSync(join(job.worktree, ".git/shallow"), "utf8").trim()).toBe(shas[1]);
      expect(inJob(job.worktree, ["status", "--porcelain"])).toBe("");
      expect(inJob(job.worktree, ["fsck", "--no-progress"])).toBe("");
      // Later commits are not in it (the agent cannot read the future), earlier ones neither.
      expect(() => inJob(job.worktree, ["cat-file", "-e", shas[3]!])).toThrow();
      expect(() => inJob(job.worktree, ["cat-file", "-e", shas[0]!])).toThrow();
      // Edits show up as a diff against the job's commit.
      const { writeFileSync } = await import("node:fs");
      writeFileSync(join(job.worktree, "VERSION"), "changed\n");
      expect(inJob(job.worktree, ["diff", "--stat"])).toContain("VERSION");
      // The files belong to the sandbox uid when the worker is root.
      if (process.getuid?.() === 0) expect(statSync(join(job.worktree, "VERSION")).uid).toBe(job.uid);
    } finally {
      await job.remove();
    }
    expect(existsSync(job.dir)).toBe(false);
  });

  test("two concurrent checkouts of one repo at different commits are both correct", async () => {
    const fresh = newManager("ws-concurrent");
    const picks = [0, 3, 2, 3];
    const jobs = await Promise.all(picks.map((i, n) => fresh.checkout({ repo: REPO, commit: shas[i]!, jobId: `c-${n}`, token: "ghs_x" })));
    try {
      for (const [n, job] of jobs.entries()) {
        const i = picks[n]!;
        expect(readFileSync(join(job.worktree, "VERSION"), "utf8")).toBe(`${i + 1}\n`);
        expect(readFileSync(join(job.worktree, "src/mod7.js"), "utf8")).toContain(`${(i + 1) * 1000 + 7}`);
        expect(inJob(job.worktree, ["rev-parse", "HEAD"])).toBe(shas[i]);
        expect(inJob(job.worktree, ["status", "--porcelain"])).toBe("");
      }
      expect(new Set(jobs.map((j) => j.dir)).size).toBe(jobs.length);
      expect(new Set(jobs.map((j) => j.uid)).size).toBe(jobs.length); // one sandbox uid per live job
    } finally {
      await Promise.all(jobs.map((j) => j.remove()));
    }
  }, 60_000);

  test("a commit pushed after the mirror was made is fetched; an unknown one is a typed error", async () => {
    const first = await manager.checkout({ repo: REPO, commit: shas[0]!, jobId: "warm", token: "ghs_x" });
    await first.remove();
    const newer = remote.commit({ "VERSION": "5\n" }, "step 5");
    const job = await manager.checkout({ repo: REPO, commit: newer, jobId: "newer", token: "ghs_x" });
    expect(readFileSync(join(job.worktree, "VERSION"), "utf8")).toBe("5\n");
    await job.remove();
    await expect(manager.checkout({ repo: REPO, commit: "0".repeat(40), jobId: "ghost", token: "ghs_x" })).rejects.toMatchObject({
      name: "CommitNotFoundError",
      next: "give-up",
    });
  });

  test("a PR head that is on no branch is fetched by its ref", async () => {
    const pr = gitSync(["commit-tree", `${shas[0]}^{tree}`, "-p", shas[0]!, "-m", "pr head"], remote.bare);
    gitSync(["update-ref", "refs/pull/9/head", pr], remote.bare);
    const job = await manager.checkout({ repo: REPO, commit: pr, jobId: "pr", token: "ghs_x", fetchRefs: ["refs/pull/9/head"] });
    expect(inJob(job.worktree, ["rev-parse", "HEAD"])).toBe(pr);
    await job.remove();
    await expect(manager.checkout({ repo: REPO, commit: pr, jobId: "bad", token: "ghs_x", fetchRefs: ["refs/../../etc"] })).rejects.toThrow(/refusing/);
  });

  test("withCheckout removes the checkout when the job fails", async () => {
    let dir = "";
    await expect(
      withCheckout(manager, { repo: REPO, commit: shas[0]!, jobId: "failing", token: "ghs_x" }, async (job) => {
        dir = job.dir;
        expect(existsSync(join(job.worktree, "VERSION"))).toBe(true);
        throw new Error("agent crashed");
      }),
    ).rejects.toThrow("agent crashed");
    expect(dir).not.toBe("");
    expect(existsSync(dir)).toBe(false);
  });

  test("remove() frees the job's locks and directory, and is idempotent", async () => {
    const job = await manager.checkout({ repo: REPO, commit: shas[2]!, jobId: "locks", token: "ghs_x" });
    expect(await tryLock(`${job.dir}.lock`, { timeoutMs: 0 })).toBeNull(); // held while the job lives
    await job.remove();
    await job.remove();
    expect(existsSync(job.dir)).toBe(false);
    const lock = await tryLock(`${job.dir}.lock`, { timeoutMs: 0 });
    expect(lock).not.toBeNull();
    await lock!.release();
  });
});

describe("a killed job", () => {
  const runChild = (root: string, hang: boolean) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/support/workspace-checkout-child.ts", JSON.stringify({ root, gitBaseUrl: remote.gitBaseUrl, repo: REPO, commit: shas[3], hang })],
      { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const waitFor = async (word: string) => {
      const until = Date.now() + 30_000;
      while (!out.includes(word)) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`child never said ${word}: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return { child, exited, waitFor };
  };

  test("killed while holding the repository lock mid-git: the next checkout still works and the leftovers are swept", async () => {
    const root = join(tmp, "ws-killed");
    const { child, exited, waitFor } = runChild(root, true);
    await waitFor("HOLDING");
    const manager = newManager("ws-killed", { sweepGraceMs: 0, lockTimeoutMs: 10_000 });
    const mirror = manager.mirrorDirOf(REPO);
    expect(existsSync(join(mirror, "refs/heads/main.lock"))).toBe(true);
    expect(readdirSync(join(root, "jobs")).some((n) => n.startsWith("doomed-job"))).toBe(true);
    child.kill("SIGKILL");
    await exited;
    // refresh forces a fetch, which the stale ref locks would break.
    const job = await manager.checkout({ repo: REPO, commit: shas[2]!, jobId: "next", token: "ghs_x", refresh: true });
    try {
      expect(readFileSync(join(job.worktree, "VERSION"), "utf8")).toBe("3\n");
      expect(existsSync(join(mirror, "refs/heads/main.lock"))).toBe(false);
      expect(existsSync(join(mirror, "packed-refs.lock"))).toBe(false);
      expect(readdirSync(join(root, "jobs")).filter((n) => n.startsWith("doomed-job"))).toEqual([]);
    } finally {
      await job.remove();
    }
  }, 60_000);

  test("killed at arbitrary moments: every next checkout succeeds", async () => {
    const root = join(tmp, "ws-killed-random");
    const manager = newManager("ws-killed-random", { sweepGraceMs: 0, lockTimeoutMs: 10_000 });
    let leftovers = 0;
    for (const delay of [5, 60, 150, 400]) {
      const { child, exited, waitFor } = runChild(root, false);
      await waitFor("STARTED");
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await exited;
      // (Killed within 5 ms, on a busy machine, the process may not have made jobs/ yet.)
      leftovers += existsSync(join(root, "jobs")) ? readdirSync(join(root, "jobs")).length : 0;
      const job = await manager.checkout({ repo: REPO, commit: shas[1]!, jobId: `after-${delay}`, token: "ghs_x" });
      expect(readFileSync(join(job.worktree, "VERSION"), "utf8")).toBe("2\n");
      await job.remove();
    }
    expect(leftovers).toBeGreaterThan(0); // the kills did leave job directories behind…
    expect(readdirSync(join(root, "jobs"))).toEqual([]); // …and the sweeps removed them
  }, 120_000);
});

describe("mirror cache size cap", () => {
  test("evicts the least recently used mirror, never one a live job uses", async () => {
    const others = ["alpha", "beta"].map((name, i) => ({ ref: { owner: "octo", name, id: 100 + i }, remote: createRemote(join(tmp, "remotes"), "octo", name) }));
    const heads = others.map((o) => o.remote.commit({ "x.txt": o.ref.name }, "init"));
    const manager = newManager("ws-lru");
    // alpha: used first and still in use by a live job; beta: used, then released.
    const live = await manager.checkout({ repo: others[0]!.ref, commit: heads[0]!, jobId: "live", token: "ghs_x" });
    const done = await manager.checkout({ repo: others[1]!.ref, commit: heads[1]!, jobId: "done", token: "ghs_x" });
    await done.remove();
    const small = newManager("ws-lru", { mirrorCapBytes: 1 });
    const job = await small.checkout({ repo: REPO, commit: shas[0]!, jobId: "current", token: "ghs_x" });
    try {
      expect(existsSync(small.mirrorDirOf(others[1]!.ref))).toBe(false); // evicted
      expect(existsSync(small.mirrorDirOf(others[0]!.ref))).toBe(true); // in use
      expect(existsSync(small.mirrorDirOf(REPO))).toBe(true); // the one just used
    } finally {
      await job.remove();
      await live.remove();
      others.forEach((o) => o.remote.cleanup());
    }
    // Once nobody uses it, the next eviction takes it.
    expect(await small.evict(REPO)).toEqual([`octo__alpha__100`]);
  }, 60_000);
});

describe("credentials over HTTP (GHE_HOST/GHE_PROTOCOL=http)", () => {
  let server: GitHttpServer;
  const token = `ghs_${randomBytes(30).toString("hex")}`;
  beforeAll(async () => {
    server = await startGitHttpServer(join(tmp, "remotes"), token);
    gitSync(["config", "http.receivepack", "true"], remote.bare);
  });
  afterAll(async () => {
    await server?.close();
  });

  test("the token goes in a header only; it is never stored, and a wrong token fails with a redacted error", async () => {
    const root = join(tmp, "ws-http");
    const manager = createWorkspaceManager({ root, gitBaseUrl: server.baseUrl });
    const job = await manager.checkout({ repo: REPO, commit: shas[1]!, jobId: "http", token: async () => token });
    // Another commit later: fetch plus the partial clone's lazy blob fetch, with the token again.
    const job2 = await manager.checkout({ repo: REPO, commit: shas[3]!, jobId: "http-2", token });
    try {
      expect(readFileSync(join(job2.worktree, "VERSION"), "utf8")).toBe("4\n");
      expect(server.seen.length).toBeGreaterThan(3);
      expect(server.seen.every((r) => r.status !== 401)).toBe(true);
      expect(server.seen.every((r) => !r.url.includes(token))).toBe(true);
      expect(gitSync(["--git-dir", job.mirrorDir, "config", "remote.origin.url"])).toBe(`${server.baseUrl}/octo/demo.git`);
      // No file anywhere under WORKSPACE_DIR holds the token, in plain or base64 form.
      const b64 = Buffer.from(`x-access-token:${token}`).toString("base64");
      const scanned = filesUnder(root);
      expect(scanned.length).toBeGreaterThan(50);
      expect(scanned.filter((f) => { const t = readFileSync(f, "latin1"); return t.includes(token) || t.includes(b64); })).toEqual([]);
    } finally {
      await job.remove();
      await job2.remove();
    }
  }, 60_000);

  test("a wrong token is refused by the server and the error does not echo it", async () => {
    const manager = createWorkspaceManager({ root: join(tmp, "ws-http-bad"), gitBaseUrl: server.baseUrl });
    const bad = `ghs_${randomBytes(30).toString("hex")}`;
    const err = await manager.checkout({ repo: REPO, commit: shas[1]!, jobId: "bad", token: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitCommandError);
    expect((err as Error).message).not.toContain(bad);
    expect(server.seen.some((r) => r.status === 401)).toBe(true);
  });
});
