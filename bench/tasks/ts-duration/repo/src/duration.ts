const UNITS: Record<string, number> = { s: 1, m: 1, h: 3600 };

export function parseDuration(text: string): number {
  const m = /^(\d+)([smh])$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}
