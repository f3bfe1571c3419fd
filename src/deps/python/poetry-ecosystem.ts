import semver from "semver";
import { OTHER_KIND_NOTE, parseCargoToml, POETRY_DEP_TABLE, setCargoRequirement, type CargoDep } from "../cargo/cargo-toml.js";
import { ManifestChangedError, type AppliedCheck, type Ecosystem, type Findings, type LockStep } from "../ecosystem.js";
import { ignoredRanges, isIgnored } from "../ignore.js";
import { proposeUpdates } from "../npm/propose.js";
import { bumpRange, rangeAllows } from "../npm/range.js";
import { RegistryError } from "../registry-error.js";
import type { Dependency, PackageMeta, ProposedUpdate, RepoFiles } from "../types.js";
import { pypiReleaseNotes, type PyIndexClient } from "./index-client.js";
import { normalizePyName, parsePyVersion } from "./requirements.js";

/**
 * Poetry: pyproject.toml's `[tool.poetry.dependencies]` (and dev, and each group's), poetry.lock
 * for the locked versions, `[[tool.poetry.source]]` for the index (else the operator's), versions
 * by PEP 691 JSON with upload times. Poetry's constraints are npm's caret and tilde on PEP 440
 * versions (a bare `1.2.3` is exact): a compatible update within the constraint moves the lock
 * only; one outside it (a major, or past an exact pin) rewrites the constraint on its line. The
 * real `poetry lock --no-update` in the sandbox writes the lock, "pin, then release" as for pnpm
 * and yarn: first with the exact new versions, then with the constraints, which keeps what it
 * locked (poetry has no `--precise`).
 */
export const POETRY_ID = "python-poetry";

export interface PoetrySource {
  name: string;
  url: string;
  primary: boolean;
}

/** `[[tool.poetry.source]]` tables: name, url, and whether it replaces PyPI (`default = true`, `priority = "default" | "primary"`). */
export function poetrySources(text: string): PoetrySource[] {
  const out: Array<Partial<PoetrySource> & { priority?: string; isDefault?: boolean; secondary?: boolean }> = [];
  let current: (typeof out)[number] | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (/^\[\[\s*tool\.poetry\.source\s*\]\]/.test(line)) {
      current = {};
      out.push(current);
      continue;
    }
    if (line.startsWith("[")) {
      current = undefined;
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(true|false))/.exec(line);
    if (!kv || !current) continue;
    const value = kv[2] ?? kv[3];
    if (kv[1] === "name" && value) current.name = value;
    if (kv[1] === "url" && value) current.url = value;
    if (kv[1] === "priority" && value) current.priority = value;
    if (kv[1] === "default") current.isDefault = kv[4] === "true";
    if (kv[1] === "secondary") current.secondary = kv[4] === "true";
  }
  return out
    .filter((s): s is typeof s & { name: string; url: string } => !!s.name && !!s.url)
    .map((s) => ({ name: s.name, url: s.url.endsWith("/") ? s.url : `${s.url}/`, primary: s.isDefault === true || s.priority === "default" || s.priority === "primary" || (s.priority === undefined && s.secondary !== true && s.isDefault === undefined) }));
}

/** poetry.lock: normalized name → version. */
export function parsePoetryLock(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "[[package]]") {
      name = undefined;
      continue;
    }
    const kv = /^(name|version)\s*=\s*"([^"]*)"/.exec(line);
    if (!kv) continue;
    if (kv[1] === "name") name = normalizePyName(kv[2]!);
    else if (name && !out.has(name)) out.set(name, kv[2]!);
  }
  return out;
}

/** A Poetry constraint as a node-semver range; undefined for what cannot be compared (`||`, `!=`, markers). */
export function poetryToRange(constraint: string): string | undefined {
  const parts = constraint.split(",").map((p) => p.trim()).filter(Boolean);
  if (!parts.length || constraint.includes("||") || constraint.includes("!=")) return undefined;
  const out: string[] = [];
  for (const p of parts) {
    if (p === "*" || /^\d+(\.\d+)?\.\*$/.test(p)) out.push(p);
    else if (/^\d/.test(p)) out.push(`=${p}`); // a bare version is exact in Poetry
    else if (p.startsWith("==")) out.push(`=${p.slice(2).trim()}`);
    else if (p.startsWith("~=")) {
      // PEP 440 compatible release: ~=1.2 is >=1.2,<2; ~=1.2.3 is >=1.2.3,<1.3
      const v = p.slice(2).trim().split(".");
      if (v.length < 2 || v.some((x) => !/^\d+$/.test(x))) return undefined;
      out.push(v.length === 2 ? `>=${v.join(".")} <${Number(v[0]) + 1}` : `~${v.join(".")}`);
    } else if (/^(\^|~|>=|<=|>|<)\s*\d/.test(p)) out.push(p.replace(/\s+/g, ""));
    else return undefined;
  }
  return out.join(" ");
}

/** The bumped range in the constraint's own spelling (`1.2.3` stays bare, `==1.2.3` keeps `==`). */
function rangeToPoetry(original: string, bumped: string): string {
  const o = original.trim();
  if (/^\d/.test(o) && bumped.startsWith("=")) return bumped.slice(1);
  if (o.startsWith("==") && bumped.startsWith("=")) return `=${bumped}`;
  return bumped;
}

/** A PEP 440 release as a semver string (1.2 → 1.2.0); undefined for pre-, post- and dev releases or more than three parts. */
function semverOf(v: string): string | undefined {
  const p = parsePyVersion(v);
  if (!p || p.pre || p.dev !== undefined || p.post !== undefined || p.release.length > 3) return undefined;
  return [...p.release, 0, 0].slice(0, 3).join(".");
}

const LOCK = 'if poetry lock --help 2>/dev/null | grep -q -- --no-update; then poetry lock --no-update; else poetry lock; fi';

export function createPoetryEcosystem(options: { index: string; client: PyIndexClient }): Ecosystem {
  const { client } = options;
  const depsOf = (text: string) => parseCargoToml(text, POETRY_DEP_TABLE);
  const find = (text: string, u: ProposedUpdate): CargoDep | undefined => depsOf(text).deps.find((d) => d.key === (u.alias ?? u.name) && d.table === u.depType);

  return {
    id: POETRY_ID,

    async find(files, policy): Promise<Findings | undefined> {
      const text = await files.read("pyproject.toml");
      if (text === undefined) return undefined;
      const parsed = depsOf(text);
      if (!parsed.deps.length && !parsed.others.length) return undefined;
      const findings: Findings = { ecosystem: POETRY_ID, dependencies: [], updates: [], skipped: [], problems: [] };
      for (const p of parsed.problems) findings.problems.push({ kind: "manifest", manifest: "pyproject.toml", message: `\`pyproject.toml\` ${p}` });
      for (const o of parsed.others) findings.skipped.push({ name: o.key, manifest: "pyproject.toml", reason: "not-registry", detail: `\`${o.key}\` in [${o.table}] is ${OTHER_KIND_NOTE[o.kind]}: only index packages are upgraded here` });
      const sources = poetrySources(text);
      const primary = sources.find((s) => s.primary)?.url ?? options.index;

      const lockText = await files.read("poetry.lock");
      const lock = lockText === undefined ? undefined : parsePoetryLock(lockText);
      if (lockText === undefined) findings.problems.push({ kind: "lockfile", message: "No `poetry.lock`: versions were compared with the constraints' floors, and only constraint changes can be proposed" });
      else findings.lockFile = "poetry.lock";

      const failures: Array<{ error: RegistryError; name: string }> = [];
      await Promise.all(
        parsed.deps
          .filter((d) => d.key !== "python")
          .map(async (d) => {
            const name = normalizePyName(d.name);
            const index = d.registry ? sources.find((s) => s.name === d.registry)?.url : primary;
            if (!index) return void findings.problems.push({ kind: "config", manifest: "pyproject.toml", name, message: `\`${d.key}\` names the source \`${d.registry}\`, which pyproject.toml does not declare; it was not checked` });
            const locked = lock?.get(name);
            const dep: Dependency = { ecosystem: POETRY_ID, name, ...(d.key !== name ? { alias: d.key } : {}), depType: d.table, manifest: "pyproject.toml", currentValue: d.req, ...(locked ? { currentVersion: locked } : {}), registry: index };
            findings.dependencies.push(dep);
            const range = poetryToRange(d.req);
            if (!range) return void findings.skipped.push({ name, manifest: "pyproject.toml", reason: "range", detail: `"${d.req}" is not a constraint iquest-bot can compare; change it by hand` });
            if (isIgnored(name, policy.ignore)) return void findings.skipped.push({ name, manifest: "pyproject.toml", reason: "ignored", detail: "ignored by `upgrade.ignore`" });
            let releases;
            try {
              releases = await client.releases(name, index);
            } catch (err) {
              if (!(err instanceof RegistryError)) throw err;
              return void failures.push({ error: err, name });
            }
            // Versions as semver for the shared proposal rules, mapped back to the index's spelling.
            const original = new Map<string, string>();
            const versions = releases.flatMap((r) => {
              const s = semverOf(r.version);
              if (!s) return [];
              original.set(s, r.version);
              return [{ version: s, ...(r.uploadedAt !== undefined ? { publishedAt: r.uploadedAt } : {}), ...(r.yanked ? { deprecated: "yanked" } : {}) }];
            });
            const meta: PackageMeta = { name, distTags: {}, versions };
            const current = locked ? semverOf(locked) : undefined;
            const proposal = proposeUpdates({ ...dep, currentValue: range, ...(current ? { currentVersion: current } : {}) }, meta, { now: policy.now, minimumAgeMs: policy.minimumAgeMs, ignoreRanges: ignoredRanges(name, policy.ignore) });
            findings.skipped.push(...proposal.skipped.map((s) => ({ ...s, ...(s.version ? { version: original.get(s.version) ?? s.version } : {}) })));
            for (const u of proposal.updates) {
              const inRange = rangeAllows(range, u.newVersion);
              if (inRange && !locked) {
                findings.skipped.push({ name, manifest: "pyproject.toml", reason: "no-lockfile", detail: `${u.newVersion} is within "${d.req}" already, and there is no poetry.lock entry to update`, version: u.newVersion });
                continue;
              }
              const bumped = inRange ? d.req : (() => {
                const b = bumpRange(range, u.newVersion);
                return b === null ? undefined : rangeToPoetry(d.req, b);
              })();
              if (bumped === undefined) {
                findings.skipped.push({ name, manifest: "pyproject.toml", reason: "range", detail: `the constraint "${d.req}" cannot be rewritten for ${u.newVersion}; change it by hand`, version: u.newVersion });
                continue;
              }
              const newVersion = original.get(u.newVersion) ?? u.newVersion;
              findings.updates.push({ ...u, currentValue: d.req, newValue: bumped, currentVersion: locked ?? null, newVersion, ...pypiReleaseNotes(name, newVersion, index) });
            }
          }),
      );
      for (const { error, name } of failures) findings.problems.push({ kind: "registry", name, message: error.userMessage.charAt(0).toUpperCase() + error.userMessage.slice(1) });
      return findings;
    },

    async editManifests(files, updates) {
      let text = await files.read("pyproject.toml");
      for (const u of updates) {
        if (u.newValue === u.currentValue) continue;
        const dep = text === undefined ? undefined : find(text, u);
        const next = dep && text !== undefined && dep.req === u.currentValue ? setCargoRequirement(text, dep, u.currentValue, u.newValue) : null;
        if (next === null || next === undefined) throw new ManifestChangedError(u.manifest, u.name);
        text = next;
      }
      return new Map(text === undefined || updates.every((u) => u.newValue === u.currentValue) ? [] : [["pyproject.toml", text]]);
    },

    async lockSteps(updates, _policy, lockFile): Promise<LockStep[]> {
      if (!lockFile) return [];
      let final: string | undefined;
      const pin: LockStep = {
        command: LOCK,
        network: true,
        why: "lock the proposed versions exactly",
        async prepare(files: RepoFiles) {
          final = await files.read("pyproject.toml");
          let text = final;
          for (const u of updates) {
            const dep = text === undefined ? undefined : find(text, u);
            const next = dep && text !== undefined ? setCargoRequirement(text, dep, dep.req, u.newVersion) : null;
            if (next) text = next;
          }
          return new Map(text === undefined ? [] : [["pyproject.toml", text]]);
        },
      };
      const release: LockStep = {
        command: LOCK,
        network: true,
        why: "bring poetry.lock back to the constraints",
        async prepare() {
          return new Map(final === undefined ? [] : [["pyproject.toml", final]]);
        },
      };
      return [pin, release];
    },

    async check(files, updates, lockFile): Promise<AppliedCheck[]> {
      const text = (await files.read("pyproject.toml")) ?? "";
      const lockText = lockFile ? await files.read(lockFile) : undefined;
      const lock = lockText === undefined ? undefined : parsePoetryLock(lockText);
      return updates.map((u) => {
        const dep = find(text, u);
        const locked = lock?.get(u.name);
        const same = (a: string | undefined, b: string) => a !== undefined && (a === b || (semverOf(a) !== undefined && semverOf(a) === semverOf(b) && semver.valid(semverOf(a)!) !== null));
        return { update: u, ...(dep ? { value: dep.req } : {}), ...(locked ? { locked } : {}), ok: dep?.req === u.newValue && (lockFile ? same(locked, u.newVersion) : true) };
      });
    },

    async releaseNotes() {
      return undefined;
    },
  };
}
