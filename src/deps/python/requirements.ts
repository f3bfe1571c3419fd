/**
 * requirements*.txt, read and edited as text (pure). What the upgrade handles: exact pins
 * (`name==1.2.3`, with extras and environment markers); what it reports and leaves alone: ranges
 * (`>=`, `~=`, no version), hash-pinned lines (their hashes would need regenerating), URLs and
 * editable installs. `-r` includes are followed by the caller; `--index-url` names the index.
 */
export interface Pin {
  /** As written. */
  name: string;
  /** PEP 503 normalized. */
  normalized: string;
  version: string;
  /** 0-based line. */
  line: number;
}

export interface RequirementsFile {
  pins: Pin[];
  /** Not upgraded, with why. */
  skipped: Array<{ name: string; reason: string }>;
  includes: string[];
  indexUrl?: string;
}

export const normalizePyName = (name: string) => name.toLowerCase().replace(/[-_.]+/g, "-");

const PIN = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([A-Za-z0-9.+!_-]+)\s*(;[^#]*)?(#.*)?$/;
const NAME = /^([A-Za-z0-9][A-Za-z0-9._-]*)/;

export function parseRequirements(text: string): RequirementsFile {
  const out: RequirementsFile = { pins: [], skipped: [], includes: [] };
  text.split("\n").forEach((raw, line) => {
    const l = raw.replace(/\r$/, "").trim();
    if (!l || l.startsWith("#")) return;
    const include = /^(?:-r|--requirement)\s*=?\s*(\S+)/.exec(l);
    if (include) return void out.includes.push(include[1]!);
    const index = /^(?:-i|--index-url)\s*=?\s*(\S+)/.exec(l);
    if (index) return void (out.indexUrl = index[1]!);
    if (l.startsWith("-")) return;
    const name = NAME.exec(l)?.[1];
    if (!name) return;
    if (/--hash[=\s]/.test(l) || raw.trimEnd().endsWith("\\")) return void out.skipped.push({ name, reason: "hash-pinned (its hashes would need regenerating): not upgraded" });
    const parsed = parseRequirementLine(l);
    if (!parsed) return;
    if ("pin" in parsed) out.pins.push({ ...parsed.pin, line });
    else out.skipped.push(parsed.skipped);
  });
  return out;
}

/** One PEP 508 requirement (a requirements line or a pyproject string): an exact pin, or why it is left alone. */
export function parseRequirementLine(requirement: string): { pin: Omit<Pin, "line"> } | { skipped: { name: string; reason: string } } | undefined {
  const l = requirement.trim();
  const name = NAME.exec(l)?.[1];
  if (!name) return undefined;
  if (/^[^;#]*@\s*\S+:\/\//.test(l)) return { skipped: { name, reason: "installed from a URL: not upgraded" } };
  const pin = PIN.exec(l);
  if (!pin) return { skipped: { name, reason: "not an exact pin (`name==version`): the range is left to pip" } };
  return { pin: { name: pin[1]!, normalized: normalizePyName(pin[1]!), version: pin[3]! } };
}

/** The file with one pin moved from `from` to `to`; undefined when the line is not what was read. */
export function setPin(text: string, pin: Pick<Pin, "line" | "normalized">, from: string, to: string): string | undefined {
  const lines = text.split("\n");
  const raw = lines[pin.line];
  if (raw === undefined) return undefined;
  const m = PIN.exec(raw.replace(/\r$/, "").trim());
  if (!m || normalizePyName(m[1]!) !== pin.normalized || m[3] !== from) return undefined;
  lines[pin.line] = raw.replace(new RegExp(`==(\\s*)${from.replace(/[.+]/g, "\\$&")}`), `==$1${to}`);
  return lines.join("\n");
}

/** PEP 440, the common subset: release numbers, pre/post/dev tags. */
export interface PyVersion {
  release: number[];
  pre?: [string, number];
  post?: number;
  dev?: number;
  raw: string;
}

export function parsePyVersion(v: string): PyVersion | undefined {
  const m = /^v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|rc|alpha|beta|c|pre|preview)[-_.]?(\d*))?(?:[-_.]?(?:post|rev|r)[-_.]?(\d*)|-(\d+))?(?:[-_.]?dev[-_.]?(\d*))?$/i.exec(v.trim());
  if (!m) return undefined;
  const tag = m[2]?.toLowerCase();
  const pre: [string, number] | undefined = tag ? [tag === "alpha" ? "a" : tag === "beta" ? "b" : tag === "c" || tag === "pre" || tag === "preview" ? "rc" : tag, Number(m[3] || 0)] : undefined;
  const post = m[4] !== undefined ? Number(m[4] || 0) : m[5] !== undefined ? Number(m[5]) : undefined;
  return { release: m[1]!.split(".").map(Number), ...(pre ? { pre } : {}), ...(post !== undefined ? { post } : {}), ...(m[6] !== undefined ? { dev: Number(m[6] || 0) } : {}), raw: v };
}

export const isPyPrerelease = (v: PyVersion) => v.pre !== undefined || v.dev !== undefined;

export function comparePyVersions(a: PyVersion, b: PyVersion): number {
  for (let i = 0; i < Math.max(a.release.length, b.release.length); i++) {
    const d = (a.release[i] ?? 0) - (b.release[i] ?? 0);
    if (d) return d;
  }
  // dev < pre < release < post
  const rank = (v: PyVersion) => (v.dev !== undefined && !v.pre && v.post === undefined ? 0 : v.pre ? 1 : v.post !== undefined ? 3 : 2);
  const r = rank(a) - rank(b);
  if (r) return r;
  if (a.pre && b.pre) return a.pre[0] === b.pre[0] ? a.pre[1] - b.pre[1] : a.pre[0] < b.pre[0] ? -1 : 1;
  return (a.post ?? 0) - (b.post ?? 0);
}
