/**
 * Keep the head and the tail of long output, with a marker saying how much was cut. Test runs
 * and build logs put the command line at the top and the verdict at the bottom; the middle is
 * what a model can most afford to lose (IQuest's runs kept 40 + 40 lines of 80).
 */
export interface CutOptions {
  maxLines: number;
  maxChars: number;
}

export function cutMiddle(text: string, { maxLines, maxChars }: CutOptions): string {
  let out = text;
  const lines = out.split("\n");
  if (lines.length > maxLines) {
    const head = Math.ceil(maxLines / 2);
    const tail = Math.floor(maxLines / 2);
    const cut = lines.slice(head, lines.length - tail);
    const cutChars = cut.reduce((n, l) => n + l.length + 1, 0);
    out = [
      ...lines.slice(0, head),
      `[... ${cut.length} lines (${cutChars} characters) cut from the middle ...]`,
      ...lines.slice(lines.length - tail),
    ].join("\n");
  }
  if (out.length > maxChars) {
    const head = Math.ceil(maxChars / 2);
    const tail = Math.floor(maxChars / 2);
    const cutChars = out.length - head - tail;
    out = `${out.slice(0, head)}\n[... ${cutChars} characters cut from the middle ...]\n${out.slice(out.length - tail)}`;
  }
  return out;
}
