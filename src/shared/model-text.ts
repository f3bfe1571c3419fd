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
  return mapProse(cleaned, (prose) =>
    prose
      .replace(/<img\b[^>]*>/gi, "[image removed]")
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, (_m, alt: string) => `[image removed${alt ? `: ${alt}` : ""}]`)
      .replace(/!\[([^\]]*)\]\[[^\]]*\]/g, (_m, alt: string) => `[image removed${alt ? `: ${alt}` : ""}]`)
      .replace(/(^|[^\w`@/.])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))(?![\w@])/g, "$1`@$2`"),
  );
}

/** One line, for titles and list items. */
export function sanitizeLine(text: string, max = 200): string {
  const line = sanitizeModelText(text).replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Apply `fn` to the parts of markdown outside fenced code blocks and inline code spans. */
function mapProse(text: string, fn: (prose: string) => string): string {
  const out: string[] = [];
  const fence = /^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:\n\1?\2[`~]*[ \t]*(?=\n|$)|$)/gm;
  let last = 0;
  for (const m of text.matchAll(fence)) {
    out.push(mapInline(text.slice(last, m.index), fn), m[0]);
    last = m.index! + m[0].length;
  }
  out.push(mapInline(text.slice(last), fn));
  return out.join("");
}

function mapInline(text: string, fn: (prose: string) => string): string {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(/(`+)[^`]*?\1/g)) {
    out.push(fn(text.slice(last, m.index)), m[0]);
    last = m.index! + m[0].length;
  }
  out.push(fn(text.slice(last)));
  return out.join("");
}

/** A fence longer than any run of backticks in `body`, so code cannot close it early. */
export function fenceFor(body: string): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  return "`".repeat(longest + 1);
}
