import { CONFIG_PATH, parseRepoConfig, type LoadedRepoConfig } from "../config/repo-config.js";
import type { GitHub, RepoName } from "./types.js";
import { statusOf } from "./types.js";

/**
 * Read `.github/iquest.yml` from the default branch (the API's default when no ref is given).
 * Never from a PR head: a PR must not be able to change how the bot treats it.
 * A missing file is the defaults; an unreadable one is reported as a problem and the defaults
 * apply, so a config error never blocks a handler.
 */
export async function loadRepoConfig(github: GitHub, repo: RepoName, ref?: string): Promise<LoadedRepoConfig> {
  let text: string | undefined;
  try {
    // `ref` only for the config check of a pushed default-branch commit (notify jobs).
    const { data } = await github.rest.repos.getContent({ ...repo, path: CONFIG_PATH, ...(ref ? { ref } : {}) });
    if (Array.isArray(data) || data.type !== "file" || typeof (data as { content?: unknown }).content !== "string") {
      const loaded = parseRepoConfig(undefined);
      loaded.problems.push({ key: "", message: `${CONFIG_PATH} is not a file` });
      loaded.source = "file";
      return loaded;
    }
    text = Buffer.from((data as { content: string }).content, "base64").toString("utf8");
  } catch (err) {
    if (statusOf(err) === 404) return parseRepoConfig(undefined);
    const loaded = parseRepoConfig(undefined);
    loaded.problems.push({ key: "", message: `could not be read (${statusOf(err) ?? "network"})` });
    loaded.transient = true;
    return loaded;
  }
  return parseRepoConfig(text);
}
