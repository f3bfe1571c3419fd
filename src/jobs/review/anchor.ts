import { createHash } from "node:crypto";

/**
 * Where a finding really is. Models are good at quoting code and bad at counting lines, so the
 * quote decides: it must be found in the file at the PR's head (or the finding is dropped: it
 * quotes code that does not exist), and the finding is anchored on the lines where it was found,
 * the occurrence nearest to the line the model named. Pure.
 */

export interface AnchoredQuote {
  startLine: number;
  endLine: number;
  /** The file's lines start..end, without line endings. */
  code: string[];
  /** The replacement as whole lines for start..end, when one was given and it changes something. */
  suggestion?: string[];
  /** A replacement was given but cannot be shown as a suggestion (the quote did not cover whole lines). */
  suggestionDropped?: boolean;
}

export type AnchorResult = { ok: true; anchor: AnchoredQuote } | { ok: false; reason: "empty-quote" | "quote-not-found" };

/** Longest quote that is still looked for; a finding is about a few lines, not a file. */
export const MAX_QUOTE_LINES = 200;

export function splitFileLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  return lines.map(stripCr);
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** The quote's lines, without blank lines around it and without the editor's line numbers. */
function quoteLines(quote: string): string[] {
  let lines = quote.split("\n").map(stripCr);
  while (lines.length && lines[0]!.trim() === "") lines.shift();
  while (lines.length && lines[lines.length - 1]!.trim() === "") lines.pop();
  // Copied from `view` output: "    12\tcode". Strip only when every line has the prefix.
  if (lines.length && lines.every((l) => /^\s*\d+\t/.test(l))) lines = lines.map((l) => l.replace(/^\s*\d+\t/, ""));
  return lines;
}

export function anchorQuote(fileText: string, quote: string, replacement: string | undefined, nearLine: number): AnchorResult {
  const file = splitFileLines(fileText);
  const q = quoteLines(quote);
  if (q.length === 0 || q.every((l) => l.trim() === "")) return { ok: false, reason: "empty-quote" };
  if (q.length > MAX_QUOTE_LINES) return { ok: false, reason: "quote-not-found" };
  const trimmed = file.map((l) => l.trim());
  const qt = q.map((l) => l.trim());

  const candidates: Array<{ start: number; whole: boolean }> = [];
  if (qt.length === 1) {
    const needle = qt[0]!;
    trimmed.forEach((l, i) => {
      if (l === needle) candidates.push({ start: i, whole: true });
    });
    if (candidates.length === 0 && needle.length >= 3) {
      file.forEach((l, i) => {
        if (l.includes(needle)) candidates.push({ start: i, whole: false });
      });
    }
  } else {
    for (let i = 0; i + qt.length <= trimmed.length; i++) {
      let whole = true;
      let ok = true;
      for (let k = 0; k < qt.length && ok; k++) {
        const line = trimmed[i + k]!;
        const want = qt[k]!;
        if (line === want) continue;
        // The first and last quoted lines may be cut (the model quoted from mid-line).
        const edge = (k === 0 && line.endsWith(want)) || (k === qt.length - 1 && line.startsWith(want));
        if (edge && want.length > 0) whole = false;
        else ok = false;
      }
      if (ok) candidates.push({ start: i, whole });
    }
  }
  if (candidates.length === 0) return { ok: false, reason: "quote-not-found" };

  const target = nearLine - 1;
  const best = candidates.reduce((a, b) => (Math.abs(b.start - target) < Math.abs(a.start - target) ? b : a));
  const startLine = best.start + 1;
  const endLine = best.start + qt.length;
  const code = file.slice(best.start, best.start + qt.length);
  const anchor: AnchoredQuote = { startLine, endLine, code };

  if (replacement !== undefined) {
    let lines: string[] | undefined;
    if (best.whole) {
      lines = replacementLines(replacement);
    } else if (qt.length === 1) {
      // A quote from inside one line: the suggestion is that line with the quote replaced.
      const line = code[0]!;
      const at = line.indexOf(qt[0]!);
      lines = replacementLines(line.slice(0, at) + replacement + line.slice(at + qt[0]!.length));
    }
    if (lines === undefined) anchor.suggestionDropped = true;
    else if (lines.join("\n") !== code.join("\n")) anchor.suggestion = lines;
  }
  return { ok: true, anchor };
}

function replacementLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n").map(stripCr);
  if (text.endsWith("\n")) lines.pop();
  return lines;
}

/** A hash of the code under a finding that ignores indentation and blank lines. */
export function codeHash(code: readonly string[]): string {
  const normal = code
    .map((l) => l.trim().replace(/\s+/g, " "))
    .filter((l) => l !== "")
    .join("\n");
  return createHash("sha256").update(normal).digest("hex").slice(0, 16);
}
