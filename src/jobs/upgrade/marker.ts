/**
 * The hidden marker an upgrade PR carries: which versions it proposed. GitHub's state is the
 * record, not Redis: a closed, unmerged PR's marker says "these versions were declined", and an
 * open PR's says what it already holds, so a lost Redis forgets nothing. Pure.
 */
export interface MarkedUpdate {
  name: string;
  manifest: string;
  version: string;
}

const PREFIX = "<!-- iquest-upgrade ";
const SUFFIX = " -->";

export function upgradeMarker(group: string, updates: readonly MarkedUpdate[]): string {
  // JSON inside an HTML comment: "--" cannot appear in names, versions or paths we write, but escape anyway.
  const json = JSON.stringify({ v: 1, group, updates: updates.map((u) => [u.name, u.manifest, u.version]) }).replace(/--/g, "\\u002d\\u002d");
  return `${PREFIX}${json}${SUFFIX}`;
}

export function readUpgradeMarker(body: string | null | undefined): { group: string; updates: MarkedUpdate[] } | undefined {
  if (!body) return undefined;
  const start = body.indexOf(PREFIX);
  if (start < 0) return undefined;
  const end = body.indexOf(SUFFIX, start + PREFIX.length);
  if (end < 0) return undefined;
  try {
    const data = JSON.parse(body.slice(start + PREFIX.length, end)) as { v?: unknown; group?: unknown; updates?: unknown };
    if (data.v !== 1 || typeof data.group !== "string" || !Array.isArray(data.updates)) return undefined;
    const updates = data.updates
      .filter((u): u is [string, string, string] => Array.isArray(u) && u.length === 3 && u.every((x) => typeof x === "string"))
      .map(([name, manifest, version]) => ({ name, manifest, version }));
    return { group: data.group, updates };
  } catch {
    return undefined;
  }
}

export const DASHBOARD_MARKER = "<!-- iquest-dependency-dashboard -->";
export const HANDS_OFF_MARKER = "<!-- iquest-upgrade-hands-off -->";
