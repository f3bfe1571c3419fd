import { ManifestChangedError, type AppliedCheck, type Ecosystem, type Findings, type FindPolicy, type LockStep } from "../ecosystem.js";
import { ignoredRanges, isIgnored } from "../ignore.js";
import { RegistryError, RegistryFailures } from "../registry-error.js";
import type { Dependency, PackageMeta, ProposedUpdate, RepoFiles, ScanProblem } from "../types.js";
import { setDependencyValue } from "./edit-manifest.js";
import { readJsLock, type JsLock, type JsManager } from "./js-locks.js";
import { managerLabel, pinThenReleaseSteps } from "./js-managers.js";
import { FOREIGN_LOCKS, LOCK_FILES } from "./lockfile.js";
import { dependenciesOf, localNames, readManifests } from "./manifest.js";
import { mergeRegistries, parseNpmrc, parseYarnrc, parseYarnrcYml, registryFor } from "./npmrc.js";
import { proposeUpdates } from "./propose.js";
import type { NpmRegistryClient } from "./registry.js";
import { npmReleaseNotes } from "./release-notes.js";
import { classifySpec, respec } from "./spec.js";

/**
 * The npm registry's packages, for the three managers that use it: package.json files (the root
 * and its workspaces, npm's/yarn's `workspaces` or pnpm-workspace.yaml), the lock file
 * (package-lock.json or npm-shrinkwrap.json, pnpm-lock.yaml, yarn.lock classic or berry: js-locks.ts),
 * the registries as that manager reads them (`.npmrc`, `.yarnrc`, `.yarnrc.yml`), and the real
 * manager in the sandbox for the lock file (npm directly; pnpm and yarn through corepack:
 * js-managers.ts). bun's lock files are recognised and reported as not supported.
 */
export interface NpmEcosystemOptions {
  /** Registry for packages the project's `.npmrc` does not place elsewhere. */
  defaultRegistry: string;
  client: NpmRegistryClient;
}

export const NPM_LOCK_FLAGS = "--package-lock-only --ignore-scripts --no-audit --no-fund";

export function createNpmEcosystem(options: NpmEcosystemOptions): Ecosystem {
  const { client } = options;

  /**
   * The lock file and the package manager that writes it. The first lock file found decides
   * (npm's, then pnpm's, then yarn's); without one, `packageManager` does. A `packageManager` that
   * names another manager than the lock file is a conflict corepack would refuse: said, nothing proposed.
   */
  async function readLock(files: RepoFiles, packageManager: unknown): Promise<{ manager: JsManager; file?: string; lock?: JsLock; problem?: ScanProblem; conflict?: ScanProblem; foreign?: ScanProblem }> {
    const pinned = typeof packageManager === "string" ? /^(npm|pnpm|yarn)@(\d+)/.exec(packageManager.trim()) : null;
    for (const file of LOCK_FILES) {
      const text = await files.read(file);
      if (text === undefined) continue;
      const read = readJsLock(file, text);
      const manager = "lock" in read ? read.lock.manager : read.manager;
      if (pinned && pinned[1] !== manager.replace("-berry", "")) {
        return { manager, file, conflict: { kind: "config", manifest: "package.json", message: `\`packageManager\` names ${pinned[1]} but the lock file is \`${file}\` (${managerLabel(manager)}); corepack would refuse to run either, so nothing was proposed` } };
      }
      if ("error" in read) {
        return { manager, file, problem: { kind: "lockfile", manifest: file, message: `\`${file}\` is ${read.error}; versions were compared with the ranges' floors and ${managerLabel(manager)} will rewrite it` } };
      }
      return { manager, file, lock: read.lock };
    }
    for (const [foreign, manager] of Object.entries(FOREIGN_LOCKS)) {
      if ((await files.read(foreign)) !== undefined) {
        return { manager: "npm", foreign: { kind: "unsupported", manifest: foreign, message: `\`${foreign}\` found: ${manager} projects are not upgraded yet (npm, pnpm and yarn are), so nothing was proposed` } };
      }
    }
    const manager: JsManager = !pinned ? "npm" : pinned[1] === "yarn" ? (Number(pinned[2]) >= 2 ? "yarn-berry" : "yarn") : (pinned[1] as JsManager);
    return { manager };
  }

  return {
    id: "npm",

    async find(files, policy): Promise<Findings | undefined> {
      const read = await readManifests(files);
      if (!read) return undefined;
      const findings: Findings = { ecosystem: "npm", dependencies: [], updates: [], skipped: [], problems: [...read.problems] };
      if (read.manifests.length === 0) return findings;

      const { manager, file: lockFile, lock, problem: lockProblem, conflict, foreign } = await readLock(files, read.manifests[0]!.json.packageManager);
      if (conflict || foreign) {
        findings.problems.push((conflict ?? foreign)!);
        return findings;
      }
      if (lockProblem) findings.problems.push(lockProblem);
      if (!lockFile) {
        findings.problems.push({
          kind: "lockfile",
          message: `No \`${manager === "npm" ? "package-lock.json" : manager === "pnpm" ? "pnpm-lock.yaml" : "yarn.lock"}\`: versions were compared with the ranges' floors, and only \`package.json\` changes (no lock file is created)`,
        });
      } else {
        findings.lockFile = lockFile;
      }

      // Where packages come from, as the manager reads it: yarn berry only `.yarnrc.yml`; npm,
      // pnpm and yarn classic `.npmrc` (classic also its `.yarnrc`).
      const rc =
        manager === "yarn-berry"
          ? parseYarnrcYml((await files.read(".yarnrc.yml")) ?? "")
          : mergeRegistries(parseNpmrc((await files.read(".npmrc")) ?? ""), manager === "yarn" ? parseYarnrc((await files.read(".yarnrc")) ?? "") : undefined);
      for (const message of rc.problems) findings.problems.push({ kind: "config", manifest: manager === "yarn-berry" ? ".yarnrc.yml" : ".npmrc", message });

      const local = localNames(read.manifests);
      for (const manifest of read.manifests) {
        const { deps, skipped, problems } = dependenciesOf(manifest, local);
        findings.skipped.push(...skipped);
        findings.problems.push(...problems);
        for (const d of deps) {
          const locked = lock?.locked(manifest.dir, d.key, d.value);
          findings.dependencies.push({
            ecosystem: "npm",
            name: d.name,
            ...(d.alias ? { alias: d.key } : {}),
            depType: d.depType,
            manifest: manifest.path,
            currentValue: d.range,
            ...(locked ? { currentVersion: locked } : {}),
            registry: registryFor(d.name, rc, options.defaultRegistry),
          });
        }
      }

      const wanted: Dependency[] = [];
      for (const dep of findings.dependencies) {
        if (isIgnored(dep.name, policy.ignore)) {
          findings.skipped.push({ name: dep.name, manifest: dep.manifest, reason: "ignored", detail: "ignored by `upgrade.ignore`" });
        } else wanted.push(dep);
      }
      // All lookups at once (the client bounds what is in flight and asks once per package).
      const metas = await Promise.all(wanted.map((dep) => client.packument(dep.name, dep.registry).then((meta) => ({ meta }), (error: unknown) => ({ error }))));
      const failures = new RegistryFailures();
      for (let i = 0; i < wanted.length; i++) {
        const dep = wanted[i]!;
        const got = metas[i]!;
        if ("error" in got) {
          if (!(got.error instanceof RegistryError)) throw got.error;
          failures.add(got.error, dep.name);
          continue;
        }
        const proposal = proposeUpdates(dep, (got as { meta: PackageMeta }).meta, {
          now: policy.now,
          minimumAgeMs: policy.minimumAgeMs,
          ignoreRanges: ignoredRanges(dep.name, policy.ignore),
        });
        findings.updates.push(...proposal.updates);
        findings.skipped.push(...proposal.skipped);
      }
      findings.problems.push(...failures.problems());
      return findings;
    },

    async editManifests(files, updates) {
      const texts = new Map<string, string>();
      for (const u of updates) {
        if (u.newValue === u.currentValue) continue;
        const text = texts.get(u.manifest) ?? (await files.read(u.manifest));
        if (text === undefined) throw new ManifestChangedError(u.manifest, u.name);
        const key = u.alias ?? u.name;
        const raw = (JSON.parse(text) as Record<string, Record<string, unknown> | undefined>)[u.depType]?.[key];
        if (typeof raw !== "string") throw new ManifestChangedError(u.manifest, u.name);
        const spec = classifySpec(raw);
        const range = spec.kind === "range" || spec.kind === "alias" ? spec.range : undefined;
        if (range !== u.currentValue) throw new ManifestChangedError(u.manifest, u.name);
        const next = setDependencyValue(text, u.depType, key, raw, respec(spec, u.newValue));
        if (next === null) throw new ManifestChangedError(u.manifest, u.name);
        texts.set(u.manifest, next);
      }
      return texts;
    },

    async lockSteps(updates, policy, lockFile, files): Promise<LockStep[]> {
      if (!lockFile) return [];
      const text = await files.read(lockFile);
      const manager: JsManager = lockFile === "pnpm-lock.yaml" ? "pnpm" : lockFile === "yarn.lock" ? (text !== undefined && /^__metadata:/m.test(text) ? "yarn-berry" : "yarn") : "npm";
      if (manager !== "npm") return pinThenReleaseSteps(manager, updates, lockFile);
      // --before: npm itself then never picks a version younger than the minimum age, for the
      // updated packages and for whatever they newly pull in.
      const before = policy.minimumAgeMs > 0 ? ` --before=${new Date(policy.now - policy.minimumAgeMs).toISOString()}` : "";
      const steps: LockStep[] = [];
      if (updates.some((u) => u.newValue !== u.currentValue)) {
        steps.push({ command: `npm install ${NPM_LOCK_FLAGS}${before}`, network: true, why: "resolve the new ranges into the lock file" });
      }
      const lockOnly = [...new Set(updates.filter((u) => u.newValue === u.currentValue).map((u) => u.alias ?? u.name))];
      if (lockOnly.length) {
        // Names are validated package names (no shell metacharacters); quoted anyway.
        steps.push({ command: `npm update ${NPM_LOCK_FLAGS}${before} ${lockOnly.map((n) => `'${n}'`).join(" ")}`, network: true, why: "move locked versions within their ranges" });
      }
      return steps;
    },

    async check(files, updates, lockFile): Promise<AppliedCheck[]> {
      const lockText = lockFile ? await files.read(lockFile) : undefined;
      const read = lockFile && lockText !== undefined ? readJsLock(lockFile, lockText) : undefined;
      const lock = read && "lock" in read ? read.lock : undefined;
      const manifests = new Map<string, Record<string, Record<string, unknown> | undefined> | undefined>();
      const out: AppliedCheck[] = [];
      for (const u of updates) {
        if (!manifests.has(u.manifest)) {
          const text = await files.read(u.manifest);
          try {
            manifests.set(u.manifest, text ? JSON.parse(text) : undefined);
          } catch {
            manifests.set(u.manifest, undefined);
          }
        }
        const key = u.alias ?? u.name;
        const raw = manifests.get(u.manifest)?.[u.depType]?.[key];
        const spec = typeof raw === "string" ? classifySpec(raw) : undefined;
        const value = spec && (spec.kind === "range" || spec.kind === "alias") ? spec.range : undefined;
        const dir = u.manifest.includes("/") ? u.manifest.slice(0, u.manifest.lastIndexOf("/")) : "";
        const locked = lock && typeof raw === "string" ? lock.locked(dir, key, raw) : undefined;
        const ok = value === u.newValue && (lockFile ? locked === u.newVersion : true);
        out.push({ update: u, ...(value !== undefined ? { value } : {}), ...(locked ? { locked } : {}), ok });
      }
      return out;
    },

    releaseNotes: (update: ProposedUpdate, maxChars: number) => npmReleaseNotes(update, client, maxChars),
  };
}

