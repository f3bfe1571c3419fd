import { findSecrets } from "../shared/redact.js";
import type { Violation } from "./errors.js";

/**
 * What the bot may publish, as pure functions over a diff. publish.ts gathers the facts with git;
 * this decides. Every rule reports the path and the reason, never the offending content.
 */

export const BOT_BRANCH_PREFIX = "iquest/";

/** Why a branch name is refused, or null when it is an acceptable bot branch. */
export function branchProblem(branch: string): string | null {
  if (typeof branch !== "string" || !branch) return "no branch given";
  if (branch.startsWith("+")) return `"${branch}" is a force-push refspec; the bot never force-pushes`;
  if (branch.includes(":")) return `"${branch}" is a refspec, not a branch name`;
  if (branch.startsWith("refs/")) return `"${branch}" must be a branch name under ${BOT_BRANCH_PREFIX}, not a ref`;
  if (!branch.startsWith(BOT_BRANCH_PREFIX)) return `"${branch}" is not a bot branch: the bot pushes only to ${BOT_BRANCH_PREFIX}… branches`;
  if (branch.length > 200) return "branch name is too long";
  if (!/^iquest\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/.test(branch)) return `"${branch}" has characters git or the bot does not allow`;
  for (const part of branch.split("/")) {
    if (part.startsWith(".") || part.endsWith(".lock") || part.endsWith(".")) return `"${branch}" is not a valid branch name`;
  }
  if (branch.includes("..") || branch.includes("@{")) return `"${branch}" is not a valid branch name`;
  return null;
}

export interface ChangedFile {
  path: string;
  /** A added, M modified, D deleted, T type changed. */
  status: string;
  oldMode: string;
  newMode: string;
  newSha: string;
  /** Size of the new blob; undefined for deletions and non-blobs. */
  size?: number;
}

/** Parse `git diff-tree -r -z --raw --no-renames`. */
export function parseRawDiff(raw: string): ChangedFile[] {
  const parts = raw.split("\0");
  const files: ChangedFile[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const meta = parts[i]!;
    const path = parts[i + 1]!;
    const m = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])\d*$/.exec(meta.trim());
    if (!m) continue;
    files.push({ oldMode: m[1]!, newMode: m[2]!, newSha: m[4]!, status: m[5]!, path });
  }
  return files;
}

export interface PolicyOptions {
  maxFileBytes: number;
}

/** Structural rules: workflows, submodules, sizes. */
export function checkChangedFiles(files: readonly ChangedFile[], options: PolicyOptions): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    const lower = f.path.toLowerCase();
    if (lower.startsWith(".github/workflows/")) {
      out.push({
        kind: "workflow",
        path: f.path,
        detail:
          "changes to GitHub Actions workflows are not allowed: this app has no `workflows` permission, " +
          "and workflows run with the repository's secrets. A maintainer has to make this change.",
      });
    }
    if (f.path === ".gitmodules" || f.oldMode === "160000" || f.newMode === "160000") {
      out.push({ kind: "submodule", path: f.path, detail: "submodule changes are not allowed" });
    }
    if (f.size !== undefined && f.size > options.maxFileBytes) {
      out.push({
        kind: "too-large",
        path: f.path,
        detail: `file is ${f.size} bytes, over the ${options.maxFileBytes}-byte limit`,
      });
    }
  }
  return out;
}

/**
 * Scan the added lines of a unified diff (`git diff -U0`) for secrets. Reports file and line
 * number with the kind of secret, never the secret.
 */
export function scanAddedLines(unifiedDiff: string, known: readonly string[] = []): Violation[] {
  const out: Violation[] = [];
  let path = "";
  let line = 0;
  for (const text of unifiedDiff.split("\n")) {
    if (text.startsWith("+++ ")) {
      path = text.startsWith("+++ b/") ? text.slice(6) : text.slice(4);
      continue;
    }
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
    if (hunk) {
      line = Number(hunk[1]);
      continue;
    }
    if (text.startsWith("+")) {
      const kinds = findSecrets(text.slice(1), known);
      if (kinds.length) out.push({ kind: "secret", path, detail: `line ${line} looks like a ${kinds.join(" / ")}` });
      line++;
    }
  }
  // One report per file and kind is enough for the user.
  const seen = new Set<string>();
  return out.filter((v) => {
    const key = `${v.path}\0${v.detail.replace(/^line \d+ /, "")}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Parse `git push --porcelain` for our one ref. */
export function parsePushStatus(porcelain: string): { flag: string; summary: string } | null {
  for (const line of porcelain.split("\n")) {
    const m = /^([ +\-*=!])\t[^\t]*\t(.*)$/.exec(line);
    if (m) return { flag: m[1]!, summary: m[2]!.trim() };
  }
  return null;
}
