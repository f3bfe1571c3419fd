import semver from "semver";
import { changelogExcerpt } from "../changelog.js";
import { readTarGz } from "../tar.js";
import type { ProposedUpdate } from "../types.js";
import type { NpmRegistryClient } from "./registry.js";

/**
 * Release notes for an update, for the agent that repairs what it broke: the changelog file in
 * the new version's tarball (CHANGELOG, CHANGES, HISTORY, RELEASES or NEWS), cut to the versions
 * between the locked one and the new one. Tarballs are read in memory with size caps, never
 * unpacked. Undefined when the package ships no changelog; the caller then points at
 * `releaseNotesUrl` instead.
 */
export interface ReleaseNotes {
  source: string;
  text: string;
}

const CHANGELOG = /^package\/(changelog|changes|history|releases|news)(\.(md|markdown|txt|rst))?$/i;

export async function npmReleaseNotes(update: ProposedUpdate, client: NpmRegistryClient, maxChars: number): Promise<ReleaseNotes | undefined> {
  const meta = await client.packument(update.name, update.registry);
  const tarball = meta.versions.find((v) => v.version === update.newVersion)?.tarball;
  if (!tarball) return undefined;
  const gz = await client.tarball(tarball, update.name, update.registry, 20 * 1024 * 1024);
  const files = readTarGz(gz, (p) => CHANGELOG.test(p), { maxUnpackedBytes: 200 * 1024 * 1024, maxFileBytes: 2 * 1024 * 1024 });
  const [path, content] = [...files.entries()].sort(([a], [b]) => a.length - b.length)[0] ?? [];
  if (!path || !content) return undefined;
  const from = update.currentVersion ?? semver.minVersion(update.currentValue)?.version ?? "0.0.0";
  const excerpt = changelogExcerpt(
    content.toString("utf8"),
    (v) => semver.valid(v) !== null && semver.gt(v, from) && semver.lte(v, update.newVersion),
    maxChars,
  );
  if (!excerpt) return undefined;
  const file = path.replace(/^package\//, "");
  return {
    source: excerpt.fallback ? `the top of ${file} in ${update.name}@${update.newVersion} (no section named these versions)` : `${file} in ${update.name}@${update.newVersion}`,
    text: excerpt.text,
  };
}
