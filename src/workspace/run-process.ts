import { spawn } from "node:child_process";
import { getPriority, setPriority } from "node:os";

/**
 * Run a host-side helper process (git, flock, chown, cp) with an explicit environment.
 *
 * Contract: the child's environment is exactly `env`; nothing is inherited from the worker, so
 * a secret in the worker's environment (app key, webhook secret, a canary in tests) can never
 * reach a child by accident. The child runs in its own process group, and a timeout or an abort
 * kills the whole group.
 */
export interface RunOptions {
  env: Record<string, string>;
  cwd?: string;
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Cap per stream; more is dropped (and `truncated` set) so a chatty child cannot fill memory. */
  maxBufferBytes?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  aborted: boolean;
  truncated: boolean;
}

const DEFAULT_MAX_BUFFER = 256 * 1024 * 1024;

/**
 * Host-side helpers (git clone/fetch/pack, chown, cp) are batch work, like the sandbox's commands
 * (SandboxLimits.niceness): they run this much nicer than the worker (at most 19), so that on a
 * shared host they do not hold up the web process's webhook answers or the worker's lock
 * renewals. Set right after spawn; what the helper forks later (git's pack-objects) inherits it.
 */
export const HOST_HELPER_NICENESS = 10;

export function deprioritize(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, Math.min(19, getPriority() + HOST_HELPER_NICENESS));
  } catch {
    // The child already exited, or the host forbids it: only a scheduling hint is lost.
  }
}

export function runProcess(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const max = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER;
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    deprioritize(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let truncated = false;
    let timedOut = false;
    let aborted = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            killGroup();
          }, options.timeoutMs)
        : undefined;
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout!.on("data", (chunk: Buffer) => {
      if (outBytes + chunk.length > max) {
        truncated = true;
        chunk = chunk.subarray(0, Math.max(0, max - outBytes));
      }
      outBytes += chunk.length;
      if (chunk.length) out.push(chunk);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      if (errBytes + chunk.length > max) {
        truncated = true;
        chunk = chunk.subarray(0, Math.max(0, max - errBytes));
      }
      errBytes += chunk.length;
      if (chunk.length) err.push(chunk);
    });
    if (options.input !== undefined) {
      child.stdin!.on("error", () => {
        // The child may exit before reading all input (EPIPE); its exit code tells the story.
      });
      child.stdin!.end(options.input);
    }
    child.once("error", (e) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      reject(e);
    });
    child.once("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        timedOut,
        aborted,
        truncated,
      });
    });
  });
}

/** A PATH for host-side helpers: system directories only, never the worker's own PATH. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
