/** Intake limits as operators write them (INTAKE_SENDER_LIMIT, INTAKE_INSTALLATION_LIMIT). */

/** At most `count` requests per `windowSeconds` (a fixed window from the first request). */
export interface Limit {
  count: number;
  windowSeconds: number;
}

/**
 * "6/10m", "100/1h", "20/30s"; "0" or "off" turns the limit off (undefined).
 */
export function parseLimit(text: string): Limit | undefined {
  const t = text.trim().toLowerCase();
  if (t === "0" || t === "off") return undefined;
  const m = /^(\d{1,7})\s*\/\s*(\d{1,6})\s*(s|m|h)$/.exec(t);
  if (!m) throw new Error(`"${text}" is not a limit: write COUNT/WINDOW, e.g. 6/10m, 300/1h, or "off"`);
  const count = Number(m[1]);
  const windowSeconds = Number(m[2]) * (m[3] === "h" ? 3600 : m[3] === "m" ? 60 : 1);
  if (count === 0) return undefined;
  if (windowSeconds === 0) throw new Error(`"${text}": the window must be longer than 0`);
  return { count, windowSeconds };
}

export function describeLimit(limit: Limit): string {
  const w = limit.windowSeconds;
  const window = w % 3600 === 0 ? `${w / 3600} h` : w % 60 === 0 ? `${w / 60} min` : `${w} s`;
  return `${limit.count} per ${window}`;
}

