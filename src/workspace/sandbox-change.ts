import type { Environment } from "../agent/environment.js";
import { DEFAULT_EXCLUDES } from "./publish.js";

/**
 * The agent's change inside its workspace, read and undone with git *inside the sandbox*, so the
 * fix can take several attempts on one checkout: capture an attempt's change as a patch, undo
 * it, put a winner back. Setup's output (node_modules, a venv) is never part of the change and is
 * never touched, so a retry does not reinstall.
 *
 * Trust: the sandbox's `.git` is the agent's to tamper with, which is why this runs there and
 * never on the host. What is published is read host-side by publish.ts, whatever git said here;
 * a tampered repository only spoils the agent's own retries, and then fails loudly.
 */
export interface ChangeStore {
  /** The change against the base, as a binary patch; "" when there is none. */
  capture(signal?: AbortSignal): Promise<string>;
  /** Paths changed, added or removed against the base. */
  paths(signal?: AbortSignal): Promise<string[]>;
  /** Undo a captured patch (back to the base plus whatever the patch did not cover). */
  revert(patch: string, signal?: AbortSignal): Promise<void>;
  /** Apply a captured patch. */
  apply(patch: string, signal?: AbortSignal): Promise<void>;
}

export class ChangeStoreError extends Error {
  constructor(what: string, output: string) {
    super(`${what}: ${output.trim().split("\n").slice(-3).join("; ").slice(0, 500) || "git failed"}`);
    this.name = "ChangeStoreError";
  }
}

const TIMEOUT_MS = 120_000;
const PATCH_FILE = ".git/iquest-change.patch";
const PATHS_FILE = ".git/iquest-paths";

/** `:(exclude)` pathspecs for the directories and files publish never takes. */
export function excludePathspecs(): string[] {
  return DEFAULT_EXCLUDES.map((e) => (e.endsWith("/") ? `':(exclude,glob)**/${e}**'` : `':(exclude,glob)**/${e}'`));
}

/**
 * What setup (the dependency install) left in the worktree: a lock file written by `npm install`,
 * generated sources. The agent's change is measured from here, and what setup wrote is not
 * published unless the agent changed it further (setupLeftovers()).
 */
export interface SetupSnapshot {
  /** The worktree after setup, as a tree in the sandbox's repository (the change store's base). */
  tree: string;
  /** Files setup created or modified, with their blob ids then. */
  wrote: Map<string, { blob: string; created: boolean }>;
}

export async function snapshotAfterSetup(env: Environment, commit: string, signal?: AbortSignal): Promise<SetupSnapshot> {
  const spec = `-- . ${excludePathspecs().join(" ")}`;
  const exec = async (what: string, command: string) => {
    const r = await env.exec(command, { timeoutMs: TIMEOUT_MS, maxOutputBytes: 16 * 1024 * 1024, ...(signal ? { signal } : {}) });
    if (r.exitCode !== 0 || r.killed || r.truncated) throw new ChangeStoreError(what, r.output || `git exited with ${r.exitCode ?? r.killed}`);
    return r.output;
  };
  const tree = (await exec("recording the worktree after setup", `git add -A ${spec} >/dev/null 2>&1 && git write-tree 2>/dev/null`)).trim();
  // :<old mode> <new mode> <old blob> <new blob> <status>\0<path>\0 per path setup changed.
  const raw = await exec("listing what setup wrote", `git -c core.quotePath=false diff --raw --no-abbrev --no-renames -z ${commit} ${tree} 2>/dev/null`);
  const fields = raw.split("\0");
  const wrote = new Map<string, { blob: string; created: boolean }>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const m = /^:\d+ \d+ [0-9a-f]+ ([0-9a-f]+) ([AM])/.exec(fields[i]!);
    if (m) wrote.set(fields[i + 1]!, { blob: m[1]!, created: m[2] === "A" });
  }
  return { tree, wrote };
}

/**
 * Setup's files that are still as setup left them, at publish time: created ones to leave out,
 * modified tracked ones to put back. A file the agent changed after setup is the agent's change.
 */
export async function setupLeftovers(env: Environment, snapshot: SetupSnapshot, signal?: AbortSignal): Promise<{ created: string[]; modified: string[] }> {
  const paths = [...snapshot.wrote.keys()].filter((p) => !p.includes("\n"));
  if (paths.length === 0) return { created: [], modified: [] };
  await env.writeFile(PATHS_FILE, paths.join("\n") + "\n");
  // One line per path; a file the agent deleted makes hash-object stop, and the paths from
  // there on count as changed (published as they are), never wrongly as setup's.
  const r = await env.exec(`git hash-object --stdin-paths < ${PATHS_FILE} 2>/dev/null`, { timeoutMs: TIMEOUT_MS, maxOutputBytes: 16 * 1024 * 1024, ...(signal ? { signal } : {}) });
  const hashes = r.output.split("\n");
  const created: string[] = [];
  const modified: string[] = [];
  paths.forEach((path, i) => {
    const then = snapshot.wrote.get(path)!;
    if (hashes[i]?.trim() !== then.blob) return;
    (then.created ? created : modified).push(path);
  });
  return { created, modified };
}

/** A gitignore line that matches exactly this path from the root (publish's `exclude`). */
export function literalIgnorePattern(path: string): string {
  return `/${path.replace(/[\\*?[\]!#]/g, "\\$&").replace(/ $/, "\\ ")}`;
}

/** A change store over a sandboxed git worktree whose base is `base` (a commit, or the tree snapshotAfterSetup() recorded). */
export function sandboxChangeStore(env: Environment, base: string): ChangeStore {
  const spec = `-- . ${excludePathspecs().join(" ")}`;
  // -N (intent to add) makes new files part of `git diff`; it changes only the sandbox's index.
  const stage = `git add -A -N ${spec} >/dev/null 2>&1`;
  const run = async (what: string, command: string, signal?: AbortSignal, maxOutputBytes = 64 * 1024 * 1024) => {
    const r = await env.exec(command, { timeoutMs: TIMEOUT_MS, maxOutputBytes, ...(signal ? { signal } : {}) });
    // stderr is silenced where stdout is the data (a warning would corrupt the patch), so a
    // failure there reads as its exit code.
    if (r.exitCode !== 0 || r.killed || r.truncated) {
      throw new ChangeStoreError(what, r.truncated ? "the change is larger than 64 MiB" : r.output || `git exited with ${r.exitCode ?? r.killed}`);
    }
    return r.output;
  };
  return {
    capture: (signal) => run("reading the change", `${stage} && git -c core.quotePath=false diff --binary --no-color --no-ext-diff --no-textconv ${base} ${spec} 2>/dev/null`, signal),
    async paths(signal) {
      const out = await run("listing the changed files", `${stage} && git -c core.quotePath=false diff --name-only -z ${base} ${spec} 2>/dev/null`, signal);
      return out.split("\0").filter(Boolean);
    },
    revert: (patch, signal) => applyInSandbox(env, patch, { reverse: true, ...(signal ? { signal } : {}) }),
    apply: (patch, signal) => applyInSandbox(env, patch, signal ? { signal } : {}),
  };
}

/**
 * `git apply [-R]` inside the sandbox: works on the worktree's files only (no index), so it
 * also serves the CLI's copy, whose change is read host-side.
 */
export async function applyInSandbox(env: Environment, patch: string, o: { reverse?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  if (!patch) return;
  await env.writeFile(PATCH_FILE, patch);
  const r = await env.exec(`git apply ${o.reverse ? "-R " : ""}--whitespace=nowarn ${PATCH_FILE} && rm -f ${PATCH_FILE}`, {
    timeoutMs: TIMEOUT_MS,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  if (r.exitCode !== 0 || r.killed) throw new ChangeStoreError(o.reverse ? "undoing the attempt's change" : "applying the chosen attempt's change", r.output);
}
