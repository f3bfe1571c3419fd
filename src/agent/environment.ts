/**
 * The agent's seam to the world it works in: run a command, read and write files. The agent
 * loop and its tools know only this interface. Implementations:
 * - `src/workspace/sandbox.ts`: bubblewrap over a job's git worktree (production and tests);
 * - a plain local directory (the CLI with SANDBOX=none, and unit tests of the loop).
 */

export interface ExecOptions {
  /** Hard wall-clock limit; the whole process tree is killed when it passes. */
  timeoutMs: number;
  /** Aborting kills the command's process tree at once (`/iquest stop`, shutdown). */
  signal?: AbortSignal;
  /** Working directory relative to the workspace root (default: the root). */
  cwd?: string;
  /** Extra environment variables (the base environment is a fixed, secret-free list). */
  env?: Record<string, string>;
  /** Allow network for this command (setup/install phase only, when config allows). */
  network?: boolean;
  /** Cap on captured output; the rest is dropped and `truncated` is set. */
  maxOutputBytes?: number;
}

export type KillReason = "timeout" | "cancelled" | "output-limit" | "memory" | "pids" | "file-size";

export interface ExecResult {
  /** Exit status; null when the process was killed by a signal. */
  exitCode: number | null;
  /** stdout and stderr interleaved, as a terminal would show them. */
  output: string;
  /** Output was longer than maxOutputBytes and was cut. */
  truncated: boolean;
  durationMs: number;
  /** Set when the command was stopped by a limit or a cancel rather than ending by itself. */
  killed?: KillReason;
}

export interface Environment {
  /** Absolute host path of the workspace root. */
  readonly root: string;
  /** Human-readable name for logs and job cards, e.g. "bwrap sandbox" or "local directory (no sandbox)". */
  readonly description: string;
  exec(command: string, options: ExecOptions): Promise<ExecResult>;
  /** Read a file by path relative to the root; rejects paths that leave the root (symlinks included). */
  readFile(path: string): Promise<Buffer>;
  /** Write a file by path relative to the root, creating directories; same confinement. */
  writeFile(path: string, data: string | Buffer): Promise<void>;
  /** Release resources (temp dirs, processes). Idempotent. */
  close(): Promise<void>;
}
