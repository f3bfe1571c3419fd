import { ManifestChangedError, type AppliedCheck, type Ecosystem, type Findings } from "../ecosystem.js";
import { ignoredRanges, isIgnored } from "../ignore.js";
import { formatAge } from "../npm/propose.js";
import { RegistryError } from "../registry-error.js";
import type { RepoFiles } from "../types.js";
import type { PyIndexClient } from "./index-client.js";
import { comparePyVersions, isPyPrerelease, parsePyVersion, parseRequirements, setPin, type PyVersion } from "./requirements.js";

/**
 * Python: requirements*.txt exact pins (`name==1.2.3`), versions from the index the file names
 * (`--index-url`), else the operator's (PIP_INDEX_URL, default PyPI), by PEP 691 JSON with upload
 * times. The pin is the lock: the update rewrites it, and setup's `pip install` in the sandbox
 * installs it (no separate lock step). Ranges, hash-pinned lines and URLs are reported and left
 * alone; pyproject.toml, Poetry and uv.lock are not upgraded yet (said).
 */
export const REQUIREMENTS_FILES = ["requirements.txt", "requirements-dev.txt", "requirements-test.txt", "requirements/base.txt", "requirements/dev.txt", "requirements/test.txt"];

export function createPythonEcosystem(options: { index: string; client: PyIndexClient }): Ecosystem {
  const { client } = options;
  const read = async (files: RepoFiles) => {
    const found: Array<{ path: string; text: string }> = [];
    for (const path of REQUIREMENTS_FILES) {
      const text = await files.read(path);
      if (text !== undefined) found.push({ path, text });
    }
    return found;
  };
  return {
    id: "python",

    async find(files, policy): Promise<Findings | undefined> {
      const reqs = await read(files);
      const findings: Findings = { ecosystem: "python", dependencies: [], updates: [], skipped: [], problems: [] };
      for (const other of ["pyproject.toml", "poetry.lock", "uv.lock", "Pipfile.lock"]) {
        // pyproject.toml beside requirements files is often just tool settings: said only when it is the project.
        if (other === "pyproject.toml" && reqs.length > 0) continue;
        if ((await files.read(other)) !== undefined) findings.problems.push({ kind: "unsupported", manifest: other, message: `\`${other}\` found: only requirements*.txt pins are upgraded yet; its dependencies were not checked` });
      }
      if (reqs.length === 0) return findings.problems.length ? findings : undefined;
      const failures: Array<{ error: RegistryError; name: string }> = [];
      await Promise.all(
        reqs.flatMap(({ path, text }) => {
          const parsed = parseRequirements(text);
          const index = parsed.indexUrl ?? options.index;
          for (const s of parsed.skipped) findings.skipped.push({ name: s.name, manifest: path, reason: "range", detail: s.reason });
          return parsed.pins.map(async (pin) => {
            findings.dependencies.push({ ecosystem: "python", name: pin.normalized, depType: "requirements", manifest: path, currentValue: pin.version, currentVersion: pin.version, registry: index });
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
                findings.updates.push({ ecosystem: "python", name: pin.normalized, depType: "requirements", manifest: path, currentValue: pin.version, newValue: r.version, currentVersion: pin.version, newVersion: r.version, updateType: type, registry: index });
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
        const pin = text === undefined ? undefined : parseRequirements(text).pins.find((p) => p.normalized === u.name && p.version === u.currentValue);
        const next = pin && text !== undefined ? setPin(text, pin, u.currentValue, u.newValue) : undefined;
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
        const pin = parseRequirements((await files.read(u.manifest)) ?? "").pins.find((p) => p.normalized === u.name);
        out.push({ update: u, ...(pin ? { value: pin.version, locked: pin.version } : {}), ok: pin?.version === u.newValue });
      }
      return out;
    },

    async releaseNotes() {
      return undefined;
    },
  };
}
