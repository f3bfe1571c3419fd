import semver from "semver";

/**
 * The actions a repository's workflows use (`uses: owner/repo[/path]@ref`), and whether a newer
 * release exists. Information only: iquest-bot never changes `.github/workflows` (a dependency
 * bot that can rewrite CI is a supply-chain risk, and GitHub refuses workflow pushes without the
 * `workflows` permission, which the app does not ask for). Pure.
 */
export interface ActionUse {
  /** owner/repo */
  action: string;
  /** The ref after `@`: a tag (`v4`, `v4.1.0`), a branch, or a commit SHA. */
  ref: string;
  /** For a SHA pin, the version its trailing comment names (`# v4.1.0`), as Dependabot writes it. */
  comment?: string;
  file: string;
}

const USES = /^\s*(?:-\s+)?uses:\s*["']?([A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+)(?:\/[^@\s"']*)?@([A-Za-z0-9_./-]+)["']?\s*(?:#\s*(\S+))?/;

export function parseWorkflowUses(file: string, text: string): ActionUse[] {
  const out: ActionUse[] = [];
  for (const line of text.split("\n")) {
    const m = USES.exec(line);
    if (!m) continue;
    out.push({ action: m[1]!, ref: m[2]!, ...(m[3] ? { comment: m[3] } : {}), file });
  }
  return out;
}

export interface OutdatedAction {
  action: string;
  ref: string;
  latest: string;
  files: string[];
  detail: string;
}

const isSha = (ref: string) => /^[0-9a-f]{40}$/.test(ref);
const asVersion = (tag: string) => semver.coerce(tag.replace(/^v/, ""), { loose: true })?.version;
/** How many version parts a tag names: v4 → 1, v4.1 → 2, v4.1.0 → 3. */
const precision = (tag: string) => tag.replace(/^v/, "").split(/[-+]/)[0]!.split(".").length;

/**
 * The use, compared with the action's latest release tag; undefined when it is current (or cannot
 * be compared: a branch). A major tag (`v4`) follows its major, so only a newer major makes it
 * outdated; `v4.1` follows its minor; a full version or a SHA pin is outdated by any newer release.
 */
export function compareActionUse(use: Pick<ActionUse, "ref" | "comment">, latestTag: string): string | undefined {
  const latest = asVersion(latestTag);
  if (!latest) return undefined;
  if (isSha(use.ref)) {
    const pinned = use.comment ? asVersion(use.comment) : undefined;
    if (pinned && !semver.gt(latest, pinned)) return undefined;
    return pinned ? `pinned to a commit of ${use.comment}; ${latestTag} is the latest release` : `pinned to a commit; ${latestTag} is the latest release`;
  }
  const current = /^v?\d/.test(use.ref) ? asVersion(use.ref) : undefined;
  if (!current) return undefined; // a branch: it moves by itself
  const p = precision(use.ref);
  const behind = p === 1 ? semver.major(latest) > semver.major(current) : p === 2 ? semver.gt(`${semver.major(latest)}.${semver.minor(latest)}.0`, current) : semver.gt(latest, current);
  return behind ? `${latestTag} is out (this uses ${use.ref})` : undefined;
}
