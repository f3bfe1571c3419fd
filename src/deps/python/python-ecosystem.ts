import { ManifestChangedError, type AppliedCheck, type Ecosystem, type Findings } from "../ecosystem.js";
import { ignoredRanges, isIgnored } from "../ignore.js";
import { formatAge } from "../npm/propose.js";
import { RegistryError } from "../registry-error.js";
import type { RepoFiles } from "../types.js";
import { pypiReleaseNotes, type PyIndexClient } from "./index-client.js";
import { parsePyproject, setPyprojectPin } from "./pyproject.js";
import { comparePyVersions, isPyPrerelease, parsePyVersion, parseRequirements, setPin, type Pin, type PyVersion } from "./requirements.js";

/**
 * Python: requirements*.txt exact pins (`name==1.2.3`), with the files they include (`-r`), versions from the index the file names
 * (`--index-url`), else the operator's (PIP_INDEX_URL, default PyPI), by PEP 691 JSON with upload
 * times. The pin is the lock: the update rewrites it, and setup's `pip install` in the sandbox
 * installs it (no separate lock step). Ranges, hash-pinned lines and URLs are reported and left
 * alone. pyproject.toml's PEP 621 pins likewise, unless the project has a lock file its own tool
 * must rewrite: Poetry's (poetry-ecosystem.ts) or uv's (uv cannot be installed here: said, and
 * left alone rather than break the lock).
 */
export const REQUIREMENTS_FILES = ["requirements.txt", "requirements-dev.txt", "requirements-test.txt", "requirements/base.txt", "requirements/dev.txt", "requirements/test.txt"];

const MAX_FILES = 50;

interface Source {
  path: string;
  index: string;
  pins: Array<Pin & { depType: string }>;
  skipped: Array<{ name: string; reason: string }>;
}

const pinsOf = (manifest: string, text: string): Pin[] => (manifest === "pyproject.toml" ? parsePyproject(text).pins : parseRequirements(text).pins);

/** "requirements/../base.txt" → "base.txt"; undefined for a path that leaves the repository or is absolute. */
function normalizePath(path: string): string | undefined {
  if (path.startsWith("/")) return undefined;
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!out.length) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/") || undefined;
}

export function createPythonEcosystem(options: { index: string; client: PyIndexClient }): Ecosystem {
  const { client } = options;
  // The usual requirements files, and the files they include (`-r other.txt`, relative to the
  // including file), each read once, at most MAX_FILES in all.
  const read = async (files: RepoFiles) => {
    const found: Array<{ path: string; text: string }> = [];
    const queue = [...REQUIREMENTS_FILES];
    const seen = new Set<string>();
    while (queue.length && found.length < MAX_FILES) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const text = await files.read(path);
      if (text === undefined) continue;
      found.push({ path, text });
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
      for (const include of parseRequirements(text).includes) {
        const target = normalizePath(`${dir}${include}`);
        if (target) queue.push(target);
      }
    }
    return found;
  };
  return {
    id: "python",

    async find(files, policy): Promise<Findings | undefined> {
      const reqs = await read(files);
      const findings: Findings = { ecosystem: "python", dependencies: [], updates: [], skipped: [], problems: [] };
      const sources: Source[] = reqs.map(({ path, text }) => {
        const parsed = parseRequirements(text);
        return { path, index: parsed.indexUrl ?? options.index, pins: parsed.pins.map((p) => ({ ...p, depType: "requirements" })), skipped: parsed.skipped };
      });
      // pyproject.toml: PEP 621 pins, unless a lock file belongs to a tool that must rewrite it.
      const pyprojectText = await files.read("pyproject.toml");
      if (pyprojectText !== undefined) {
        const pyproject = parsePyproject(pyprojectText);
        const lock = (await files.read("uv.lock")) !== undefined ? "uv.lock" : (await files.read("poetry.lock")) !== undefined ? "poetry.lock" : undefined;
        if (lock === "uv.lock") {
          findings.problems.push({ kind: "unsupported", manifest: "uv.lock", message: "`uv.lock` found: iquest-bot cannot run `uv` to update it (uv is not installed in the sandbox), so the pyproject.toml dependencies were left alone rather than break the lock" });
        } else if (lock === "poetry.lock" || pyproject.poetryDependencies) {
          // Poetry's own tables are the Poetry ecosystem's (poetry-ecosystem.ts); Poetry 2's [project] pins would need it too.
          if (!pyproject.poetryDependencies && pyproject.pins.length) findings.problems.push({ kind: "unsupported", manifest: "poetry.lock", message: "`poetry.lock` with `[project]` dependencies (Poetry 2): not upgraded yet; only `[tool.poetry.dependencies]` tables are" });
        } else if (pyproject.pep621) {
          sources.push({ path: "pyproject.toml", index: options.index, pins: pyproject.pins, skipped: pyproject.skipped });
        }
      }
      if ((await files.read("Pipfile.lock")) !== undefined) findings.problems.push({ kind: "unsupported", manifest: "Pipfile.lock", message: "`Pipfile.lock` found: Pipenv projects are not upgraded yet; its dependencies were not checked" });
      if (sources.length === 0) return findings.problems.length ? findings : undefined;
      const failures: Array<{ error: RegistryError; name: string }> = [];
      await Promise.all(
        sources.flatMap(({ path, index, pins, skipped }) => {
          for (const s of skipped) findings.skipped.push({ name: s.name, manifest: path, reason: "range", detail: s.reason });
          return pins.map(async (pin) => {
            findings.dependencies.push({ ecosystem: "python", name: pin.normalized, depType: pin.depType, manifest: path, currentValue: pin.version, currentVersion: pin.version, registry: index });
            if (isIgnored(pin.normalized, policy.ignore)) return void findings.skipped.push({ name: pin.normalized, manifest: path, reason: "ignored", detail: "ignored by `upgrade.ignore`" });
            const current = parsePyVersion(pin.version);
            if (!current) return void findings.skipped.push({ name: pin.normalized, manifest: path, reason: "range", detail: `${pin.version} is not a version iquest-bot can compare` });
            let releases;
            try {
              releases = await client.releases(pin.normalized, index);
            } catch (err) {
              if (!(err instanceof RegistryError)) throw err;
              return void failures.push({ error: err, name: pin.normalized });
            }
            const ignored = new Set(ignoredRanges(pin.normalized, policy.ignore));
            const newer = releases
              .filter((r) => !r.yanked && !ignored.has(r.version))
              .map((r) => ({ r, v: parsePyVersion(r.version) }))
              .filter((x): x is { r: typeof x.r; v: PyVersion } => x.v !== undefined && !isPyPrerelease(x.v) && comparePyVersions(x.v, current) > 0)
              .sort((a, b) => comparePyVersions(b.v, a.v));
            // The newest of the same major, and the newest major: each its own update, as for npm.
            const sameMajor = newer.filter((x) => x.v.release[0] === current.release[0]);
            const majors = newer.filter((x) => x.v.release[0]! > current.release[0]!);
            for (const pool of [sameMajor, majors]) {
              for (const { r, v } of pool) {
                const age = r.uploadedAt === undefined ? undefined : policy.now - r.uploadedAt;
                if (policy.minimumAgeMs > 0 && (age === undefined || age < policy.minimumAgeMs)) {
                  findings.skipped.push({ name: pin.normalized, manifest: path, reason: "too-young", detail: `${r.version} ${age === undefined ? "has no upload time at the index" : `was uploaded ${formatAge(age)} ago`}; it waits until it is ${formatAge(policy.minimumAgeMs)} old`, version: r.version });
                  continue;
                }
                const type = v.release[0] !== current.release[0] ? "major" : (v.release[1] ?? 0) !== (current.release[1] ?? 0) ? "minor" : "patch";
                findings.updates.push({ ecosystem: "python", name: pin.normalized, depType: pin.depType, manifest: path, currentValue: pin.version, newValue: r.version, currentVersion: pin.version, newVersion: r.version, updateType: type, registry: index, ...pypiReleaseNotes(pin.normalized, r.version, index) });
                break;
              }
            }
          });
        }),
      );
      for (const { error, name } of failures) findings.problems.push({ kind: "registry", name, message: error.userMessage.charAt(0).toUpperCase() + error.userMessage.slice(1) });
      return findings;
    },

    async editManifests(files, updates) {
      const texts = new Map<string, string>();
      for (const u of updates) {
        const text = texts.get(u.manifest) ?? (await files.read(u.manifest));
        const pin = text === undefined ? undefined : pinsOf(u.manifest, text).find((p) => p.normalized === u.name && p.version === u.currentValue);
        const next = pin && text !== undefined ? (u.manifest === "pyproject.toml" ? setPyprojectPin(text, pin, u.currentValue, u.newValue) : setPin(text, pin, u.currentValue, u.newValue)) : undefined;
        if (next === undefined) throw new ManifestChangedError(u.manifest, u.name);
        texts.set(u.manifest, next);
      }
      return texts;
    },

    async lockSteps() {
      // The pins are the lock: setup's pip install (in the sandbox, through the egress proxy)
      // installs the new versions, and a pin that cannot be installed fails there, on the card.
      return [];
    },

    async check(files, updates): Promise<AppliedCheck[]> {
      const out: AppliedCheck[] = [];
      for (const u of updates) {
        const pin = pinsOf(u.manifest, (await files.read(u.manifest)) ?? "").find((p) => p.normalized === u.name);
        out.push({ update: u, ...(pin ? { value: pin.version, locked: pin.version } : {}), ok: pin?.version === u.newValue });
      }
      return out;
    },

    async releaseNotes() {
      return undefined;
    },
  };
}
