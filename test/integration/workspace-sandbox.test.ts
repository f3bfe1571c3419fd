import { getPriority } from "node:os";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecOptions, ExecResult } from "../../src/agent/environment.js";
import { createWorkspaceManager, type JobCheckout, type WorkspaceManager } from "../../src/workspace/checkout.js";
import { PathEscapeError, SandboxPolicyError, SandboxUnavailableError } from "../../src/workspace/errors.js";
import { createSandbox, DEFAULT_SANDBOX_LIMITS, type SandboxEnvironment } from "../../src/workspace/sandbox.js";
import { testPrivateKey } from "../support/keys.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { createRemote, makeTempDir, type TestRemote } from "../support/workspace-repos.js";

/**
 * Escapes, leaks and resource abuse against the real bubblewrap sandbox (T7, T10, T11; bad-input
 * tests 10, 11 and 18). Every "must fail" check has a positive control next to it, so a broken
 * probe cannot pass by accident.
 */

const CANARY = `iquest-canary-${randomBytes(12).toString("hex")}`;
const CANARY_TOKEN = `ghs_${randomBytes(24).toString("hex")}`;
const REPO = { owner: "octo", name: "sandboxed", id: 42 };

let tmp: string;
let remote: TestRemote;
let manager: WorkspaceManager;
let jobA: JobCheckout;
let jobB: JobCheckout;
let sandbox: SandboxEnvironment;
let redis: TestRedis;
let keyPath: string;
let dotEnvPath: string;
let firstSha: string;
let laterSha: string;
const outputs: string[] = [];
const savedEnv: Record<string, string | undefined> = {};

async function run(env: SandboxEnvironment, command: string, options: Partial<ExecOptions> = {}): Promise<ExecResult> {
  const r = await env.exec(command, { timeoutMs: 20_000, ...options });
  outputs.push(r.output);
  return r;
}

beforeAll(async () => {
  tmp = makeTempDir("iquest-sbx-test-");
  chmodSync(tmp, 0o711); // the sandbox uid must be able to traverse to WORKSPACE_DIR
  // Secrets as the worker holds them: in its environment, in a key file and a .env file.
  for (const [k, v] of Object.entries({ IQUEST_CANARY: CANARY, GITHUB_TOKEN: CANARY_TOKEN, PRIVATE_KEY: testPrivateKey() })) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  mkdirSync(join(tmp, "secrets"));
  keyPath = join(tmp, "secrets", "app-key.pem");
  writeFileSync(keyPath, testPrivateKey(), { mode: 0o600 });
  dotEnvPath = join(tmp, ".env");
  writeFileSync(dotEnvPath, `WEBHOOK_SECRET=${CANARY}\nPRIVATE_KEY_PATH=${keyPath}\n`);

  remote = createRemote(join(tmp, "remotes"), REPO.owner, REPO.name);
  firstSha = remote.commit({ "README.md": "# demo\n", "src/index.js": "module.exports = 1;\n" }, "first");
  laterSha = remote.commit({ "src/index.js": "module.exports = 2;\n", "FUTURE.md": "from the future\n" }, "later");
  manager = createWorkspaceManager({ root: join(tmp, "ws"), gitBaseUrl: remote.gitBaseUrl });
  jobA = await manager.checkout({ repo: REPO, commit: firstSha, jobId: "job-a", token: CANARY_TOKEN });
  jobB = await manager.checkout({ repo: REPO, commit: laterSha, jobId: "job-b", token: CANARY_TOKEN });
  sandbox = await createSandbox({ mode: "bwrap", worktree: jobA.worktree, home: jobA.home, uid: jobA.uid, gid: jobA.gid });
  redis = await startTestRedis();
}, 60_000);

afterAll(async () => {
  // Each step on its own, so one failure cannot leak the others (a Redis server, a checkout).
  for (const step of [() => sandbox?.close(), () => jobA?.remove(), () => jobB?.remove(), () => redis?.destroy()]) {
    await Promise.resolve()
      .then(step)
      .catch(() => {});
  }
  remote?.cleanup();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe("escapes and leaks (T7, test 10)", () => {
  test("the command environment is the fixed list, not the worker's", async () => {
    const r = await run(sandbox, "env");
    expect(r.exitCode).toBe(0);
    const names = r.output.split("\n").filter(Boolean).map((l) => l.split("=")[0]).sort();
    expect(names).toEqual(expect.arrayContaining(["HOME", "PATH", "CI"]));
    for (const leaked of ["IQUEST_CANARY", "GITHUB_TOKEN", "PRIVATE_KEY", "REDIS_URL", "WEBHOOK_SECRET"]) expect(names).not.toContain(leaked);
    expect(r.output).not.toContain(CANARY);
    expect(r.output).toContain("HOME=/home/sandbox");
  });

  test("/proc shows only the sandbox's own processes, and no environ holds a secret", async () => {
    const r = await run(sandbox, "ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done; echo END");
    expect(r.exitCode).toBe(0);
    const pids = r.output.split("\n")[0]!.trim().split(" ").map(Number);
    expect(pids.length).toBeGreaterThan(0);
    expect(Math.max(...pids)).toBeLessThan(50); // a fresh pid namespace, not the host's
    expect(pids).not.toContain(process.pid);
    expect(r.output).toContain("END");
    expect(r.output).toContain("PATH="); // positive control: environ files were readable
    expect(r.output).not.toContain(CANARY);
    expect(r.output).not.toContain(CANARY_TOKEN);
  });

  test("the key file, .env, the mirror cache, another job's worktree and the host home are not visible", async () => {
    const hostPaths = [keyPath, dotEnvPath, join(tmp, "secrets"), manager.root, jobA.dir, jobB.worktree, jobB.dir, manager.mirrorDirOf(REPO), "/root", "/work", tmp];
    const probe = hostPaths.map((p) => `if [ -e '${p}' ]; then echo "VISIBLE ${p}"; cat '${p}' 2>/dev/null; ls '${p}' 2>/dev/null; fi`).join("\n");
    const r = await run(sandbox, `${probe}\nif [ -e /workspace/README.md ]; then echo "CONTROL visible"; fi`);
    expect(r.output).toContain("CONTROL visible");
    expect(r.output).not.toContain("VISIBLE");
    expect(r.output).not.toContain("PRIVATE KEY");
    expect(r.output).not.toContain(CANARY);
  });

  test("a file scan of the whole sandbox finds the canary only where we planted it", async () => {
    await sandbox.writeFile("planted.txt", "iquest-canary-planted\n");
    const r = await run(sandbox, "grep -rIhos 'iquest-canary-[a-z0-9]*' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr --exclude-dir=dev; echo SCANNED", { timeoutMs: 60_000 });
    expect(r.output).toContain("iquest-canary-planted");
    expect(r.output).toContain("SCANNED");
    expect(r.output).not.toContain(CANARY);
    const key = await run(sandbox, "grep -rls 'PRIVATE KEY-----' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr; echo SCANNED", { timeoutMs: 60_000 });
    expect(key.output.trim()).toBe("SCANNED");
  }, 90_000);

  test("the sandbox's git repository holds the job's commit only: no token, no remote, no later history", async () => {
    const r = await run(
      sandbox,
      "git rev-parse HEAD; git log --all --format=%H | wc -l; git remote -v | wc -l; cat .git/config; git config --list --show-origin; " +
        `git cat-file -e ${laterSha} 2>/dev/null && echo HAS-FUTURE; ls .git/objects/info; test -e FUTURE.md && echo FUTURE-FILE; git status --porcelain | wc -l`,
    );
    const lines = r.output.split("\n");
    expect(lines[0]).toBe(firstSha);
    expect(lines[1]).toBe("1");
    expect(lines[2]).toBe("0");
    expect(r.output).not.toMatch(/extraheader|authorization|url\s*=/i);
    expect(r.output).not.toContain(CANARY_TOKEN);
    expect(r.output).not.toContain("HAS-FUTURE");
    expect(r.output).not.toContain("FUTURE-FILE");
    expect(r.output).not.toContain("alternates");
    expect(r.output.trim().split("\n").pop()).toBe("1"); // only planted.txt from the scan test
  });

  test("git inside the sandbox cannot fetch: no remote, no network", async () => {
    const r = await run(sandbox, `git fetch '${remote.gitBaseUrl}/${REPO.owner}/${REPO.name}.git' 2>&1; echo rc=$?`);
    expect(r.output).toMatch(/rc=(?!0)\d+/);
  });

  test("TCP to 127.0.0.1 (the test Redis) and to the metadata address fails", async () => {
    const ping = `exec 3<>/dev/tcp/127.0.0.1/${redis.port} && printf 'PING\\r\\n' >&3 && head -c 7 <&3`;
    const blocked = await run(sandbox, `${ping}; echo; exec 4<>/dev/tcp/169.254.169.254/80 && echo METADATA-OPEN`);
    expect(blocked.output).not.toContain("+PONG");
    expect(blocked.output).not.toContain("METADATA-OPEN");
    expect(blocked.output).toMatch(/Connection refused|Network is unreachable/);
    // Even with network allowed (setup), the sandbox keeps its own network namespace: the only
    // way out is the egress proxy, which refuses the host's Redis (sandbox-egress.test.ts has
    // the rest). Control: the host itself does reach it, so the probe can succeed.
    const open = await createSandbox({ mode: "bwrap", worktree: jobA.worktree, home: jobA.home, uid: jobA.uid, gid: jobA.gid, allowNetwork: true });
    try {
      const r = await run(open, `${ping}; echo; curl -sS --proxytunnel http://127.0.0.1:${redis.port}/ 2>&1`, { network: true });
      expect(r.output).not.toContain("+PONG");
      expect(r.output).toMatch(/403|not an allowed registry/);
    } finally {
      await open.close();
    }
    const { execFile } = await import("node:child_process");
    const hostProbe = await new Promise<string>((resolve) => execFile("bash", ["-c", ping], { timeout: 5000 }, (_e, out) => resolve(String(out))));
    expect(hostProbe).toContain("+PONG");
    await expect(sandbox.exec(ping, { timeoutMs: 5000, network: true })).rejects.toBeInstanceOf(SandboxPolicyError);
  });

  test("commands run as an unprivileged user with no capabilities, and cannot write outside the workspace", async () => {
    expect(jobA.uid).not.toBeNull();
    expect(jobA.uid).toBeGreaterThanOrEqual(200_000);
    const r = await run(sandbox, "id -u; grep CapEff /proc/self/status; touch /usr/x /etc/x /x 2>&1 | wc -l; touch /tmp/ok /workspace/ok /home/sandbox/ok && echo WRITABLE");
    const lines = r.output.split("\n");
    expect(lines[0]).toBe("1000");
    expect(lines[1]).toMatch(/CapEff:\s+0+$/);
    expect(Number(lines[2])).toBe(3);
    expect(r.output).toContain("WRITABLE");
    // On the host the files belong to the pool uid, not root.
    const st = readdirSync(jobA.worktree).includes("ok");
    expect(st).toBe(true);
  });

  test("commands run niced (batch work yields the CPU to the web process and the worker), and cannot raise their priority", async () => {
    const r = await run(sandbox, "nice; renice -n 0 -p $$ >/dev/null 2>&1 && echo RAISED || echo REFUSED");
    const lines = r.output.split("\n");
    expect(lines[0]).toBe(String(Math.min(19, getPriority() + DEFAULT_SANDBOX_LIMITS.niceness)));
    expect(DEFAULT_SANDBOX_LIMITS.niceness).toBeGreaterThan(0);
    expect(lines[1]).toBe("REFUSED");
  });

  test("readFile/writeFile stay inside the workspace, symlinks included", async () => {
    await run(sandbox, `ln -sf '${keyPath}' leak; ln -sf /etc/passwd leak2; mkdir -p sub`);
    await expect(sandbox.readFile("leak")).rejects.toBeInstanceOf(PathEscapeError);
    await expect(sandbox.readFile("../host/checkout-index")).rejects.toBeInstanceOf(PathEscapeError);
    await expect(sandbox.readFile("/etc/hostname")).rejects.toBeInstanceOf(PathEscapeError);
    await expect(sandbox.writeFile("leak", "overwritten")).rejects.toBeInstanceOf(PathEscapeError);
    expect(readFileSync(keyPath, "utf8")).toContain("PRIVATE KEY");
    await sandbox.writeFile("sub/new.txt", "hello\n");
    expect((await sandbox.readFile("sub/new.txt")).toString()).toBe("hello\n");
    // The sandbox user can keep editing what the host wrote for it.
    const r = await run(sandbox, "echo more >> sub/new.txt && cat sub/new.txt");
    expect(r.output).toBe("hello\nmore\n");
    await run(sandbox, "rm -f leak leak2 ok planted.txt; rm -rf sub");
  });

  test("a missing bubblewrap is refused with a clear error; SANDBOX=none must be explicit and warns", async () => {
    const err = await createSandbox({ mode: "bwrap", worktree: jobA.worktree, bwrapPath: "/nonexistent/bwrap" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxUnavailableError);
    expect((err as Error).message).toContain("SANDBOX=none");
    const plain = await createSandbox({ mode: "none", worktree: jobA.worktree, home: jobA.home, uid: jobA.uid, gid: jobA.gid });
    try {
      expect(plain.isolated).toBe(false);
      expect(plain.warning).toMatch(/without a sandbox/);
      const r = await run(plain, "env; pwd");
      expect(r.output).not.toContain(CANARY);
      expect(r.output).toContain(jobA.worktree);
    } finally {
      await plain.close();
    }
  });
});

describe("resource abuse (T11, test 18)", () => {
  let small: SandboxEnvironment;
  beforeAll(async () => {
    small = await createSandbox({
      mode: "bwrap",
      worktree: jobA.worktree,
      home: jobA.home,
      uid: jobA.uid,
      gid: jobA.gid,
      limits: { memoryBytes: 256 * 1024 ** 2, pids: 64, fileSizeBytes: 16 * 1024 ** 2, tmpBytes: 32 * 1024 ** 2, hardOutputBytes: 4 * 1024 ** 2, minFreeDiskBytes: 0 },
    });
  });
  afterAll(async () => {
    await small?.close();
    await run(sandbox, "rm -f big fill* /tmp/*");
  });

  const sandboxProcesses = () =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          const status = readFileSync(`/proc/${p}/status`, "utf8");
          // Zombies are dead already (the host's init reaps the namespace's init lazily).
          return new RegExp(`^Uid:\\s+${jobA.uid}\\b`, "m").test(status) && !/^State:\s+Z/m.test(status);
        } catch {
          return false;
        }
      });

  test("a fork bomb is stopped at the process limit and leaves no process behind", async () => {
    const r = await run(small, "f(){ f|f& }; f; sleep 60", { timeoutMs: 30_000 });
    expect(r.killed).toBe("pids");
    expect(r.durationMs).toBeLessThan(25_000);
    expect(r.output).toContain("stopped (pids)");
    await new Promise((res) => setTimeout(res, 300));
    expect(sandboxProcesses()).toEqual([]);
  }, 40_000);

  test.each([
    ["python", "python3 -c 'x = bytearray(2 * 1024**3)'"],
    ["node", "node -e 'const a = []; for (;;) a.push(Buffer.alloc(1e7, 1))'"],
  ])("a %s memory hog is stopped with reason memory", async (_name, cmd) => {
    const r = await run(small, cmd, { timeoutMs: 30_000 });
    expect(r.killed).toBe("memory");
    expect(r.exitCode).not.toBe(0);
  }, 40_000);

  test("a huge file is stopped at the file size limit", async () => {
    const r = await run(small, "dd if=/dev/zero of=big bs=1M count=200");
    expect(r.killed).toBe("file-size");
    expect(r.output).toContain("file size limit");
  });

  test("/tmp is a small tmpfs: filling it fails with no space", async () => {
    // Files under the 16 MiB file size limit, more of them than the 32 MiB tmpfs holds.
    const r = await run(small, "for i in 1 2 3 4 5; do head -c 10000000 /dev/zero > /tmp/fill$i || { echo rc=$?; break; }; done");
    expect(r.output).toMatch(/No space left on device/);
    expect(r.output).toMatch(/rc=[1-9]/);
  });

  test("a disk filler of many small files is stopped when free disk runs low", async () => {
    const free = statfsSync(jobA.worktree);
    const freeBytes = free.bavail * free.bsize;
    const filler = await createSandbox({
      mode: "bwrap",
      worktree: jobA.worktree,
      home: jobA.home,
      uid: jobA.uid,
      gid: jobA.gid,
      limits: { fileSizeBytes: 16 * 1024 ** 2, minFreeDiskBytes: freeBytes - 120 * 1024 ** 2 },
    });
    try {
      const r = await run(filler, "for i in $(seq 1 100); do head -c 10000000 /dev/zero > fill$i; sync; done; echo FINISHED", { timeoutMs: 60_000 });
      expect(r.killed).toBe("file-size");
      expect(r.output).toContain("disk");
      expect(r.output).not.toContain("FINISHED");
    } finally {
      await filler.close();
      await run(sandbox, "rm -f fill*");
    }
  }, 90_000);

  test("a command that never exits is killed at the timeout, with its whole tree", async () => {
    const started = Date.now();
    const r = await run(small, "trap '' TERM INT; (sleep 1000 &); setsid sleep 1001 & while :; do sleep 0.1; done", { timeoutMs: 1500 });
    expect(r.killed).toBe("timeout");
    expect(r.exitCode).toBeNull();
    expect(Date.now() - started).toBeLessThan(6000);
    await new Promise((res) => setTimeout(res, 300));
    expect(sandboxProcesses()).toEqual([]);
  });

  test("endless output is cut, and past the hard limit the command is killed", async () => {
    const r = await run(small, "yes iquest", { maxOutputBytes: 10_000 });
    expect(r.killed).toBe("output-limit");
    expect(r.truncated).toBe(true);
    expect(r.output.length).toBeLessThan(12_000);
  });

  test("an abort signal cancels a running command", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort("stop"), 300);
    const r = await run(small, "sleep 30", { signal: ac.signal });
    expect(r.killed).toBe("cancelled");
  });

  test("the worker stays healthy afterwards", async () => {
    const r = await run(small, "echo alive");
    expect(r.output).toBe("alive\n");
    expect(r.killed).toBeUndefined();
    expect(process.memoryUsage().rss).toBeLessThan(1024 ** 3);
  });
});

describe("canary", () => {
  test("the canary token never appeared in any output", () => {
    expect(outputs.length).toBeGreaterThan(15);
    for (const o of outputs) {
      expect(o).not.toContain(CANARY);
      expect(o).not.toContain(CANARY_TOKEN);
    }
  });
});
