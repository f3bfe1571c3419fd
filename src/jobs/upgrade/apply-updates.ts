import type { Environment } from "../../agent/environment.js";
import { createDirFiles } from "../../deps/dir-files.js";
import { ManifestChangedError, type Ecosystem, type FindPolicy } from "../../deps/ecosystem.js";
import type { ProposedUpdate } from "../../deps/types.js";
import { cancelledFromSignal } from "../../shared/errors.js";
import { setupFailureLine } from "../../workspace/setup-failure.js";

/**
 * Apply one group's updates in a workspace, per ecosystem in the group: the manifests rewritten
 * host-side, then each package manager's lock step in the sandbox (with network where it needs
 * the registry), then read back what the files hold. Shared by the upgrade job (work-on-group.ts)
 * and `iquest-bot upgrade` (cli/upgrade-apply.ts), so both apply a group the same way.
 *
 * `updates` are the group's own copies: when the package manager locked a different (newer,
 * allowed) version than proposed, `newVersion` is moved to it and a note says so.
 */
export interface EcosystemPart {
  ecosystem: Ecosystem;
  updates: ProposedUpdate[];
  lockFile: string | undefined;
}

export type ApplyResult = { ok: true; bumpFiles: string[]; notes: string[] } | { ok: false; error: string; notes: string[] };

/** A group's updates split by ecosystem (a group may hold npm, Go and Python updates: one branch, each tool for its files). */
export function ecosystemParts(ecosystems: readonly Ecosystem[], lockFiles: ReadonlyMap<string, string | undefined>, updates: readonly ProposedUpdate[]): EcosystemPart[] {
  return ecosystems
    .map((ecosystem) => ({ ecosystem, updates: updates.filter((u) => u.ecosystem === ecosystem.id), lockFile: lockFiles.get(ecosystem.id) }))
    .filter((p) => p.updates.length > 0);
}

export async function applyUpdates(
  env: Pick<Environment, "root" | "exec" | "writeFile">,
  parts: readonly EcosystemPart[],
  options: { policy: Pick<FindPolicy, "now" | "minimumAgeMs">; timeoutMs: number; signal?: AbortSignal },
): Promise<ApplyResult> {
  const files = createDirFiles(env.root);
  const bumpFiles: string[] = [];
  const notes: string[] = [];
  const fail = (error: string): ApplyResult => ({ ok: false, error, notes });
  for (const part of parts) {
    const stepFiles: string[] = [];
    let edits: Map<string, string>;
    try {
      edits = await part.ecosystem.editManifests(files, part.updates);
    } catch (err) {
      if (!(err instanceof ManifestChangedError)) throw err;
      return fail(`\`${err.manifest}\` changed while the run read it; the next run will start from the new content`);
    }
    for (const [path, text] of edits) await env.writeFile(path, text);
    for (const step of await part.ecosystem.lockSteps(part.updates, options.policy, part.lockFile, files)) {
      stepFiles.push(...(step.files ?? []));
      if (step.prepare) for (const [path, text] of await step.prepare(files)) await env.writeFile(path, text);
      const r = await env.exec(step.command, { timeoutMs: options.timeoutMs, network: step.network, ...(options.signal ? { signal: options.signal } : {}) });
      if (options.signal?.aborted) throw cancelledFromSignal(options.signal);
      if (r.exitCode !== 0 || r.killed) {
        // The package manager's own reason (its error code line), else the output's last lines.
        const reason = setupFailureLine(r.output, 400) ?? r.output.trim().split("\n").slice(-6).join(" ⏎ ").slice(-600);
        return fail(`\`${step.command.split(" --")[0]}\` could not ${step.why} (exit ${r.exitCode ?? r.killed}): ${reason}`);
      }
    }
    for (const c of await part.ecosystem.check(files, part.updates, part.lockFile)) {
      const u = c.update;
      if (c.value !== u.newValue) return fail(`\`${u.manifest}\` does not hold \`${u.name}@${u.newValue}\` after the update`);
      if (part.lockFile && c.locked !== u.newVersion) {
        if (!c.locked || c.locked === u.currentVersion) return fail(`${u.name} stayed at ${c.locked ?? "(absent)"} in \`${part.lockFile}\`; ${part.ecosystem.id} did not take ${u.newVersion}`);
        notes.push(`${part.ecosystem.id} locked \`${u.name}\` ${c.locked} where ${u.newVersion} was proposed (the newest version the range allows that is old enough).`);
        u.newVersion = c.locked;
      }
    }
    bumpFiles.push(...edits.keys(), ...(part.lockFile ? [part.lockFile] : []));
    for (const f of stepFiles) if (!bumpFiles.includes(f) && (await files.read(f)) !== undefined) bumpFiles.push(f);
  }
  return { ok: true, bumpFiles, notes };
}

/** After the agent's repair: do the manifests and lock files still hold the upgraded versions? */
export async function versionsIntact(root: string, parts: readonly EcosystemPart[]): Promise<boolean> {
  const files = createDirFiles(root);
  return (await Promise.all(parts.map((p) => p.ecosystem.check(files, p.updates, p.lockFile)))).flat().every((c) => c.ok);
}
