/**
 * The vocabulary of dependency upgrades, shared by every ecosystem (npm and Go now; others are new
 * modules that produce the same shapes). Nothing here knows GitHub, the queue or the sandbox:
 * an ecosystem reads files through `RepoFiles` and a registry over HTTP, and proposes updates.
 */

/** "lockfile": the range stays as written and only the locked version moves. */
export type UpdateType = "major" | "minor" | "patch" | "lockfile";

/** One dependency as a manifest declares it. */
export interface Dependency {
  ecosystem: string;
  /** The package's name in its registry (an npm alias `x: npm:real@^1` has name `real`). */
  name: string;
  /** The key in the manifest, when it differs from `name` (npm aliases). */
  alias?: string;
  /** dependencies, devDependencies, optionalDependencies, … as the manifest calls the section. */
  depType: string;
  /** Path of the manifest, relative to the repository root ("package.json", "packages/a/package.json"). */
  manifest: string;
  /** The range as written (for an alias, the range inside `npm:real@…`). */
  currentValue: string;
  /** The version the lock file holds; absent without a lock file or entry. */
  currentVersion?: string;
  /** Base URL of the registry this package comes from (ends with "/"). */
  registry: string;
}

/** One proposed change: the fields `iquest-bot upgrade --dry-run --json` prints. */
export interface ProposedUpdate {
  ecosystem: string;
  name: string;
  alias?: string;
  depType: string;
  manifest: string;
  currentValue: string;
  newValue: string;
  /** Locked before; null when there was no lock entry (the range's floor was used to compare). */
  currentVersion: string | null;
  newVersion: string;
  updateType: UpdateType;
  /** Name of the group (one branch and PR per group). */
  group: string;
  registry: string;
  /** Where a reviewer reads what changed (release page, changelog), when known. */
  releaseNotesUrl?: string;
}

/** Something that stopped part of the scan: said on the card or the dashboard, never thrown. */
export interface ScanProblem {
  kind: "manifest" | "lockfile" | "registry" | "unsupported" | "config";
  message: string;
  manifest?: string;
  name?: string;
}

/** A dependency or version deliberately not proposed, with the reason (for the dashboard). */
export interface SkippedUpdate {
  name: string;
  manifest: string;
  reason: "ignored" | "too-young" | "not-registry" | "range" | "closed-pr" | "no-lockfile";
  detail: string;
  /** The version that was held back, if one. */
  version?: string;
}

/** What a registry tells about one version. */
export interface VersionMeta {
  version: string;
  /** Publish time (ms since epoch), when the registry says. */
  publishedAt?: number;
  /** The deprecation message, if deprecated. */
  deprecated?: string;
  /** Tarball URL (npm), for release notes. */
  tarball?: string;
}

/** A package's registry metadata, reduced to what the upgrade needs. */
export interface PackageMeta {
  name: string;
  versions: VersionMeta[];
  distTags: Record<string, string>;
  /** Source repository URL (normalized to https when it is a known host), for release notes. */
  repositoryUrl?: string;
  homepage?: string;
}

/**
 * Read access to the repository's files (the checkout, confined to it, or a local directory for
 * the CLI). Paths are relative to the repository root, with "/" separators.
 */
export interface RepoFiles {
  /** The file's text, or undefined when it does not exist (or is not a regular file). */
  read(path: string): Promise<string | undefined>;
  /** Names of the directories directly inside `dir` ("" for the root); [] when it does not exist. */
  listDirs(dir: string): Promise<string[]>;
  /** Names of the regular files directly inside `dir`; [] when it does not exist. */
  listFiles?(dir: string): Promise<string[]>;
}
