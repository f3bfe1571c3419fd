import type { GitHub } from "./types.js";

/**
 * A repository's latest release tag (`GET /repos/{owner}/{repo}/releases/latest`), for the
 * dashboard's list of outdated actions; undefined when it has none (404) or it cannot be read.
 */
export async function latestReleaseTag(github: GitHub, owner: string, repo: string): Promise<string | undefined> {
  try {
    const { data } = await github.rest.repos.getLatestRelease({ owner, repo });
    return typeof data.tag_name === "string" ? data.tag_name : undefined;
  } catch {
    return undefined;
  }
}
