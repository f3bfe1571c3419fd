import { splitCode } from "./markdown-code.js";
import { cleanUntrustedText } from "./untrusted-text.js";

/**
 * Model-written text on its way to GitHub. The model read untrusted code, so its words are
 * treated as untrusted too:
 * - hidden content (HTML comments, invisible characters) is removed, so nothing can hide in a
 *   review or forge the review's own hidden marker;
 * - images are replaced by their alt text: a markdown image is fetched by every reader's
 *   browser, which makes it a channel to send data out (REFERENCE part C, T15);
 * - `@mentions` are put in code spans, so a review cannot page people.
 * Code blocks and code spans are left as written (they render literally, and code has `@`s).
 * Secrets are the redactor's job, applied to the whole body afterwards.
 */
export function sanitizeModelText(text: string): string {
  const cleaned = cleanUntrustedText(text).text;
  return splitCode(cleaned)
    .map((s) => (s.code ? s.text : withoutMentions(withoutImages(s.text))))
    .join("");
}

/** One line, for titles and list items. */
export function sanitizeLine(text: string, max = 200): string {
  const line = sanitizeModelText(text).replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * An issue or PR title on its way into a PR title or a commit subject: hidden content out (so
 * the subject says what the maintainer saw), one line. Images and mentions are not markup in
 * titles, so they stay as written.
 */
export function cleanTitle(title: string, max = 120): string {
  const line = cleanUntrustedText(title).text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

// Elements that load a URL by themselves (or hold ones that do): replaced whole.
const MEDIA_TAG = /<\s*\/?\s*(?:img|image|picture|source|video|audio|track|svg|input|object|embed|iframe|frame|frameset|math)\b[^>]*>?/gi;
// Attributes that fetch on render, on any element that is left.
const FETCHING_ATTRIBUTE = /(<[A-Za-z][^>]*?)\s(?:src|srcset|poster|background|lowsrc|dynsrc|data|xlink:href)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*)/gi;

/**
 * Markdown and HTML images out of prose: `![alt](url)`, `![alt][ref]`, `![alt][]`, `![ref]`
 * (all become "[image removed: alt]"), and media elements. Any `![` that is not a complete
 * image (it might become one with text the sanitizer does not see, such as a code span in its
 * URL) is escaped, so GitHub shows it as text.
 */
function withoutImages(prose: string): string {
  let text = prose.replace(MEDIA_TAG, (tag) => (/^<\s*\//.test(tag) ? "" : "[image removed]"));
  for (let before = ""; before !== text; ) {
    before = text;
    text = text.replace(FETCHING_ATTRIBUTE, "$1");
  }
  const brackets = pairs(text, "[", "]");
  const parens = pairs(text, "(", ")");
  let out = "";
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf("![", i);
    if (at < 0) break;
    out += text.slice(i, at);
    if (escaped(text, at)) {
      out += "![";
      i = at + 2;
      continue;
    }
    const altEnd = brackets.get(at + 1);
    if (altEnd === undefined) {
      out += "\\![";
      i = at + 2;
      continue;
    }
    const alt = text.slice(at + 2, altEnd);
    let end = altEnd + 1;
    if (text[end] === "(") {
      const close = parens.get(end);
      end = close === undefined ? text.length : close + 1;
    } else if (text[end] === "[") {
      const close = brackets.get(end);
      if (close !== undefined) end = close + 1;
    }
    const shownAlt = sanitizeAlt(alt);
    out += `[image removed${shownAlt ? `: ${shownAlt}` : ""}]`;
    i = end;
  }
  return out + text.slice(i);
}

/** Alt text is shown as text: no nested images, no brackets that could start a link. */
function sanitizeAlt(alt: string): string {
  return withoutImages(alt).replace(/[[\]]/g, "").replace(/\s+/g, " ").trim().slice(0, 100);
}

/** Whether the character at `at` is escaped by an odd number of backslashes. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  for (let k = at - 1; k >= 0 && text[k] === "\\"; k--) n++;
  return n % 2 === 1;
}

/** Each opening bracket's closing bracket (nesting and backslash escapes), in one pass. */
function pairs(text: string, left: string, right: string): Map<number, number> {
  const out = new Map<number, number>();
  const open: number[] = [];
  for (let k = 0; k < text.length; k++) {
    const c = text[k];
    if (c === "\\") {
      k++;
      continue;
    }
    if (c === left) open.push(k);
    else if (c === right && open.length > 0) out.set(open.pop()!, k);
  }
  return out;
}

function withoutMentions(prose: string): string {
  return prose.replace(/(^|[^\w`@/.])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))(?![\w@])/g, "$1`@$2`");
}

/**
 * Text the model chose (a file name it wrote, say) shown as inline code: one line, hidden
 * characters out, and delimited by more backticks than it holds, so it cannot close the span
 * and turn the rest into markdown (an image, a mention).
 */
export function inlineCode(text: string): string {
  const flat = cleanUntrustedText(text).text.replace(/[\r\n]+/g, " ");
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  // CommonMark strips one space from each end when both are there: pad only when needed.
  const pad = /^[` ]|[` ]$/.test(flat) ? " " : "";
  return `${ticks}${pad}${flat}${pad}${ticks}`;
}

/** A fence longer than any run of backticks in `body`, so code cannot close it early. */
export function fenceFor(body: string): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  return "`".repeat(longest + 1);
}
