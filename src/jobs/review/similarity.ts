/**
 * "Near-identical text" for findings. A model asked twice about the same code rephrases itself
 * ("Off-by-one in the loop bound" / "Loop bound is off by one"), so texts are compared as sets
 * of content words, not as strings. The threshold is loose on purpose: it is only applied to two
 * findings on the same path whose code is the same, which is most of the evidence already.
 */

const STOPWORDS = new Set([
  "the", "and", "for", "are", "but", "not", "you", "all", "can", "has", "have", "this", "that", "with", "from", "into",
  "will", "when", "which", "there", "their", "then", "than", "its", "was", "were", "been", "being", "also", "should",
  "could", "would", "may", "might", "must", "does", "did", "here", "line", "lines", "code",
]);

export function contentWords(text: string): Set<string> {
  const words = text
    .toLowerCase()
    .split(/[^a-z0-9_]+/)
    .filter((w) => w.length >= 3 && !STOPWORDS.has(w));
  return new Set(words);
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let common = 0;
  for (const w of a) if (b.has(w)) common++;
  return common / (a.size + b.size - common);
}

export const SIMILAR_TEXT = 0.5;

export interface FindingText {
  title: string;
  /** The explanation, or its start (memory keeps the first few hundred characters). */
  text: string;
}

export function similarText(a: FindingText, b: FindingText): boolean {
  if (jaccard(contentWords(a.title), contentWords(b.title)) >= SIMILAR_TEXT) return true;
  return jaccard(contentWords(`${a.title} ${a.text}`), contentWords(`${b.title} ${b.text}`)) >= SIMILAR_TEXT;
}

/** How much of the explanation memory keeps for later comparisons. */
export const MEMORY_TEXT_CHARS = 300;
