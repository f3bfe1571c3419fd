/**
 * Cargo.lock (versions 1–4): the locked versions of each package, from its `[[package]]`
 * tables. A name may be locked at several versions (two majors in one graph). Pure.
 */
export interface CargoLock {
  /** name → versions locked, from registries only (path and git packages have no registry source). */
  versions: Map<string, string[]>;
}

export function parseCargoLock(text: string): { lock: CargoLock } | { error: string } {
  const versions = new Map<string, string[]>();
  let current: { name?: string; version?: string; source?: string } | undefined;
  let packages = 0;
  const flush = () => {
    if (current?.name && current.version && /^(registry|sparse)\+/.test(current.source ?? "")) {
      versions.set(current.name, [...(versions.get(current.name) ?? []), current.version]);
    }
    current = undefined;
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "[[package]]") {
      flush();
      current = {};
      packages++;
      continue;
    }
    if (line.startsWith("[")) {
      flush();
      continue;
    }
    const kv = /^(name|version|source)\s*=\s*"([^"]*)"/.exec(line);
    if (kv && current) current[kv[1] as "name" | "version" | "source"] = kv[2]!;
  }
  flush();
  // Comments and the `version = 3` line alone are an empty lock; anything else without packages is not a Cargo.lock.
  if (packages === 0 && /\S/.test(text.replace(/^\s*#.*$/gm, "").replace(/^\s*version\s*=.*$/m, ""))) return { error: "no [[package]] entries" };
  return { lock: { versions } };
}

/** Cargo's default requirement is a caret one: "1.2" means ^1.2. As a node-semver range; undefined when it cannot be read. */
export function cargoReqToRange(req: string): string | undefined {
  const parts = req.split(",").map((p) => p.trim()).filter(Boolean);
  if (!parts.length) return undefined;
  const out: string[] = [];
  for (const p of parts) {
    if (p === "*" || /^\d+(\.\d+)?\.\*$/.test(p)) out.push(p);
    else if (/^\d/.test(p)) out.push(`^${p}`);
    else if (/^(\^|~|=|>=|<=|>|<)\s*\d/.test(p)) out.push(p.replace(/\s+/g, ""));
    else return undefined;
  }
  return out.join(" ");
}

/** A bumped node-semver range back in Cargo's spelling: the implicit caret stays implicit. */
export function rangeToCargoReq(originalReq: string, bumped: string): string {
  return /^\d/.test(originalReq.trim()) && bumped.startsWith("^") ? bumped.slice(1) : bumped;
}
