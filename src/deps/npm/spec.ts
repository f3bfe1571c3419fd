import semver from "semver";

/**
 * What a dependency's value in package.json means to npm, as far as upgrades care: a registry
 * range (perhaps through an `npm:` alias), or something that does not come from a registry
 * (git, a file or link, a tarball URL, a workspace) or a dist-tag. Pure.
 */
export type NpmSpec =
  | { kind: "range"; range: string }
  | { kind: "alias"; name: string; range: string }
  | { kind: "workspace" | "git" | "file" | "url" | "tag"; spec: string };

export function classifySpec(value: string): NpmSpec {
  const spec = value.trim();
  if (spec.startsWith("workspace:")) return { kind: "workspace", spec };
  if (/^(file|link):/.test(spec) || /^(\.{1,2}\/|\/|~\/)/.test(spec)) return { kind: "file", spec };
  if (/^(git\+|git:|git@|github:|gitlab:|bitbucket:|gist:)/.test(spec)) return { kind: "git", spec };
  if (/^https?:\/\//.test(spec)) return { kind: "url", spec };
  if (spec.startsWith("npm:")) {
    const rest = spec.slice(4);
    const at = rest.lastIndexOf("@");
    const name = at > 0 ? rest.slice(0, at) : rest;
    const range = at > 0 ? rest.slice(at + 1) : "*";
    return { kind: "alias", name, range };
  }
  // GitHub shorthand: "user/repo" or "user/repo#ref" (a scope's "@x/y" is a name, not a value).
  if (/^[^@/\s:]+\/[^/\s]+$/.test(spec)) return { kind: "git", spec };
  if (semver.validRange(spec === "" ? "*" : spec) !== null) return { kind: "range", range: spec };
  return { kind: "tag", spec };
}

/** Put a new range back into the value it came from (an alias keeps its `npm:name@`). */
export function respec(original: NpmSpec, newRange: string): string {
  return original.kind === "alias" ? `npm:${original.name}@${newRange}` : newRange;
}

/** A valid npm package name (scoped or not), as the registry accepts them. */
export function isPackageName(name: string): boolean {
  return /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i.test(name) && name.length <= 214;
}

export function describeNonRegistry(kind: "workspace" | "git" | "file" | "url" | "tag", spec: string): string {
  switch (kind) {
    case "git":
      return `\`${spec}\` is a git dependency: only registry packages are upgraded`;
    case "file":
      return `\`${spec}\` is a local file or link dependency: only registry packages are upgraded`;
    case "url":
      return `\`${spec}\` is a tarball URL: only registry packages are upgraded`;
    case "workspace":
      return `\`${spec}\` is a workspace package, upgraded with the repository itself`;
    case "tag":
      return `\`${spec}\` is a dist-tag, not a version range: it already follows the registry`;
  }
}
