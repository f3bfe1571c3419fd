import { normalizePyName, parseRequirementLine, type Pin } from "./requirements.js";

/**
 * pyproject.toml's PEP 621 dependencies (`[project] dependencies = [...]` and
 * `[project.optional-dependencies]`), read and edited as text for what upgrades need: the exact
 * pins (`"name==1.2.3"`), each on its line, so a bump rewrites that one string. Ranges are left
 * to the installer, as in requirements files. Whether the project is Poetry's or uv's (their lock
 * files need their tools) is the caller's question. Pure.
 */
export interface PyprojectPin extends Pin {
  /** "project.dependencies" or "project.optional-dependencies.<group>". */
  depType: string;
}

export interface Pyproject {
  pins: PyprojectPin[];
  skipped: Array<{ name: string; reason: string }>;
  /** Has a `[project]` table. */
  pep621: boolean;
  /** Has `[tool.poetry.dependencies]` (or a group's). */
  poetryDependencies: boolean;
}

export function parsePyproject(text: string): Pyproject {
  const out: Pyproject = { pins: [], skipped: [], pep621: false, poetryDependencies: false };
  let table = "";
  // The array being read, when `key = [` spans lines.
  let array: string | undefined;
  text.split("\n").forEach((raw, line) => {
    const l = raw.trim();
    if (array === undefined) {
      const header = /^\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$/.exec(l);
      if (header) {
        table = header[1]!.replace(/\s*\.\s*/g, ".").replace(/"/g, "");
        if (table === "project") out.pep621 = true;
        if (/^tool\.poetry\.(?:dev-)?dependencies$|^tool\.poetry\.group\.[^.]+\.dependencies$/.test(table)) out.poetryDependencies = true;
        return;
      }
      const kv = /^([A-Za-z0-9_-]+|"[^"]+")\s*=\s*\[(.*)$/.exec(l);
      if (!kv) return;
      const key = kv[1]!.replace(/"/g, "");
      if (table === "project" && key === "dependencies") array = "project.dependencies";
      else if (table === "project.optional-dependencies") array = `project.optional-dependencies.${key}`;
      else return;
      strings(kv[2]!, line, array);
      if (/\]\s*(?:#.*)?$/.test(kv[2]!.replace(/"[^"]*"|'[^']*'/g, ""))) array = undefined;
      return;
    }
    strings(l, line, array);
    if (/\]\s*(?:#.*)?$/.test(l.replace(/"[^"]*"|'[^']*'/g, ""))) array = undefined;
  });
  return out;

  function strings(s: string, line: number, depType: string) {
    for (const m of s.matchAll(/"([^"]*)"|'([^']*)'/g)) {
      const requirement = (m[1] ?? m[2])!;
      const parsed = parseRequirementLine(requirement);
      if (!parsed) continue;
      if ("pin" in parsed) out.pins.push({ ...parsed.pin, line, depType });
      else out.skipped.push(parsed.skipped);
    }
  }
}

/** The file with one pin's string moved from `from` to `to` on its line; undefined when that line no longer holds it. */
export function setPyprojectPin(text: string, pin: Pick<PyprojectPin, "line" | "normalized">, from: string, to: string): string | undefined {
  const lines = text.split("\n");
  const raw = lines[pin.line];
  if (raw === undefined) return undefined;
  let done = false;
  const next = raw.replace(/"([^"]*)"|'([^']*)'/g, (whole, dq?: string, sq?: string) => {
    const requirement = (dq ?? sq)!;
    const parsed = parseRequirementLine(requirement);
    if (done || !parsed || !("pin" in parsed) || normalizePyName(parsed.pin.name) !== pin.normalized || parsed.pin.version !== from) return whole;
    done = true;
    return whole.replace(new RegExp(`==(\\s*)${from.replace(/[.+]/g, "\\$&")}`), `==$1${to}`);
  });
  if (!done) return undefined;
  lines[pin.line] = next;
  return lines.join("\n");
}
