import type { LockStep } from "../ecosystem.js";
import type { ProposedUpdate, RepoFiles } from "../types.js";
import { setDependencyValue } from "./edit-manifest.js";
import type { JsManager } from "./js-locks.js";
import { classifySpec, respec } from "./spec.js";

/**
 * How pnpm and yarn (classic and berry) bring their lock files in line with an upgrade, run in the
 * sandbox through corepack, so the version the repository pins (`packageManager`) is the one that
 * writes its lock file; unpinned, corepack's own known-good release. (The sandbox sets
 * COREPACK_ENABLE_DOWNLOAD_PROMPT=0 and COREPACK_ENABLE_AUTO_PIN=0: no prompt, and corepack never
 * adds a `packageManager` line of its own to package.json.) Pure, apart from the
 * `prepare` callbacks, which read and compute files for apply-updates.ts to write.
 *
 * Neither pnpm nor yarn has npm's `--before`, and a range bump (`^1.0.0` → `^1.2.0`) would lock
 * the newest 1.x, which may be younger than the minimum age (or not what was tested). So every
 * update is locked exactly, in two installs ("pin, then release"):
 *   1. the manifests name the exact new versions (`1.2.0`); the install locks those;
 *   2. the manifests get their real new values back (`^1.2.0`) and the install runs again.
 * pnpm keeps a locked version that satisfies the new specifier. Yarn re-resolves a changed
 * descriptor (berry to the newest; classic to the newest already in the lock), so before step 2
 * the lock's `name@1.2.0` entries are renamed to `name@^1.2.0`, which yarn then keeps.
 */
export function installCommand(manager: Exclude<JsManager, "npm">): string {
  switch (manager) {
    case "pnpm":
      return `corepack pnpm install --lockfile-only --ignore-scripts`;
    case "yarn":
      // Classic has no lock-only mode: it installs node_modules too (scripts off).
      return `corepack yarn install --ignore-scripts --non-interactive --no-progress`;
    case "yarn-berry":
      // CI=true (the sandbox's) makes berry's install immutable unless told otherwise.
      return `corepack yarn install --mode=update-lockfile --no-immutable`;
  }
}

export function managerLabel(manager: JsManager): string {
  return manager === "yarn-berry" ? "yarn (berry)" : manager === "yarn" ? "yarn (classic)" : manager;
}

/** The lock descriptor yarn writes for a manifest value. */
function descriptor(manager: "yarn" | "yarn-berry", key: string, value: string): string {
  if (manager === "yarn") return `${key}@${value}`;
  return `${key}@${value.startsWith("npm:") ? value : `npm:${value}`}`;
}

/**
 * yarn.lock with each `from` descriptor renamed to `to` in the entry headers (classic and berry),
 * unless `to` is already there (then yarn keeps that entry's version). Pure.
 */
export function renameYarnDescriptors(text: string, manager: "yarn" | "yarn-berry", renames: ReadonlyArray<{ key: string; from: string; to: string }>): string {
  const lines = text.split("\n");
  const headers = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.length > 0 && !/^[\s#]/.test(l) && l.endsWith(":"));
  const split = (header: string) =>
    manager === "yarn"
      ? header.slice(0, -1).split(/,\s*/).map((d) => d.trim().replace(/^"(.*)"$/, "$1"))
      : header.slice(0, -1).replace(/^"(.*)"$/, "$1").split(/,\s*/).map((d) => d.trim());
  const present = new Set(headers.flatMap(({ l }) => split(l)));
  for (const r of renames) {
    const from = descriptor(manager, r.key, r.from);
    const to = descriptor(manager, r.key, r.to);
    if (from === to || present.has(to) || !present.has(from)) continue;
    for (const h of headers) {
      const list = split(lines[h.i]!);
      if (!list.includes(from)) continue;
      const next = list.map((d) => (d === from ? to : d));
      lines[h.i] = manager === "yarn" ? `${next.map((d) => `"${d}"`).join(", ")}:` : `"${next.join(", ")}":`;
    }
    present.delete(from);
    present.add(to);
  }
  return lines.join("\n");
}

/** The value in the manifest for an update, and its exact-pinned form. */
function pinnedValue(raw: string, version: string): string {
  return respec(classifySpec(raw), version);
}

/** The two installs of "pin, then release" (see above). */
export function pinThenReleaseSteps(manager: Exclude<JsManager, "npm">, updates: readonly ProposedUpdate[], lockFile: string | undefined): LockStep[] {
  const command = installCommand(manager);
  const finals = new Map<string, string>();
  const renames: Array<{ key: string; from: string; to: string }> = [];
  const pin: LockStep = {
    command,
    network: true,
    why: "lock the proposed versions exactly",
    async prepare(files: RepoFiles) {
      const pinned = new Map<string, string>();
      for (const u of updates) {
        const final = finals.get(u.manifest) ?? (await files.read(u.manifest));
        if (final === undefined) continue;
        finals.set(u.manifest, final);
        const text = pinned.get(u.manifest) ?? final;
        const key = u.alias ?? u.name;
        const raw = (JSON.parse(text) as Record<string, Record<string, unknown> | undefined>)[u.depType]?.[key];
        if (typeof raw !== "string") continue;
        const exact = pinnedValue(raw, u.newVersion);
        const next = setDependencyValue(text, u.depType, key, raw, exact);
        if (next === null) continue;
        pinned.set(u.manifest, next);
        renames.push({ key, from: exact, to: raw });
      }
      return pinned;
    },
  };
  const release: LockStep = {
    command,
    network: true,
    why: "bring the lock file back to the manifests' ranges",
    async prepare(files: RepoFiles) {
      const writes = new Map(finals);
      if ((manager === "yarn" || manager === "yarn-berry") && lockFile) {
        const lock = await files.read(lockFile);
        if (lock !== undefined) writes.set(lockFile, renameYarnDescriptors(lock, manager, renames));
      }
      return writes;
    },
  };
  return [pin, release];
}
