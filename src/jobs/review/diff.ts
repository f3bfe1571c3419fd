/**
 * A pull request's diff as GitHub shows it, and which lines a review comment may sit on.
 *
 * GitHub's rule (REFERENCE part C): an inline comment must name a file in the PR's diff and a
 * line the diff shows on the chosen side. This bot only comments on the new side (RIGHT), so a
 * line qualifies when it is an added or a context line of one of the file's hunks; a multi-line
 * comment must start and end in the same hunk. Everything here is pure: it reads the `patch`
 * strings of `GET /pulls/{n}/files` and `GET /compare/{a}...{b}` (hunks only, no `diff --git`
 * header; GitHub leaves `patch` out for binary files and for diffs too large to show).
 */

export interface PatchLine {
  kind: "+" | "-" | " ";
  /** Line number on the old side (context and removed lines). */
  oldLine?: number;
  /** Line number on the new side (context and added lines). */
  newLine?: number;
  /** The line as the patch shows it, marker included (a CRLF file keeps its "\r"). */
  raw: string;
}

export interface PatchHunk {
  header: string;
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
  lines: PatchLine[];
  /** "\ No newline at end of file" markers, kept so the hunk text can be shown as it was. */
  text: string;
}

/** One file of a diff, as the REST API lists it. */
export interface DiffFileInput {
  filename: string;
  previous_filename?: string;
  status: string;
  additions: number;
  deletions: number;
  changes?: number;
  patch?: string;
}

export interface FileDiff {
  path: string;
  previousPath?: string;
  status: string;
  additions: number;
  deletions: number;
  /** GitHub sent no patch: a binary file, or a diff too large to show. */
  hasPatch: boolean;
  /** Without a patch, the size GitHub reported (additions + deletions). */
  changes: number;
  hunks: PatchHunk[];
  /** New-side line → index of the hunk that shows it (added and context lines). */
  rightLines: Map<number, number>;
  /** New-side lines the diff adds. */
  addedLines: Set<number>;
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/**
 * Parse a unified-diff patch (from the first `@@`). Hunk lengths come from the headers, so an
 * empty context line whose leading space was stripped on the way still counts, and anything
 * after a hunk's last line (a trailing newline) is not mistaken for content.
 */
export function parsePatch(patch: string): PatchHunk[] {
  const hunks: PatchHunk[] = [];
  const lines = patch.split("\n");
  let i = 0;
  while (i < lines.length) {
    const match = HUNK_HEADER.exec(lines[i]!);
    if (!match) {
      i++;
      continue;
    }
    const hunk: PatchHunk = {
      header: lines[i]!,
      oldStart: Number(match[1]),
      oldCount: match[2] === undefined ? 1 : Number(match[2]),
      newStart: Number(match[3]),
      newCount: match[4] === undefined ? 1 : Number(match[4]),
      lines: [],
      text: "",
    };
    const textLines = [hunk.header];
    let oldLeft = hunk.oldCount;
    let newLeft = hunk.newCount;
    let oldLine = hunk.oldStart;
    let newLine = hunk.newStart;
    i++;
    while (i < lines.length && (oldLeft > 0 || newLeft > 0 || lines[i]!.startsWith("\\"))) {
      const raw = lines[i]!;
      if (HUNK_HEADER.test(raw)) break;
      const marker = raw[0];
      if (marker === "\\") {
        textLines.push(raw);
      } else if (marker === "+") {
        if (newLeft === 0) break;
        hunk.lines.push({ kind: "+", newLine: newLine++, raw });
        newLeft--;
        textLines.push(raw);
      } else if (marker === "-") {
        if (oldLeft === 0) break;
        hunk.lines.push({ kind: "-", oldLine: oldLine++, raw });
        oldLeft--;
        textLines.push(raw);
      } else {
        if (oldLeft === 0 || newLeft === 0) break;
        hunk.lines.push({ kind: " ", oldLine: oldLine++, newLine: newLine++, raw: raw === "" ? " " : raw });
        oldLeft--;
        newLeft--;
        textLines.push(raw);
      }
      i++;
    }
    hunk.text = textLines.join("\n");
    hunks.push(hunk);
  }
  return hunks;
}

export function indexFile(input: DiffFileInput): FileDiff {
  const hunks = input.patch ? parsePatch(input.patch) : [];
  const rightLines = new Map<number, number>();
  const addedLines = new Set<number>();
  hunks.forEach((hunk, index) => {
    for (const line of hunk.lines) {
      if (line.newLine === undefined) continue;
      rightLines.set(line.newLine, index);
      if (line.kind === "+") addedLines.add(line.newLine);
    }
  });
  return {
    path: input.filename,
    ...(input.previous_filename ? { previousPath: input.previous_filename } : {}),
    status: input.status,
    additions: input.additions,
    deletions: input.deletions,
    hasPatch: input.patch !== undefined && input.patch !== "",
    changes: input.changes ?? input.additions + input.deletions,
    hunks,
    rightLines,
    addedLines,
  };
}

/** The PR's diff, by path. */
export type DiffIndex = Map<string, FileDiff>;

export function indexDiff(files: readonly DiffFileInput[]): DiffIndex {
  return new Map(files.map((f) => [f.filename, indexFile(f)]));
}

/**
 * May a comment span new-side lines `start`..`end` of `path`? Both ends must be lines the diff
 * shows on the new side, in one hunk (a hunk's new-side lines are contiguous, so every line in
 * between is shown too).
 */
export function canComment(diff: DiffIndex, path: string, start: number, end: number): boolean {
  const file = diff.get(path);
  if (!file || start > end) return false;
  const a = file.rightLines.get(start);
  const b = file.rightLines.get(end);
  return a !== undefined && a === b;
}

/**
 * What a review covers on a later push: per path, the new-side lines the new commits touched
 * (their hunks, context included) that are still part of the PR's diff, and those hunks' text
 * to show the model. A file the new commits changed but the PR does not (a merge from the base
 * branch, a change reverted) is left out: it is not the PR's change.
 */
export interface ScopeFile {
  path: string;
  lines: Set<number>;
  hunks: PatchHunk[];
}

export type Scope = Map<string, ScopeFile>;

export function mapIncrement(pr: DiffIndex, increment: readonly DiffFileInput[]): Scope {
  const scope: Scope = new Map();
  for (const input of increment) {
    const file = pr.get(input.filename);
    if (!file || !input.patch) continue;
    const hunks: PatchHunk[] = [];
    const lines = new Set<number>();
    for (const hunk of parsePatch(input.patch)) {
      let touches = false;
      for (const line of hunk.lines) {
        if (line.newLine !== undefined && file.rightLines.has(line.newLine)) {
          lines.add(line.newLine);
          touches = true;
        }
      }
      // A hunk that only removes lines has no new-side line of its own: the lines around the
      // removal are what a reviewer would comment on, and they are context lines of the hunk.
      if (touches) hunks.push(hunk);
    }
    if (hunks.length > 0) scope.set(file.path, { path: file.path, lines, hunks });
  }
  return scope;
}

/** Does the range start..end touch the scope (undefined scope: the whole PR is in scope)? */
export function inScope(scope: Scope | undefined, path: string, start: number, end: number): boolean {
  if (!scope) return true;
  const file = scope.get(path);
  if (!file) return false;
  for (let l = start; l <= end; l++) if (file.lines.has(l)) return true;
  return false;
}
