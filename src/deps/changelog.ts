/**
 * The part of a changelog that covers an upgrade: the sections whose heading names a version
 * after the current one, up to and including the new one. Headings are markdown (`#`…`######`),
 * setext (a line of `=` or `-` under the title) or History.md style ("2.0.0 / 2024-01-31").
 * Ecosystem-neutral: the caller says which versions are in range. Pure.
 */
export interface ChangelogExcerpt {
  text: string;
  /** True when no heading named a version in range and the top of the file is given instead. */
  fallback: boolean;
  truncated: boolean;
}

const VERSION = /\bv?(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?)\b/;

export function changelogExcerpt(text: string, inRange: (version: string) => boolean, maxChars: number): ChangelogExcerpt | undefined {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const headings: Array<{ line: number; version?: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const next = lines[i + 1] ?? "";
    const isAtx = /^#{1,6}\s/.test(line);
    const isSetext = line.trim() !== "" && /^(=+|-+)\s*$/.test(next) && next.trim().length >= 3;
    const isHistory = /^v?\d+\.\d+(\.\d+)?\S*\s*(\/|-|–|\()\s*\S/.test(line) || /^v?\d+\.\d+\.\d+\S*\s*$/.test(line);
    if (!isAtx && !isSetext && !isHistory) continue;
    headings.push({ line: i, version: VERSION.exec(line)?.[1] });
  }
  const picked: string[] = [];
  for (let h = 0; h < headings.length; h++) {
    const { line, version } = headings[h]!;
    if (!version || !inRange(normalize(version))) continue;
    const end = headings[h + 1]?.line ?? lines.length;
    picked.push(lines.slice(line, end).join("\n").trim());
  }
  const body = picked.length ? picked.join("\n\n") : text.trim();
  if (!body) return undefined;
  const limit = picked.length ? maxChars : Math.floor(maxChars / 2);
  return { text: body.length > limit ? `${body.slice(0, limit)}\n…` : body, fallback: picked.length === 0, truncated: body.length > limit };
}

/** "1.2" → "1.2.0", so a two-part heading compares as a version. */
function normalize(version: string): string {
  return /^\d+\.\d+$/.test(version) ? `${version}.0` : version;
}
