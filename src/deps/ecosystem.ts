import type { IgnoreRule } from "./ignore.js";
import type { Dependency, ProposedUpdate, RepoFiles, ScanProblem, SkippedUpdate } from "./types.js";

/**
 * What an ecosystem (npm with pnpm and yarn, Go, Python) provides to the upgrade. Grouping, ignore
 * rules, the CLI, the job and its PRs are ecosystem-neutral and work on these shapes only, so a
 * second ecosystem is a new module implementing this interface, registered beside npm's.
 */
export interface FindPolicy {
  now: number;
  minimumAgeMs: number;
  ignore: readonly IgnoreRule[];
}

export interface Findings {
  ecosystem: string;
  /** Dependencies read from the manifests (registry ones, before ignore rules). */
  dependencies: Dependency[];
  updates: Array<Omit<ProposedUpdate, "group">>;
  skipped: SkippedUpdate[];
  problems: ScanProblem[];
  /** The lock file the updates will change, when there is one. */
  lockFile?: string;
}

/** A command run in the sandbox (at the repository root) to bring the lock file in line. */
export interface LockStep {
  command: string;
  /** Needs the registry (run with network; the install phase is the only one that gets it). */
  network: boolean;
  why: string;
  /**
   * Files to write (host-side) just before the command, computed from the workspace as the earlier
   * steps left it (pnpm's and yarn's "pin, then release": npm/js-managers.ts).
   */
  prepare?: (files: RepoFiles) => Promise<ReadonlyMap<string, string>>;
  /** Files the command writes besides the manifests and the lock file (a Go workspace's go.sum per module): committed with the bump. */
  files?: readonly string[];
}

/** After the lock step: what the manifests and the lock file now hold for an update. */
export interface AppliedCheck {
  update: ProposedUpdate;
  /** The value in the manifest now. */
  value?: string;
  /** The version the lock file holds now (undefined without a lock file or entry). */
  locked?: string;
  ok: boolean;
}

export interface Ecosystem {
  readonly id: string;
  /** Read the manifests, ask the registry, propose. Undefined when the repository has no such project. */
  find(files: RepoFiles, policy: FindPolicy): Promise<Findings | undefined>;
  /** The new text of each manifest the updates change (path → text). Throws ManifestChangedError. */
  editManifests(files: RepoFiles, updates: readonly ProposedUpdate[]): Promise<Map<string, string>>;
  /** Commands that update the lock file after the manifests were written. */
  lockSteps(updates: readonly ProposedUpdate[], policy: Pick<FindPolicy, "now" | "minimumAgeMs">, lockFile: string | undefined, files: RepoFiles): Promise<LockStep[]>;
  /** Read back what the manifests and lock file hold, to check the package manager did as asked. */
  check(files: RepoFiles, updates: readonly ProposedUpdate[], lockFile: string | undefined): Promise<AppliedCheck[]>;
  /** The changelog excerpt for an update, bounded; undefined when the package ships none. */
  releaseNotes(update: ProposedUpdate, maxChars: number): Promise<{ source: string; text: string } | undefined>;
}

/** The manifest no longer holds what the scan read (the file changed in between). */
export class ManifestChangedError extends Error {
  constructor(
    readonly manifest: string,
    readonly packageName: string,
  ) {
    super(`${manifest}: the entry for ${packageName} is not what the scan read`);
    this.name = "ManifestChangedError";
  }
}

/**
 * The ecosystems `.github/iquest.yml` leaves on (`upgrade.ecosystems`; an id it does not name stays
 * on). A switch covers its family: `python` also turns off `python-poetry`.
 */
export function enabledEcosystems<T extends { readonly id: string }>(all: readonly T[], switches: Readonly<Record<string, boolean>>): T[] {
  return all.filter((e) => switches[e.id] !== false && switches[e.id.split("-")[0]!] !== false);
}
