/**
 * Where GitHub renders markdown literally (fenced code blocks, code spans) and, optionally,
 * where it hides text (HTML comments). Text sanitizers leave code alone and clean the rest.
 *
 * One left-to-right scan, as CommonMark reads: whichever construct starts first wins, so a
 * comment written inside code is shown (kept as code) and backticks inside a comment are hidden
 * with it. A region wrongly taken as code would shelter what a sanitizer must remove (a hidden
 * instruction, an image that phones home), while a region wrongly taken as prose only loses a
 * little formatting. So every doubt is settled towards prose:
 * - a fence opens only as CommonMark opens one (0–3 spaces, 3+ backticks or tildes, no backtick
 *   in a backtick fence's info string) and closes on a line of the same character at least as
 *   long; an unclosed fence runs to the end (as on GitHub), but an indented fence (possibly in
 *   a list item) also ends at the first line indented less than its opener;
 * - a code span is a run of n backticks closed by the next run of exactly n on the same line
 *   (GitHub lets one cross lines inside a paragraph; we do not, since a heading, a list item or
 *   a fence can end the paragraph); a backslash-escaped backtick opens nothing, and backticks
 *   inside an HTML tag or an autolink open nothing (those take precedence);
 * - indented code blocks count as prose;
 * - an HTML comment runs to `-->`, or to the end when unclosed (GitHub hides the rest).
 */

export interface Segment {
  kind: "prose" | "code" | "comment";
  text: string;
}

const OPENER = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const CLOSER = /^( *)(`{3,}|~{3,})[ \t]*$/;
// An HTML open or closing tag, or an autolink, at the start of the string (CommonMark's shapes).
const HTML_TAG =
  /(?:<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)*\s*\/?>|<\/[A-Za-z][A-Za-z0-9-]*\s*>|<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>)/y;

/** Split markdown into prose, code and (with `comments`) HTML comments; the texts join back to the input. */
export function splitMarkdown(text: string, options: { comments?: boolean } = {}): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  const push = (kind: Segment["kind"], from: number, to: number) => {
    if (from > last) out.push({ kind: "prose", text: text.slice(last, from) });
    out.push({ kind, text: text.slice(from, to) });
    last = to;
  };
  // Runs of n backticks with no closer up to the end of line E: n → E. A later run of the same
  // length on that line has none either, so long lines of backticks stay linear.
  const noCloser = new Map<number, number>();
  let i = 0;
  while (i < text.length) {
    if (i === 0 || text[i - 1] === "\n") {
      const end = fenceEnd(text, i);
      if (end !== undefined) {
        push("code", i, end);
        i = end;
        continue;
      }
    }
    const ch = text[i]!;
    if (ch === "\\") {
      i += 2; // an escaped character (a backtick included) is literal
      continue;
    }
    if (ch === "<") {
      if (options.comments && text.startsWith("<!--", i)) {
        const close = text.indexOf("-->", i + 4);
        const end = close < 0 ? text.length : close + 3;
        push("comment", i, end);
        i = end;
        continue;
      }
      HTML_TAG.lastIndex = i;
      const tag = HTML_TAG.exec(text);
      i += tag ? tag[0].length : 1;
      continue;
    }
    if (ch !== "`") {
      i++;
      continue;
    }
    let j = i;
    while (text[j] === "`") j++;
    const n = j - i;
    const lineEnd = endOfLine(text, j);
    const close = noCloser.get(n) === lineEnd ? undefined : findCloser(text, j, n);
    if (close === undefined) {
      noCloser.set(n, lineEnd);
      i = j; // an unmatched run is literal backticks
      continue;
    }
    push("code", i, close + n);
    i = close + n;
  }
  if (last < text.length) out.push({ kind: "prose", text: text.slice(last) });
  return out;
}

/** Code and prose only (for text whose comments are already gone). */
export function splitCode(text: string): Array<{ code: boolean; text: string }> {
  return splitMarkdown(text).map((s) => ({ code: s.kind === "code", text: s.text }));
}

/** If a fence opens on the line starting at `start`, where its block ends (exclusive). */
function fenceEnd(text: string, start: number): number | undefined {
  const lineEnd = endOfLine(text, start);
  const open = OPENER.exec(text.slice(start, lineEnd).replace(/\r$/, ""));
  if (!open || (open[2]![0] === "`" && open[3]!.includes("`"))) return undefined;
  const indent = open[1]!.length;
  const fence = open[2]!;
  let pos = lineEnd < text.length ? lineEnd + 1 : lineEnd;
  while (pos < text.length) {
    const end = endOfLine(text, pos);
    const body = text.slice(pos, end).replace(/\r$/, "");
    const close = CLOSER.exec(body);
    if (close && close[1]!.length <= indent + 3 && close[2]![0] === fence[0] && close[2]!.length >= fence.length) {
      return end < text.length ? end + 1 : end;
    }
    if (indent > 0 && body.trim() !== "" && body.length - body.trimStart().length < indent) return pos;
    pos = end < text.length ? end + 1 : end;
  }
  return text.length;
}

function endOfLine(text: string, from: number): number {
  const nl = text.indexOf("\n", from);
  return nl < 0 ? text.length : nl;
}

/** The start of the next run of exactly `n` backticks on the same line, or undefined. */
function findCloser(text: string, from: number, n: number): number | undefined {
  let k = from;
  while (k < text.length && text[k] !== "\n") {
    if (text[k] === "`") {
      let m = k;
      while (text[m] === "`") m++;
      if (m - k === n) return k;
      k = m;
      continue;
    }
    k++;
  }
  return undefined;
}
