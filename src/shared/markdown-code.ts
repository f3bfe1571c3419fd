/**
 * Where GitHub renders markdown literally: fenced code blocks and inline code spans. Text
 * sanitizers leave those alone and clean the rest ("prose").
 *
 * A region wrongly taken as code would shelter what the sanitizer must remove (an image that
 * phones home), while a region wrongly taken as prose only loses a little formatting. So every
 * doubt is settled towards prose:
 * - a fence opens only as CommonMark opens one (0–3 spaces, 3+ backticks or tildes, no backtick
 *   in a backtick fence's info string) and closes on a line of the same character at least as
 *   long; an unclosed fence runs to the end (as on GitHub), but an indented fence (possibly in
 *   a list item) also ends at the first line indented less than its opener;
 * - a code span is a run of n backticks closed by the next run of exactly n, not across a blank
 *   line; a backslash-escaped backtick opens nothing; backticks inside an HTML tag or an
 *   autolink open nothing (those take precedence over code spans);
 * - indented code blocks count as prose.
 */

export interface Segment {
  code: boolean;
  text: string;
}

const OPENER = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const CLOSER = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
// An HTML open or closing tag, or an autolink, at the start of the string (CommonMark's shapes).
const HTML_TAG =
  /^(?:<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)*\s*\/?>|<\/[A-Za-z][A-Za-z0-9-]*\s*>|<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>)/;

/** Split markdown into code and prose, in order; joining the texts gives the input back. */
export function splitCode(text: string): Segment[] {
  const out: Segment[] = [];
  const lines = text.split(/(?<=\n)/); // keep the newlines
  let prose = "";
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const open = OPENER.exec(line.replace(/\r?\n$/, ""));
    if (open && !(open[2]![0] === "`" && open[3]!.includes("`"))) {
      const indent = open[1]!.length;
      const fence = open[2]!;
      let j = i + 1;
      let end = lines.length; // exclusive
      for (; j < lines.length; j++) {
        const body = lines[j]!.replace(/\r?\n$/, "");
        const close = CLOSER.exec(body);
        if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) {
          end = j + 1;
          break;
        }
        if (indent > 0 && body.trim() !== "" && body.length - body.trimStart().length < indent) {
          end = j;
          break;
        }
      }
      out.push(...splitInline(prose));
      prose = "";
      out.push({ code: true, text: lines.slice(i, end).join("") });
      i = end;
      continue;
    }
    prose += line;
    i++;
  }
  out.push(...splitInline(prose));
  return out.filter((s) => s.text !== "");
}

/** Code spans in text outside fences. */
function splitInline(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "\\") {
      i += 2; // an escaped character (a backtick included) is literal
      continue;
    }
    if (ch === "<") {
      const tag = HTML_TAG.exec(text.slice(i, i + 4096));
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
    const close = findCloser(text, j, n);
    if (close === undefined) {
      i = j; // an unmatched run is literal backticks
      continue;
    }
    if (i > last) out.push({ code: false, text: text.slice(last, i) });
    out.push({ code: true, text: text.slice(i, close + n) });
    i = last = close + n;
  }
  if (last < text.length) out.push({ code: false, text: text.slice(last) });
  return out;
}

/** The start of the next run of exactly `n` backticks from `from`, before a blank line. */
function findCloser(text: string, from: number, n: number): number | undefined {
  let k = from;
  while (k < text.length) {
    const c = text[k]!;
    if (c === "`") {
      let m = k;
      while (text[m] === "`") m++;
      if (m - k === n) return k;
      k = m;
      continue;
    }
    if (c === "\n" && /^\n[ \t]*(?:\r?\n|$)/.test(text.slice(k, k + 200))) return undefined;
    k++;
  }
  return undefined;
}
