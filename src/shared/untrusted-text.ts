import { splitMarkdown } from "./markdown-code.js";

/**
 * Clean untrusted text (issue bodies, comments, PR descriptions) before it reaches a prompt.
 *
 * A maintainer reads the *rendered* issue on GitHub and decides to trigger the bot; the model
 * reads the *raw* markdown. Anything that renders invisibly is therefore a channel for prompt
 * injection that the maintainer never saw (REFERENCE part C, T6 and test 13). We remove:
 *
 * - HTML comments `<!-- … -->` (an unclosed `<!--` hides the rest of the text on GitHub, so it
 *   is removed to the end), except inside code spans and fenced code blocks, where GitHub shows
 *   them literally;
 * - the markdown "comment" idiom `[anything]: # (text)` / `[anything]: <> (text)`, which renders
 *   as nothing;
 * - invisible code points: zero-width characters, bidirectional controls, Unicode tag characters
 *   (U+E0000–E007F, "ASCII smuggling"), variation-selector supplement (U+E0100–E01EF), soft
 *   hyphens, invisible fillers and C0/C1 controls other than tab and newline;
 * - HTML entities that decode to any of those invisible code points (`&#8203;`, `&zwj;`, …).
 *   Other entities are left as written: they render visibly.
 *
 * The result says how much was removed, so a caller can tell the user ("2 hidden comments were
 * ignored") instead of silently dropping text.
 */

export interface CleanedText {
  text: string;
  removed: {
    htmlComments: number;
    markdownComments: number;
    invisibleCharacters: number;
    hiddenEntities: number;
  };
}

// Zero-width and formatting characters, bidi controls, tag characters, the variation selector
// supplement, soft hyphen, fillers that render blank, interlinear annotation marks, and control
// characters except \t \n \r.
const INVISIBLE_CLASS =
  "[\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF0-\\uFFFB\\u{E0000}-\\u{E007F}\\u{E0100}-\\u{E01EF}\\u{1D173}-\\u{1D17A}]";
const INVISIBLE = new RegExp(INVISIBLE_CLASS, "gu");
const INVISIBLE_ONE = new RegExp(`^${INVISIBLE_CLASS}$`, "u");

// Emoji presentation selector U+FE0F (and text selector U+FE0E) are legitimate in visible
// emoji; only a selector that does not follow a symbol could hide data, but 16 values carry
// little, so we keep these two and strip the rest of the range.
const KEEP_SELECTORS = /[\uFE0E\uFE0F]/u;

const NAMED_HIDDEN_ENTITIES: Record<string, string> = {
  zwj: "\u200D",
  zwnj: "\u200C",
  lrm: "\u200E",
  rlm: "\u200F",
  shy: "\u00AD",
  zerowidthspace: "\u200B",
  nobreak: "\u2060",
  invisibletimes: "\u2062",
  invisiblecomma: "\u2063",
  it: "\u2062",
  ic: "\u2063",
  af: "\u2061",
  applyfunction: "\u2061",
  negativeverythinmathspace: "\u200B",
  negativethinspace: "\u200B",
  negativemediumspace: "\u200B",
  negativethickspace: "\u200B",
};

function isInvisible(ch: string): boolean {
  return !KEEP_SELECTORS.test(ch) && INVISIBLE_ONE.test(ch);
}

function decodeEntity(entity: string): string | undefined {
  const body = entity.slice(1, -1);
  if (body.startsWith("#x") || body.startsWith("#X")) {
    const cp = Number.parseInt(body.slice(2), 16);
    return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : undefined;
  }
  if (body.startsWith("#")) {
    const cp = Number.parseInt(body.slice(1), 10);
    return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : undefined;
  }
  return NAMED_HIDDEN_ENTITIES[body.toLowerCase()];
}

export function cleanUntrustedText(input: string): CleanedText {
  const removed = { htmlComments: 0, markdownComments: 0, invisibleCharacters: 0, hiddenEntities: 0 };

  // 1. Entities that decode to invisible characters. Done first so that "&#8203;" cannot be used
  //    to split "<!-" + "-" and dodge the comment pattern.
  let text = input.replace(/&(?:#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]{2,32});/g, (entity) => {
    const decoded = decodeEntity(entity);
    if (decoded !== undefined && isInvisible(decoded)) {
      removed.hiddenEntities++;
      return "";
    }
    return entity;
  });

  // 2. Invisible code points, everywhere (they hide in code blocks just as well).
  text = text.replace(INVISIBLE, (ch) => {
    if (KEEP_SELECTORS.test(ch)) return ch;
    removed.invisibleCharacters++;
    return "";
  });

  // 3. HTML comments and markdown comment idioms, outside code.
  text = splitMarkdown(text, { comments: true })
    .map((part) => {
      if (part.kind === "code") return part.text;
      if (part.kind === "comment") {
        removed.htmlComments++;
        return "";
      }
      return part.text.replace(/^[ \t]{0,3}\[[^\]\n]*\]:[ \t]*(?:#|<>)(?:[ \t]+(?:\([^\n]*\)|"[^\n]*"|'[^\n]*'))?[ \t]*$/gm, () => {
        removed.markdownComments++;
        return "";
      });
    })
    .join("");

  return { text, removed };
}

/** Total number of hidden things removed, for a one-line notice. */
export function countRemoved(cleaned: CleanedText): number {
  const r = cleaned.removed;
  return r.htmlComments + r.markdownComments + r.invisibleCharacters + r.hiddenEntities;
}
