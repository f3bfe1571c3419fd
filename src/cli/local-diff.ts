import type { Git } from "../workspace/git.js";
import type { DiffFileInput } from "../jobs/review/diff.js";
import { UsageError } from "./args.js";

/**
 * What `iquest-bot review` reviews: the commits of HEAD since its merge base with a base ref,
 * as the same per-file records GitHub's "list pull request files" gives the review job
 * (filename, status, counts, the patch; no patch for a binary file), so the review's plan,
 * gate and summary work on it unchanged.
 */
export interface LocalRange {
  base: string;
  /** The ref the user named (or the default found). */
  baseRef: string;
  mergeBase: string;
  head: string;
  /** "feature" or "HEAD (detached)". */
  headName: string;
  files: DiffFileInput[];
  /** The range's commit subjects and bodies, oldest first: the "PR description". */
  messages: string;
}

/** The base to compare with: --base, else the remote's default branch, else main. */
export async function defaultBaseRef(git: Git, top: string): Promise<string> {
  const remoteHead = await git(["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], { cwd: top, okExitCodes: [1, 128] });
  if (remoteHead.code === 0 && remoteHead.stdout.trim()) return remoteHead.stdout.trim();
  return "main";
}

export async function localRange(git: Git, top: string, baseRef: string): Promise<LocalRange> {
  const base = await git(["rev-parse", "--verify", "--quiet", `${baseRef}^{commit}`], { cwd: top, okExitCodes: [1, 128] });
  if (base.code !== 0) throw new UsageError(`--base ${baseRef}: no such branch, tag or commit here${baseRef === "main" ? " (pass --base with the branch to compare with)" : ""}`);
  const head = (await git(["rev-parse", "HEAD"], { cwd: top })).stdout.trim();
  const mb = await git(["merge-base", base.stdout.trim(), head], { cwd: top, okExitCodes: [1] });
  if (mb.code !== 0) throw new UsageError(`HEAD and ${baseRef} have no common history: nothing to compare`);
  const mergeBase = mb.stdout.trim();
  const branch = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd: top, okExitCodes: [1] });
  const flags = ["--no-color", "--no-ext-diff", "--no-textconv", "-M"];
  const status = (await git(["diff", ...flags, "--name-status", "-z", mergeBase, head], { cwd: top })).stdout.split("\0");
  const numstat = (await git(["diff", ...flags, "--numstat", "-z", mergeBase, head], { cwd: top })).stdout;
  const counts = parseNumstat(numstat);
  // One diff for the whole range, cut at its `diff --git` headers: git writes the files in the
  // same order as --name-status with the same options, so the pieces pair up with the statuses.
  const whole = (await git(["diff", ...flags, "--unified=3", mergeBase, head], { cwd: top })).stdout;
  const pieces = whole.split(/^(?=diff --git )/m).filter((p) => p.startsWith("diff --git "));
  const files: DiffFileInput[] = [];
  for (let i = 0; i < status.length; ) {
    const code = status[i++];
    if (!code) continue;
    const kind = code[0]!;
    const from = status[i++]!;
    const to = kind === "R" || kind === "C" ? status[i++]! : from;
    const c = counts.get(to) ?? { additions: 0, deletions: 0, binary: false };
    // From the first hunk on, as GitHub gives it; none for a binary file or a pure rename.
    const piece = pieces[files.length] ?? "";
    const hunks = c.binary ? -1 : piece.search(/^@@ /m);
    const patch = hunks >= 0 ? piece.slice(hunks) : undefined;
    files.push({
      filename: to,
      ...(from !== to ? { previous_filename: from } : {}),
      status: kind === "A" ? "added" : kind === "D" ? "removed" : kind === "R" ? "renamed" : kind === "C" ? "copied" : "modified",
      additions: c.additions,
      deletions: c.deletions,
      changes: c.additions + c.deletions,
      ...(patch ? { patch } : {}),
    });
  }
  const messages = (await git(["log", "--reverse", "--format=%s%n%n%b", `${mergeBase}..${head}`], { cwd: top })).stdout.trim();
  return { base: base.stdout.trim(), baseRef, mergeBase, head, headName: branch.code === 0 ? branch.stdout.trim() : "HEAD (detached)", files, messages };
}

/** `--numstat -z`: "added\tdeleted\tpath\0", or for a rename "added\tdeleted\t\0from\0to\0"; "-" counts for binary files. */
function parseNumstat(text: string): Map<string, { additions: number; deletions: number; binary: boolean }> {
  const out = new Map<string, { additions: number; deletions: number; binary: boolean }>();
  const parts = text.split("\0");
  for (let i = 0; i < parts.length; i++) {
    const m = /^(\d+|-)\t(\d+|-)\t(.*)$/s.exec(parts[i]!);
    if (!m) continue;
    let path = m[3]!;
    if (path === "") {
      i += 2; // a rename: from, then to
      path = parts[i] ?? "";
    }
    const binary = m[1] === "-";
    out.set(path, { additions: binary ? 0 : Number(m[1]), deletions: binary ? 0 : Number(m[2]), binary });
  }
  return out;
}
