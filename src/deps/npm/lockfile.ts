/**
 * package-lock.json (and npm-shrinkwrap.json): which version is installed for a dependency of a
 * given manifest. Lock files v2 and v3 list `packages` by install path; v1 nests
 * `dependencies`. Pure.
 */
export interface NpmLock {
  version: number;
  packages?: Record<string, { version?: string; name?: string; link?: boolean }>;
  dependencies?: Record<string, { version?: string }>;
}

/** The lock files read (js-locks.ts), in the order that decides when a repository has several. */
export const LOCK_FILES = ["package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock"] as const;
/** Lock files of package managers whose upgrades are not supported. */
export const FOREIGN_LOCKS = { "bun.lockb": "bun", "bun.lock": "bun" } as const;

export function parseLock(text: string): { lock: NpmLock } | { error: string } {
  try {
    const json = JSON.parse(text) as Partial<NpmLock> & { lockfileVersion?: unknown };
    if (!json || typeof json !== "object") return { error: "not an object" };
    const version = typeof json.lockfileVersion === "number" ? json.lockfileVersion : 1;
    return { lock: { version, ...(json.packages ? { packages: json.packages } : {}), ...(json.dependencies ? { dependencies: json.dependencies } : {}) } };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * The version locked for `key` (the key in the manifest's section; an alias's key) as seen from
 * the manifest in `dir`: node's resolution walks up from `dir/node_modules` to the root's.
 */
export function lockedVersion(lock: NpmLock, dir: string, key: string): string | undefined {
  if (lock.packages) {
    const parts = dir ? dir.split("/") : [];
    for (let i = parts.length; i >= 0; i--) {
      const prefix = parts.slice(0, i).join("/");
      const entry = lock.packages[`${prefix ? `${prefix}/` : ""}node_modules/${key}`];
      if (entry?.version && !entry.link) return cleanVersion(entry.version);
    }
    return undefined;
  }
  const entry = lock.dependencies?.[key];
  return entry?.version ? cleanVersion(entry.version) : undefined;
}

/** v1 writes aliases as "npm:real@1.2.3". */
function cleanVersion(version: string): string {
  return version.startsWith("npm:") ? version.slice(version.lastIndexOf("@") + 1) : version;
}
