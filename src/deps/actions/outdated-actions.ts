import { createLimiter } from "../limit.js";
import type { RepoFiles } from "../types.js";
import { compareActionUse, parseWorkflowUses, type ActionUse, type OutdatedAction } from "./workflow-uses.js";

/**
 * The outdated actions in `.github/workflows`, for the dashboard: each action's latest release
 * asked once (`latestRelease`, the GitHub API; undefined when it has none or cannot be read), at
 * most `maxActions` distinct actions per run, four at a time.
 */
export interface ActionsReport {
  /** Distinct actions used. */
  used: number;
  outdated: OutdatedAction[];
  /** Actions whose latest release could not be read. */
  unchecked: string[];
}

export async function findOutdatedActions(files: RepoFiles, latestRelease: (owner: string, repo: string) => Promise<string | undefined>, options: { maxActions?: number } = {}): Promise<ActionsReport | undefined> {
  const names = (await files.listFiles?.(".github/workflows")) ?? [];
  const uses: ActionUse[] = [];
  for (const name of names.filter((n) => /\.ya?ml$/.test(n)).slice(0, 100)) {
    const path = `.github/workflows/${name}`;
    const text = await files.read(path);
    if (text !== undefined) uses.push(...parseWorkflowUses(path, text));
  }
  if (!uses.length) return undefined;
  const actions = [...new Set(uses.map((u) => u.action))].sort();
  const checked = actions.slice(0, options.maxActions ?? 30);
  const limit = createLimiter(4);
  const latest = new Map<string, string | undefined>();
  await Promise.all(
    checked.map((a) =>
      limit(async () => {
        const [owner, repo] = a.split("/") as [string, string];
        latest.set(a, await latestRelease(owner, repo).catch(() => undefined));
      }),
    ),
  );
  const outdated = new Map<string, OutdatedAction>();
  for (const u of uses) {
    const tag = latest.get(u.action);
    if (!tag) continue;
    const detail = compareActionUse(u, tag);
    if (!detail) continue;
    const key = `${u.action}@${u.ref}`;
    const entry = outdated.get(key) ?? { action: u.action, ref: u.ref, latest: tag, files: [], detail };
    if (!entry.files.includes(u.file)) entry.files.push(u.file);
    outdated.set(key, entry);
  }
  return { used: actions.length, outdated: [...outdated.values()], unchecked: [...checked.filter((a) => latest.get(a) === undefined), ...actions.slice(checked.length)] };
}
