import { ManifestChangedError, type AppliedCheck, type Ecosystem, type Findings, type LockStep } from "../ecosystem.js";
import { isIgnored, ignoredRanges, nameMatches } from "../ignore.js";
import { formatAge } from "../npm/propose.js";
import { RegistryError } from "../registry-error.js";
import type { ProposedUpdate, RepoFiles, ScanProblem } from "../types.js";
import { isPseudoVersion, nextMajorPath, parseGoMod, parseGoWork, setRequireVersion } from "./gomod.js";
import type { GoProxyClient } from "./proxy.js";
import { compareGoVersions, parseGoVersion, type GoVersion } from "./semver.js";

/**
 * Go modules: go.mod's direct requirements (indirect ones follow from them; `go mod tidy` moves
 * them), versions from the module proxy (GOPROXY), the real `go` in the sandbox for go.mod and
 * go.sum. Within a module path only minor and patch versions are proposed: a new major version is
 * a new module path (`/v2`) whose imports change with it, so it is reported, not applied.
 * Modules that GOPRIVATE/GONOPROXY send to their repository directly, and `replace`d ones, are
 * not asked about. A workspace (go.work) is read module by module: each `use`d module's go.mod,
 * the workspace's own modules left out, each module's go.mod and go.sum updated on its own.
 */
export interface GoEcosystemOptions {
  /** The module proxy: the first URL of GOPROXY (default https://proxy.golang.org). */
  proxy: string;
  /** GOPRIVATE / GONOPROXY patterns (comma-separated globs, as Go reads them). */
  privatePatterns?: string;
  client: GoProxyClient;
}

export const GO_LOCK_ENV = "GOFLAGS=-mod=mod GOTOOLCHAIN=local";

/** A GOPRIVATE pattern matches a path prefix of whole elements (Go's module.MatchPrefixPatterns). */
export function matchesPrivate(patterns: string | undefined, path: string): boolean {
  if (!patterns) return false;
  return patterns
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .some((pattern) => {
      const n = pattern.split("/").length;
      const prefix = path.split("/").slice(0, n).join("/");
      return nameMatches(pattern, prefix);
    });
}

export function createGoEcosystem(options: GoEcosystemOptions): Ecosystem {
  const { client, proxy } = options;
  return {
    id: "go",

    async find(files, policy): Promise<Findings | undefined> {
      const modules = await readModules(files);
      if (!modules) return undefined;
      const findings: Findings = { ecosystem: "go", dependencies: [], updates: [], skipped: [], problems: [] };
      for (const m of modules) findings.problems.push(...m.mod.problems.map((message) => ({ kind: "manifest" as const, manifest: m.path, message: `\`${m.path}\`: ${message}` })));
      // One module: its go.sum is the lock file. A workspace: each module's go.sum is written by its own step (LockStep.files).
      if (modules.length === 1 && modules[0]!.dir === "." && (await files.read("go.sum")) !== undefined) findings.lockFile = "go.sum";
      const local = new Set(modules.map((m) => m.mod.module).filter((p): p is string => !!p));
      const failures: Array<{ error: RegistryError; name: string }> = [];
      const direct = modules.flatMap((m) => m.mod.requires.filter((r) => !r.indirect && !local.has(r.path)).map((req) => ({ req, mod: m.mod, manifest: m.path })));
      await Promise.all(
        direct.map(async ({ req, mod, manifest }) => {
          const skip = (reason: "ignored" | "not-registry" | "range" | "too-young", detail: string, version?: string) =>
            findings.skipped.push({ name: req.path, manifest, reason, detail, ...(version ? { version } : {}) });
          if (mod.replaced.has(req.path)) return skip("not-registry", `\`replace\`d in ${manifest}: it does not come from the module proxy`);
          if (matchesPrivate(options.privatePatterns, req.path)) return skip("not-registry", "GOPRIVATE/GONOPROXY: go fetches it from its repository, not the module proxy");
          findings.dependencies.push({ ecosystem: "go", name: req.path, depType: "require", manifest, currentValue: req.version, currentVersion: req.version, registry: proxy });
          if (isIgnored(req.path, policy.ignore)) return skip("ignored", "ignored by `upgrade.ignore`");
          const current = parseGoVersion(req.version);
          if (!current || isPseudoVersion(req.version)) return skip("range", `${req.version} names a commit, not a release; pin a release to get updates`);
          let listed: string[];
          let nextMajor: string[] = [];
          try {
            listed = await client.versions(req.path, proxy);
            const next = nextMajorPath(req.path);
            if (next) nextMajor = await client.versions(next, proxy).catch(() => []);
          } catch (err) {
            if (!(err instanceof RegistryError)) throw err;
            failures.push({ error: err, name: req.path });
            return;
          }
          const ignoredVersions = new Set(ignoredRanges(req.path, policy.ignore));
          const candidates = listed
            .map(parseGoVersion)
            .filter((v): v is GoVersion => v !== undefined)
            .filter((v) => v.major === current.major && !v.prerelease && !isPseudoVersion(v.raw) && compareGoVersions(v, current) > 0 && !ignoredVersions.has(v.raw))
            .sort((a, b) => compareGoVersions(b, a));
          // The newest that is old enough; the newer ones wait, and that is said.
          for (const v of candidates) {
            let time: number | undefined;
            try {
              time = await client.time(req.path, v.raw, proxy);
            } catch (err) {
              if (!(err instanceof RegistryError)) throw err;
              failures.push({ error: err, name: req.path });
              return;
            }
            const age = time === undefined ? undefined : policy.now - time;
            if (policy.minimumAgeMs > 0 && (age === undefined || age < policy.minimumAgeMs)) {
              skip("too-young", `${v.raw} ${age === undefined ? "has no publish time at the proxy" : `was published ${formatAge(age)} ago`}; it waits until it is ${formatAge(policy.minimumAgeMs)} old`, v.raw);
              continue;
            }
            findings.updates.push({
              ecosystem: "go",
              name: req.path,
              depType: "require",
              manifest,
              currentValue: req.version,
              newValue: v.raw,
              currentVersion: req.version,
              newVersion: v.raw,
              updateType: v.minor !== current.minor || v.major !== current.major ? "minor" : "patch",
              registry: proxy,
              ...releaseNotesUrl(req.path, v.raw),
            });
            break;
          }
          const majors = nextMajor.map(parseGoVersion).filter((v): v is GoVersion => v !== undefined && !v.prerelease);
          if (majors.length) {
            const newest = majors.sort((a, b) => compareGoVersions(b, a))[0]!;
            skip("range", `a new major version is a new module path: ${nextMajorPath(req.path)} ${newest.raw}; its imports change with it, so it is not applied automatically`, newest.raw);
          }
        }),
      );
      for (const { error, name } of failures) findings.problems.push({ kind: "registry", name, message: error.userMessage.charAt(0).toUpperCase() + error.userMessage.slice(1) } satisfies ScanProblem);
      findings.updates.sort((a, b) => a.name.localeCompare(b.name) || a.manifest.localeCompare(b.manifest));
      return findings;
    },

    async editManifests(files, updates) {
      const texts = new Map<string, string>();
      for (const u of updates) {
        const text = texts.get(u.manifest) ?? (await files.read(u.manifest));
        if (text === undefined) throw new ManifestChangedError(u.manifest, u.name);
        const req = parseGoMod(text).requires.find((r) => r.path === u.name && r.version === u.currentValue);
        const next = req ? setRequireVersion(text, req, u.currentValue, u.newValue) : undefined;
        if (next === undefined) throw new ManifestChangedError(u.manifest, u.name);
        texts.set(u.manifest, next);
      }
      return texts;
    },

    async lockSteps(updates): Promise<LockStep[]> {
      // go.mod already names the new versions: `go get` makes the build list consistent (what the
      // new versions require), `go mod tidy` writes go.sum and the indirect requirements. In a
      // workspace each module is brought in line on its own (GOWORK=off: tidy ignores go.work
      // anyway, and each module's go.mod and go.sum must stand alone for its own consumers).
      const byDir = new Map<string, ProposedUpdate[]>();
      for (const u of updates) {
        const dir = u.manifest.includes("/") ? u.manifest.slice(0, u.manifest.lastIndexOf("/")) : ".";
        byDir.set(dir, [...(byDir.get(dir) ?? []), u]);
      }
      const workspace = updates.some((u) => u.manifest !== "go.mod") || byDir.size > 1;
      return [...byDir].map(([dir, list]) => {
        const targets = list.map((u) => `'${u.name}@${u.newVersion}'`).join(" ");
        const env = workspace ? `${GO_LOCK_ENV} GOWORK=off` : GO_LOCK_ENV;
        const command = `${env} go get ${targets} && ${env} go mod tidy`;
        // Directories come from go.work's `use` lines, kept inside the repository (parseGoWork); quoted for the shell.
        return dir === "." ? { command, network: true, why: "update go.mod and go.sum" } : { command: `cd '${dir.replace(/'/g, "'\\''")}' && ${command}`, network: true, why: `update ${dir}/go.mod and go.sum`, files: [`${dir}/go.sum`] };
      });
    },

    async check(files, updates): Promise<AppliedCheck[]> {
      const mods = new Map<string, ReturnType<typeof parseGoMod>>();
      for (const u of updates) if (!mods.has(u.manifest)) mods.set(u.manifest, parseGoMod((await files.read(u.manifest)) ?? ""));
      return updates.map((u) => {
        const v = mods.get(u.manifest)!.requires.find((r) => r.path === u.name)?.version;
        // Minimal version selection may pick a newer version than asked (another module requires it).
        const ok = v !== undefined && (v === u.newVersion || compareVersionsRaw(v, u.newVersion) > 0);
        // `value` is what the manifest holds for the update's purpose (it holds the new version or
        // newer); `locked` the exact version, which callers report when it differs.
        return { update: u, ...(v ? { value: ok ? u.newValue : v, locked: v } : {}), ok };
      });
    },

    async releaseNotes() {
      // The proxy carries no changelog; the PR links the release page where the host is known.
      return undefined;
    },
  };
}

/** The modules to read: go.work's `use` directories that hold a go.mod, else the root go.mod. */
async function readModules(files: RepoFiles): Promise<Array<{ dir: string; path: string; mod: ReturnType<typeof parseGoMod> }> | undefined> {
  const work = await files.read("go.work");
  const dirs = work !== undefined ? parseGoWork(work) : ["."];
  const out = [];
  for (const dir of dirs) {
    const path = dir === "." ? "go.mod" : `${dir}/go.mod`;
    const text = await files.read(path);
    if (text !== undefined) out.push({ dir, path, mod: parseGoMod(text) });
  }
  return out.length ? out : undefined;
}

function compareVersionsRaw(a: string, b: string): number {
  const x = parseGoVersion(a);
  const y = parseGoVersion(b);
  return x && y ? compareGoVersions(x, y) : 0;
}

/** github.com modules: the release page of the tag. */
function releaseNotesUrl(path: string, version: string): Pick<ProposedUpdate, "releaseNotesUrl"> {
  const m = /^github\.com\/([^/]+)\/([^/]+)/.exec(path);
  return m ? { releaseNotesUrl: `https://github.com/${m[1]}/${m[2]}/releases/tag/${version}` } : {};
}
