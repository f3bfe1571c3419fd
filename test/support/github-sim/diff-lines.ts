import type { BareRepo } from "./git.js";

/**
 * A pull request's diff, computed by real git the way GitHub computes it (three-dot: from the
 * merge base of base and head to head), and the rules GitHub applies to review comments on it:
 * a comment must name a path in the diff and a line that the diff shows on the chosen side.
 */

export type Side = "LEFT" | "RIGHT";

export interface DiffLine {
  kind: " " | "+" | "-" | "\\";
  oldLine?: number;
  newLine?: number;
  /** GitHub's (deprecated) `position`: lines below the file's first @@ header, headers included. */
  position: number;
  text: string;
}

export interface Hunk {
  header: string;
  oldStart: number;
  newStart: number;
  /** Position of the @@ header line itself (0 for the first hunk). */
  headerPosition: number;
  lines: DiffLine[];
}

export type FileStatus = "added" | "removed" | "modified" | "renamed" | "copied" | "changed";

export interface FileDiff {
  filename: string;
  previousFilename?: string;
  status: FileStatus;
  additions: number;
  deletions: number;
  /** The hunks as GitHub's `patch` field shows them (no `diff --git`/`---`/`+++` header). */
  patch?: string;
  binary: boolean;
  hunks: Hunk[];
}

const STATUS: Record<string, FileStatus> = { A: "added", D: "removed", M: "modified", R: "renamed", C: "copied", T: "changed" };

/** The diff between two commits, file by file. */
export async function diffCommits(repo: BareRepo, from: string, to: string): Promise<FileDiff[]> {
  const common = ["-M", "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/"];
  // Names come from the NUL-separated listing (no quoting to undo); patches from the unified
  // diff, split at each "diff --git". Both list files in the same order.
  const names = (await repo.text(["diff", ...common, "--name-status", "-z", from, to])).split("\0");
  const entries: Array<{ status: FileStatus; filename: string; previousFilename?: string }> = [];
  for (let i = 0; i < names.length && names[i]; ) {
    const code = names[i]![0]!;
    if (code === "R" || code === "C") {
      entries.push({ status: STATUS[code]!, previousFilename: names[i + 1]!, filename: names[i + 2]! });
      i += 3;
    } else {
      entries.push({ status: STATUS[code] ?? "modified", filename: names[i + 1]! });
      i += 2;
    }
  }
  const patchText = await repo.text(["diff", ...common, "-U3", from, to]);
  const sections = splitSections(patchText);
  if (sections.length !== entries.length) {
    throw new Error(`diff listing (${entries.length} files) and patch (${sections.length} sections) disagree`);
  }
  return entries.map((e, i) => ({ ...e, ...parseSection(sections[i]!) }));
}

/** The PR's diff: merge-base(base, head) → head. */
export async function pullRequestDiff(repo: BareRepo, baseSha: string, headSha: string): Promise<FileDiff[]> {
  const mergeBase = (await repo.mergeBase(baseSha, headSha)) ?? baseSha;
  return diffCommits(repo, mergeBase, headSha);
}

function splitSections(text: string): string[] {
  const sections: string[][] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("diff --git ")) sections.push([line]);
    else sections[sections.length - 1]?.push(line);
  }
  return sections.map((lines) => lines.join("\n"));
}

export function parseSection(section: string): Omit<FileDiff, "filename" | "previousFilename" | "status"> {
  const lines = section.replace(/\n$/, "").split("\n");
  const first = lines.findIndex((l) => l.startsWith("@@"));
  const binary = lines.some((l) => /^Binary files .* differ$/.test(l) || l === "GIT binary patch");
  if (first < 0) return { additions: 0, deletions: 0, binary, hunks: [] };
  const body = lines.slice(first);
  const hunks: Hunk[] = [];
  let additions = 0;
  let deletions = 0;
  let oldLine = 0;
  let newLine = 0;
  body.forEach((text, position) => {
    const header = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
    if (header) {
      oldLine = Number(header[1]);
      newLine = Number(header[2]);
      hunks.push({ header: text, oldStart: oldLine, newStart: newLine, headerPosition: position, lines: [] });
      return;
    }
    const hunk = hunks[hunks.length - 1]!;
    const kind = (text[0] ?? " ") as DiffLine["kind"];
    if (kind === "+") {
      hunk.lines.push({ kind, newLine: newLine++, position, text });
      additions++;
    } else if (kind === "-") {
      hunk.lines.push({ kind, oldLine: oldLine++, position, text });
      deletions++;
    } else if (kind === "\\") {
      hunk.lines.push({ kind, position, text });
    } else {
      hunk.lines.push({ kind: " ", oldLine: oldLine++, newLine: newLine++, position, text });
    }
  });
  return { additions, deletions, binary, hunks, patch: body.join("\n") };
}

/** The hunk that shows `line` on `side`, or undefined: GitHub's "Line could not be resolved". */
export function hunkForLine(file: FileDiff, line: number, side: Side): Hunk | undefined {
  return file.hunks.find((h) => h.lines.some((l) => (side === "RIGHT" ? l.newLine === line && l.kind !== "-" : l.oldLine === line && l.kind !== "+")));
}

/** Map a `position` to the line and side it names, or undefined when it is not a diff line. */
export function lineForPosition(file: FileDiff, position: number): { line: number; side: Side } | undefined {
  for (const h of file.hunks) {
    const l = h.lines.find((x) => x.position === position);
    if (!l || l.kind === "\\") continue;
    if (l.kind === "-") return { line: l.oldLine!, side: "LEFT" };
    return { line: l.newLine!, side: "RIGHT" };
  }
  return undefined;
}

/** The position of a line on a side (what GitHub reports back in `position`). */
export function positionForLine(file: FileDiff, line: number, side: Side): number | undefined {
  for (const h of file.hunks) {
    for (const l of h.lines) {
      if (side === "RIGHT" && l.kind !== "-" && l.newLine === line) return l.position;
      if (side === "LEFT" && l.kind !== "+" && l.oldLine === line) return l.position;
    }
  }
  return undefined;
}

/** GitHub's `diff_hunk` for a comment: the hunk from its header down to the commented line. */
export function diffHunkFor(file: FileDiff, line: number, side: Side): string | undefined {
  const hunk = hunkForLine(file, line, side);
  if (!hunk) return undefined;
  const out = [hunk.header];
  for (const l of hunk.lines) {
    out.push(l.text);
    if (side === "RIGHT" ? l.kind !== "-" && l.newLine === line : l.kind !== "+" && l.oldLine === line) break;
  }
  return out.join("\n");
}

export interface CommentAnchor {
  path: string;
  line?: number;
  side?: Side;
  start_line?: number;
  start_side?: Side;
  position?: number;
  subject_type?: "line" | "file";
}

export interface ResolvedAnchor {
  path: string;
  line?: number;
  side?: Side;
  startLine?: number;
  startSide?: Side;
  position?: number;
  subjectType: "line" | "file";
  diffHunk?: string;
}

/**
 * Check one review comment against the diff the way GitHub does, returning the error text
 * GitHub answers with (a 422) or the anchor it stores.
 */
export function resolveAnchor(files: FileDiff[], anchor: CommentAnchor): { error: string } | { anchor: ResolvedAnchor } {
  const file = files.find((f) => f.filename === anchor.path);
  if (!file) return { error: "Path could not be resolved" };
  if (anchor.subject_type === "file") return { anchor: { path: file.filename, subjectType: "file" } };
  let line = anchor.line;
  let side: Side = anchor.side ?? "RIGHT";
  if (line === undefined) {
    if (anchor.position === undefined) return { error: "Line could not be resolved" };
    const at = lineForPosition(file, anchor.position);
    if (!at) return { error: "Position could not be resolved" };
    line = at.line;
    side = at.side;
  }
  if (side !== "LEFT" && side !== "RIGHT") return { error: `Side "${String(side)}" is not LEFT or RIGHT` };
  const hunk = hunkForLine(file, line, side);
  if (!hunk) return { error: "Line could not be resolved" };
  const resolved: ResolvedAnchor = {
    path: file.filename,
    line,
    side,
    position: positionForLine(file, line, side),
    subjectType: "line",
    diffHunk: diffHunkFor(file, line, side),
  };
  if (anchor.start_line !== undefined) {
    const startSide: Side = anchor.start_side ?? side;
    const startHunk = hunkForLine(file, anchor.start_line, startSide);
    if (!startHunk) return { error: "Start line could not be resolved" };
    if (startHunk !== hunk) return { error: "pull_request_review_thread.start_line must be part of the same hunk as the line." };
    const startPos = positionForLine(file, anchor.start_line, startSide)!;
    if (startPos >= resolved.position!) return { error: "pull_request_review_thread.start_line must precede the end line." };
    resolved.startLine = anchor.start_line;
    resolved.startSide = startSide;
  }
  return { anchor: resolved };
}
