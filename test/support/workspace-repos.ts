import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Real git repositories for workspace tests: bare "remotes" under a base directory, reachable as
 * `file://<base>/<owner>/<name>.git` (so `gitBaseUrl` is `file://<base>`), with partial clone
 * and fetch-by-id enabled as GitHub has them.
 */

const GIT_ENV = {
  PATH: "/usr/local/bin:/usr/bin:/bin",
  HOME: "/nonexistent",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Test Human",
  GIT_AUTHOR_EMAIL: "human@example.com",
  GIT_COMMITTER_NAME: "Test Human",
  GIT_COMMITTER_EMAIL: "human@example.com",
  LC_ALL: "C",
};

export function gitSync(args: string[], cwd?: string, env: Record<string, string> = {}): string {
  return execFileSync("git", args, { cwd, env: { ...GIT_ENV, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export type FileChanges = Record<string, string | Buffer | null>;

export interface TestRemote {
  base: string;
  gitBaseUrl: string;
  owner: string;
  name: string;
  bare: string;
  /** A scratch clone used to make commits. */
  scratch: string;
  /** Commit `files` (null deletes) on `branch` and push it; returns the new sha. */
  commit(files: FileChanges, message?: string, options?: { branch?: string; env?: Record<string, string> }): string;
  /** The remote's current sha for a branch, or null. */
  tip(branch: string): string | null;
  cleanup(): void;
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function createRemote(base: string, owner = "octo", name = "demo"): TestRemote {
  const bare = join(base, owner, `${name}.git`);
  mkdirSync(dirname(bare), { recursive: true });
  gitSync(["init", "--quiet", "--bare", "-b", "main", bare]);
  gitSync(["config", "uploadpack.allowFilter", "true"], bare);
  gitSync(["config", "uploadpack.allowAnySHA1InWant", "true"], bare);
  gitSync(["config", "receive.denyNonFastForwards", "false"], bare);
  const scratch = mkdtempSync(join(tmpdir(), "iquest-scratch-"));
  gitSync(["init", "--quiet", "-b", "main", scratch]);
  gitSync(["remote", "add", "origin", bare], scratch);
  let current = "main";
  return {
    base,
    gitBaseUrl: `file://${base}`,
    owner,
    name,
    bare,
    scratch,
    commit(files, message = "change", opts = {}) {
      const branch = opts.branch ?? "main";
      if (branch !== current) {
        const exists = gitSync(["ls-remote", "origin", `refs/heads/${branch}`], scratch) !== "";
        if (exists) {
          gitSync(["fetch", "--quiet", "origin", branch], scratch);
          gitSync(["checkout", "--quiet", "-B", branch, "FETCH_HEAD"], scratch);
        } else {
          gitSync(["checkout", "--quiet", "-B", branch], scratch);
        }
        current = branch;
      }
      for (const [path, content] of Object.entries(files)) {
        const p = join(scratch, path);
        if (content === null) rmSync(p, { force: true });
        else {
          mkdirSync(dirname(p), { recursive: true });
          writeFileSync(p, content);
        }
      }
      gitSync(["add", "-A"], scratch);
      gitSync(["commit", "--quiet", "--allow-empty", "-m", message], scratch, opts.env);
      gitSync(["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`], scratch);
      return gitSync(["rev-parse", "HEAD"], scratch);
    },
    tip(branch) {
      const line = gitSync(["ls-remote", bare, `refs/heads/${branch}`]);
      return line ? line.split("\t")[0]! : null;
    },
    cleanup() {
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
