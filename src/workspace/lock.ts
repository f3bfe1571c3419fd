import { spawn } from "node:child_process";
import { LockTimeoutError } from "./errors.js";
import { SYSTEM_PATH } from "./run-process.js";

/**
 * File locks that die with their holder.
 *
 * A lock is held by a small `flock(1)` child (util-linux) that keeps the lock file's descriptor
 * open and waits on a pipe from us. Releasing closes the pipe; if the worker crashes or is
 * `kill -9`ed, the kernel closes the pipe, the child exits and the lock is gone. So a crashed
 * job never leaves a lock that blocks the next one, and no stale-lock heuristics are needed.
 *
 * Used for: the per-repository mirror lock (fetch, checkout, publish write into the mirror), the
 * shared "in use" lock that keeps a mirror from being evicted under a running job, each job
 * directory's lock (a directory whose lock is free belongs to a dead job), and the sandbox uid pool.
 * Locks are advisory and per host: they do not coordinate workers on different machines that
 * share a WORKSPACE_DIR over NFS (give each worker its own volume).
 */

export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Shared (many holders) instead of exclusive. */
  shared?: boolean;
  /** How long to wait; 0 means try once. */
  timeoutMs: number;
  flockBinary?: string;
}

/** Take the lock or throw LockTimeoutError. */
export async function acquireLock(path: string, options: LockOptions): Promise<Lock> {
  const lock = await tryLock(path, options);
  if (!lock) throw new LockTimeoutError(path, options.timeoutMs);
  return lock;
}

/** Take the lock, or return null when it is busy after `timeoutMs`. */
export function tryLock(path: string, options: LockOptions): Promise<Lock | null> {
  const wait = options.timeoutMs > 0 ? ["-w", String(Math.max(0.001, options.timeoutMs / 1000))] : ["-n"];
  const child = spawn(
    options.flockBinary ?? "flock",
    [options.shared ? "-s" : "-x", ...wait, "-E", "75", path, "sh", "-c", "echo locked; exec cat >/dev/null"],
    { stdio: ["pipe", "pipe", "pipe"], env: { PATH: SYSTEM_PATH } },
  );
  return new Promise((resolve, reject) => {
    let settled = false;
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<void>((r) => child.once("close", () => r()));
    child.stdout.once("data", () => {
      if (settled) return;
      settled = true;
      // Held: let the worker exit even if a caller forgets to release (the kernel frees it).
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      (child.stdout as unknown as { unref?: () => void }).unref?.();
      (child.stderr as unknown as { unref?: () => void }).unref?.();
      let released = false;
      resolve({
        path,
        async release() {
          if (released) return;
          released = true;
          child.ref();
          child.stdin.end();
          await exited;
        },
      });
    });
    child.once("error", (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    child.once("close", (code) => {
      if (settled) return;
      settled = true;
      if (code === 75) resolve(null);
      else reject(new Error(`flock ${path} failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}
