import { spawn, type ChildProcess } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import type { Environment, ExecOptions, ExecResult } from "./environment.js";
import { resolveWorkspacePath } from "./workspace-path.js";

/**
 * A plain local directory as the agent's environment: NO SANDBOX. Commands run as this user with
 * this machine's network and files; only the editor's paths are confined. For the CLI on a
 * developer's own checkout (SANDBOX=none) and for tests of the loop. Jobs use the bubblewrap
 * sandbox (src/workspace/sandbox.ts), which implements the same interface.
 *
 * Each command runs as `bash -c` in its own process group, so a timeout or a cancel kills
 * everything it started (`kill -PGID`), and so does the command's own end: background
 * processes do not outlive the call (they would hold the output pipes open).
 */

export interface LocalEnvironmentOptions {
  /** The workspace root (a checkout). */
  root: string;
  /** The complete environment for commands. Pass a fixed, secret-free list (PATH, HOME, LANG);
   * nothing is inherited from this process. */
  baseEnv: Readonly<Record<string, string>>;
  /** Default cap on captured output when a call gives none. */
  defaultMaxOutputBytes?: number;
  shell?: string;
}

/** A path given to readFile/writeFile/cwd leads outside the workspace. */
export class WorkspaceEscapeError extends Error {
  readonly code = "EOUTSIDE";
  constructor(path: string, why: string) {
    super(`${path}: ${why}; only paths inside the workspace can be used`);
    this.name = "WorkspaceEscapeError";
  }
}

export async function createLocalEnvironment(options: LocalEnvironmentOptions): Promise<Environment> {
  const root = await realpath(options.root);
  const shell = options.shell ?? "/bin/bash";
  const defaultCap = options.defaultMaxOutputBytes ?? 1_000_000;
  const running = new Set<ChildProcess>();
  let closed = false;

  const inside = (real: string) => real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);

  /** Lexical check, then the real path of the deepest existing part must stay inside the root:
   * a symlink anywhere on the way that points out is refused.
   *
   * File calls here are synchronous on purpose: each is tens of microseconds on a workspace
   * file, while an async call costs a thread-pool round trip (milliseconds on a loaded
   * machine), and an editor action makes several. It blocks the loop only for the read itself. */
  function confine(path: string): string {
    const lexical = resolveWorkspacePath(path, [root]);
    if (!lexical.ok) throw new WorkspaceEscapeError(path, lexical.error);
    const abs = join(root, lexical.relative);
    for (let probe = abs; ; probe = dirname(probe)) {
      let isLink = false;
      try {
        isLink = lstatSync(probe).isSymbolicLink();
        const real = realpathSync(probe);
        if (!inside(real)) throw new WorkspaceEscapeError(path, `resolves to ${real}, outside the workspace`);
        return abs;
      } catch (err) {
        if (err instanceof WorkspaceEscapeError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        // A dangling symlink: writing through it would create its target wherever it points.
        if (isLink) throw new WorkspaceEscapeError(path, "is a symbolic link whose target does not exist");
        if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
        if (probe === root || !inside(probe)) throw err;
      }
    }
  }

  function killGroup(child: ChildProcess): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  async function exec(command: string, execOptions: ExecOptions): Promise<ExecResult> {
    if (closed) throw new Error("the environment is closed");
    const started = performance.now();
    if (execOptions.signal?.aborted) {
      return { exitCode: null, output: "", truncated: false, durationMs: 0, killed: "cancelled" };
    }
    const cwd = execOptions.cwd ? confine(execOptions.cwd) : root;
    const cap = execOptions.maxOutputBytes ?? defaultCap;
    const headCap = Math.floor(cap / 2);
    const tailCap = cap - headCap;

    return new Promise<ExecResult>((resolve, reject) => {
      // stderr joins stdout in one pipe so the output interleaves as on a terminal. The
      // redirect is on its own first line: bash runs it before parsing the command, so even a
      // syntax error in the command lands in the same stream.
      const child = spawn(shell, ["-c", `exec 2>&1\n${command}`], {
        cwd,
        env: { ...options.baseEnv, ...execOptions.env },
        detached: true, // own process group, so the whole tree can be killed
        stdio: ["ignore", "pipe", "pipe"],
      });
      running.add(child);
      // Keep the first and the last halves of the cap; drop the middle of very long output.
      const head: Buffer[] = [];
      let headLen = 0;
      const tail: Buffer[] = [];
      let tailLen = 0;
      let total = 0;
      let killed: ExecResult["killed"];
      const onData = (data: Buffer) => {
        let chunk = data;
        total += chunk.length;
        if (headLen < headCap) {
          const take = chunk.subarray(0, headCap - headLen);
          head.push(take);
          headLen += take.length;
          chunk = chunk.subarray(take.length);
        }
        if (chunk.length > 0) {
          tail.push(chunk);
          tailLen += chunk.length;
          while (tail.length > 1 && tailLen - tail[0].length >= tailCap) tailLen -= tail.shift()!.length;
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);

      const stop = (reason: NonNullable<ExecResult["killed"]>) => {
        killed ??= reason;
        killGroup(child);
      };
      const timer = setTimeout(() => stop("timeout"), execOptions.timeoutMs);
      const onAbort = () => stop("cancelled");
      execOptions.signal?.addEventListener("abort", onAbort, { once: true });

      // The shell is done: anything it left in the background goes too.
      child.on("exit", () => killGroup(child));
      child.on("error", (err) => {
        clearTimeout(timer);
        execOptions.signal?.removeEventListener("abort", onAbort);
        running.delete(child);
        reject(new Error(`cannot run ${shell}: ${err.message}`));
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        execOptions.signal?.removeEventListener("abort", onAbort);
        running.delete(child);
        const truncated = total > cap;
        let output: string;
        if (!truncated) {
          output = Buffer.concat([...head, ...tail]).toString("utf8");
        } else {
          const tailBuf = Buffer.concat(tail);
          output =
            Buffer.concat(head).toString("utf8") +
            `\n[... ${total - headLen - tailCap} bytes of output dropped ...]\n` +
            tailBuf.subarray(tailBuf.length - tailCap).toString("utf8");
        }
        resolve({
          exitCode: killed ? null : code,
          output,
          truncated,
          durationMs: performance.now() - started,
          ...(killed ? { killed } : {}),
        });
      });
    });
  }

  return {
    root,
    description: "local directory (no sandbox)",
    exec,
    async readFile(path: string) {
      return readFileSync(confine(path));
    },
    async writeFile(path: string, data: string | Buffer) {
      const abs = confine(path);
      // Directories created here are new, so no symlink can sit in them.
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, data);
    },
    async close() {
      closed = true;
      for (const child of running) killGroup(child);
      running.clear();
    },
  };
}
