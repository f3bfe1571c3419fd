import semver from "semver";
import { ManifestChangedError, type AppliedCheck, type Ecosystem, type Findings, type LockStep } from "../ecosystem.js";
import { changelogExcerpt } from "../changelog.js";
import { ignoredRanges, isIgnored } from "../ignore.js";
import { readTarGz } from "../tar.js";
import { expandWorkspaces } from "../npm/manifest.js";
import { proposeUpdates } from "../npm/propose.js";
import { rangeAllows } from "../npm/range.js";
import { RegistryError, RegistryFailures } from "../registry-error.js";
import type { Dependency, PackageMeta, ProposedUpdate, RepoFiles } from "../types.js";
import { cargoRegistries, CRATES_IO_INDEX } from "./cargo-config.js";
import { cargoReqToRange, parseCargoLock, rangeToCargoReq, type CargoLock } from "./cargo-lock.js";
import { OTHER_KIND_NOTE, parseCargoToml, setCargoRequirement, type CargoManifest } from "./cargo-toml.js";
import type { SparseIndexClient } from "./sparse-client.js";

/**
 * Rust: Cargo.toml (the root, its workspace members, `[workspace.dependencies]`), Cargo.lock for
 * the locked versions, and the sparse index the project's `.cargo/config.toml` points crates.io at
 * (else the operator's, default index.crates.io). Proposals follow npm's rules on Cargo's caret
 * requirements: a compatible update stays within the requirement and moves the lock only (`cargo
 * update -p name@old --precise new`); a new major rewrites the requirement (`"1.2"` → `"2.0"`,
 * the implicit caret kept implicit) and then locks it the same way. Yanked versions are never
 * proposed; a registry without publish times (`pubtime`) is said to have none, and the minimum age
 * then holds the version back.
 */
export interface CargoEcosystemOptions {
  /** The crates.io index when the project does not replace it (an operator's mirror), without `sparse+`. */
  defaultIndex?: string;
  client: SparseIndexClient;
  /** CARGO_REGISTRIES_<NAME>_INDEX as the user's cargo sees them (the CLI). */
  env?: Readonly<Record<string, string | undefined>>;
}

interface ReadManifest {
  path: string;
  dir: string;
  parsed: CargoManifest;
}


export function createCargoEcosystem(options: CargoEcosystemOptions): Ecosystem {
  const { client } = options;

  async function readAll(files: RepoFiles): Promise<ReadManifest[] | undefined> {
    const rootText = await files.read("Cargo.toml");
    if (rootText === undefined) return undefined;
    const root = { path: "Cargo.toml", dir: "", parsed: parseCargoToml(rootText) };
    const out = [root];
    if (root.parsed.members.length) {
      const dirs = await expandWorkspaces(files, [...root.parsed.members, ...root.parsed.exclude.map((e) => `!${e}`)]);
      for (const dir of dirs) {
        const text = await files.read(`${dir}/Cargo.toml`);
        if (text !== undefined) out.push({ path: `${dir}/Cargo.toml`, dir, parsed: parseCargoToml(text) });
      }
    }
    return out;
  }

  function lockedFor(lock: CargoLock | undefined, name: string, range: string): string | undefined {
    const candidates = (lock?.versions.get(name) ?? []).filter((v) => rangeAllows(range, v));
    return candidates.sort(semver.rcompare)[0];
  }

  return {
    id: "cargo",

    async find(files, policy): Promise<Findings | undefined> {
      const manifests = await readAll(files);
      if (!manifests) return undefined;
      const findings: Findings = { ecosystem: "cargo", dependencies: [], updates: [], skipped: [], problems: [] };
      const config = (await files.read(".cargo/config.toml")) ?? (await files.read(".cargo/config"));
      const registries = cargoRegistries(config, options.env ?? {}, options.defaultIndex ?? CRATES_IO_INDEX);
      for (const message of registries.problems) findings.problems.push({ kind: "config", manifest: ".cargo/config.toml", message });

      const lockText = await files.read("Cargo.lock");
      let lock: CargoLock | undefined;
      if (lockText === undefined) {
        findings.problems.push({ kind: "lockfile", message: "No `Cargo.lock`: versions were compared with the requirements' floors, and only new majors (a requirement change) can be proposed" });
      } else {
        const parsed = parseCargoLock(lockText);
        if ("error" in parsed) findings.problems.push({ kind: "lockfile", manifest: "Cargo.lock", message: `\`Cargo.lock\` could not be read (${parsed.error}); versions were compared with the requirements' floors and cargo will rewrite it` });
        else lock = parsed.lock;
        findings.lockFile = "Cargo.lock";
      }

      const local = new Set<string>();
      for (const m of manifests) {
        for (const p of m.parsed.problems) findings.problems.push({ kind: "manifest", manifest: m.path, message: `\`${m.path}\` ${p}` });
        for (const o of m.parsed.others) findings.skipped.push({ name: o.key, manifest: m.path, reason: "not-registry", detail: `\`${o.key}\` in [${o.table}] is ${OTHER_KIND_NOTE[o.kind]}: only registry crates are upgraded here` });
        if (m.parsed.packageName) local.add(m.parsed.packageName);
      }

      const wanted: Array<{ dep: Dependency; range: string; req: string; key: string }> = [];
      for (const m of manifests) {
        for (const d of m.parsed.deps) {
          if (local.has(d.name)) continue;
          const index = d.registry ? registries.named[d.registry] : registries.default;
          // crates.io replaced by an unreadable source: said once above (registries.problems).
          if (!index && !d.registry) continue;
          if (!index) {
            findings.problems.push({ kind: "config", manifest: m.path, name: d.name, message: `\`${d.key}\` comes from the registry \`${d.registry}\`, which \`.cargo/config.toml\` does not name as a sparse index; it was not checked` });
            continue;
          }
          const range = cargoReqToRange(d.req);
          const locked = range ? lockedFor(lock, d.name, range) : undefined;
          const dep: Dependency = {
            ecosystem: "cargo",
            name: d.name,
            ...(d.key !== d.name ? { alias: d.key } : {}),
            depType: d.table,
            manifest: m.path,
            currentValue: d.req,
            ...(locked ? { currentVersion: locked } : {}),
            registry: index,
          };
          findings.dependencies.push(dep);
          if (!range) {
            findings.skipped.push({ name: d.name, manifest: m.path, reason: "range", detail: `"${d.req}" is not a requirement iquest-bot can read; change it by hand` });
            continue;
          }
          if (isIgnored(d.name, policy.ignore)) {
            findings.skipped.push({ name: d.name, manifest: m.path, reason: "ignored", detail: "ignored by `upgrade.ignore`" });
            continue;
          }
          wanted.push({ dep, range, req: d.req, key: d.key });
        }
      }

      const failures = new RegistryFailures();
      await Promise.all(
        wanted.map(async ({ dep, range, req }) => {
          let versions;
          try {
            versions = await client.versions(dep.name, dep.registry);
          } catch (err) {
            if (!(err instanceof RegistryError)) throw err;
            return failures.add(err, dep.name);
          }
          // A yanked version is to cargo what a deprecated one is to npm: never newly chosen.
          const meta: PackageMeta = { name: dep.name, distTags: {}, versions: versions.map((v) => ({ version: v.version, ...(v.publishedAt !== undefined ? { publishedAt: v.publishedAt } : {}), ...(v.yanked ? { deprecated: "yanked" } : {}) })) };
          const proposal = proposeUpdates({ ...dep, currentValue: range }, meta, { now: policy.now, minimumAgeMs: policy.minimumAgeMs, ignoreRanges: ignoredRanges(dep.name, policy.ignore) });
          for (const s of proposal.skipped) {
            findings.skipped.push(s.reason === "too-young" ? { ...s, detail: s.detail.replace("has no publish time", "has no publish time at the registry (no `pubtime` in its index)") } : s);
          }
          for (const u of proposal.updates) {
            const inRange = rangeAllows(range, u.newVersion);
            if (inRange && !dep.currentVersion) {
              findings.skipped.push({ name: dep.name, manifest: dep.manifest, reason: "no-lockfile", detail: `${u.newVersion} is within "${req}" already, and there is no Cargo.lock entry to update`, version: u.newVersion });
              continue;
            }
            findings.updates.push({ ...u, currentValue: req, newValue: inRange ? req : rangeToCargoReq(req, u.newValue), ...crateNotes(dep) });
          }
        }),
      );
      findings.problems.push(...failures.problems("crates"));
      return findings;
    },

    async editManifests(files, updates) {
      const texts = new Map<string, string>();
      for (const u of updates) {
        if (u.newValue === u.currentValue) continue;
        const text = texts.get(u.manifest) ?? (await files.read(u.manifest));
        const dep = text === undefined ? undefined : parseCargoToml(text).deps.find((d) => d.key === (u.alias ?? u.name) && d.table === u.depType);
        const next = dep && text !== undefined && dep.req === u.currentValue ? setCargoRequirement(text, dep, u.currentValue, u.newValue) : null;
        if (next === null || next === undefined) throw new ManifestChangedError(u.manifest, u.name);
        texts.set(u.manifest, next);
      }
      return texts;
    },

    async lockSteps(updates, _policy, lockFile): Promise<LockStep[]> {
      if (!lockFile) return [];
      // One `cargo update --precise` per crate: the exact version proposed (never a younger one),
      // the old locked version named (`name@old`) when known, as a crate may be locked twice.
      const seen = new Set<string>();
      const commands: string[] = [];
      for (const u of updates) {
        const spec = u.currentVersion && u.newValue === u.currentValue ? `${u.name}@${u.currentVersion}` : u.name;
        if (seen.has(`${spec}\0${u.newVersion}`)) continue;
        seen.add(`${spec}\0${u.newVersion}`);
        // Names and versions are validated crate names and semver versions: no shell metacharacters.
        commands.push(`cargo update -p '${spec}' --precise '${u.newVersion}'`);
      }
      return commands.length ? [{ command: commands.join(" && "), network: true, why: "lock the proposed versions in Cargo.lock" }] : [];
    },

    async check(files, updates, lockFile): Promise<AppliedCheck[]> {
      const lockText = lockFile ? await files.read(lockFile) : undefined;
      const parsed = lockText !== undefined ? parseCargoLock(lockText) : undefined;
      const lock = parsed && "lock" in parsed ? parsed.lock : undefined;
      const out: AppliedCheck[] = [];
      for (const u of updates) {
        const text = await files.read(u.manifest);
        const dep = text === undefined ? undefined : parseCargoToml(text).deps.find((d) => d.key === (u.alias ?? u.name) && d.table === u.depType);
        const range = dep ? cargoReqToRange(dep.req) : undefined;
        const locked = range ? lockedFor(lock, u.name, range) : undefined;
        const ok = dep?.req === u.newValue && (lockFile ? locked === u.newVersion : true);
        out.push({ update: u, ...(dep ? { value: dep.req } : {}), ...(locked ? { locked } : {}), ok });
      }
      return out;
    },

    async releaseNotes(update, maxChars) {
      // The changelog in the new version's .crate (a tar.gz under name-version/), read in memory with caps.
      const crate = await client.crate(update.name, update.newVersion, update.registry, 20 * 1024 * 1024).catch(() => undefined);
      if (!crate) return undefined;
      const top = `${update.name}-${update.newVersion}/`;
      let files;
      try {
        files = readTarGz(crate, (p) => p.startsWith(top) && CHANGELOG.test(p.slice(top.length)), { maxUnpackedBytes: 200 * 1024 * 1024, maxFileBytes: 2 * 1024 * 1024 });
      } catch {
        return undefined;
      }
      const [path, content] = [...files.entries()].sort(([a], [b]) => a.length - b.length)[0] ?? [];
      if (!path || !content) return undefined;
      const from = update.currentVersion ?? semver.minVersion(cargoReqToRange(update.currentValue) ?? "*")?.version ?? "0.0.0";
      const excerpt = changelogExcerpt(content.toString("utf8"), (v) => semver.valid(v) !== null && semver.gt(v, from) && semver.lte(v, update.newVersion), maxChars);
      if (!excerpt) return undefined;
      const file = path.slice(top.length);
      return { source: excerpt.fallback ? `the top of ${file} in ${update.name} ${update.newVersion} (no section named these versions)` : `${file} in ${update.name} ${update.newVersion}`, text: excerpt.text };
    },
  };
}

const CHANGELOG = /^(changelog|changes|history|releases|news)(\.(md|markdown|txt|rst))?$/i;

/** crates.io's page for the version, when the crate comes from crates.io. */
function crateNotes(dep: Dependency): Pick<ProposedUpdate, "releaseNotesUrl"> | Record<string, never> {
  return dep.registry === CRATES_IO_INDEX ? { releaseNotesUrl: `https://crates.io/crates/${dep.name}/versions` } : {};
}

