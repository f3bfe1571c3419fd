import { ForbiddenPushError } from "./errors.js";

/**
 * How an installation token reaches git, and nothing else.
 *
 * The token goes to the host-side git process only, as an `http.<origin>/.extraHeader` set
 * through git's `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` environment. So:
 * - it is never written to any `.git/config` (the mirror stores the token-free URL);
 * - it is never part of a URL, so no error message, reflog or remote listing can show it;
 * - it is not on a command line (`ps` shows `-c` arguments, not the environment);
 * - it is scoped to the remote's origin, so a redirect to another host does not get it;
 * - the sandbox never sees it: sandboxed commands get a fixed environment, and the host-side
 *   git children that carry it are not visible from the sandbox's pid namespace.
 *
 * Tokens are minted by the caller (`GitHubApp.tokenForRepo` with `STEP_PERMISSIONS.checkout` or
 * `.publish`); this module takes a value or a supplier so a publish-time write token is minted as
 * late as possible.
 */

export type TokenSource = string | (() => Promise<string>);

export async function resolveToken(source: TokenSource): Promise<string> {
  const token = typeof source === "function" ? await source() : source;
  // A header value must be one printable line: refuse anything that could inject a header.
  if (!token || !/^[\x21-\x7e]+$/.test(token)) throw new Error("installation token is empty or malformed");
  return token;
}

export type GitProtocol = "https" | "http" | "file";

/**
 * Parse and check a remote URL: only the listed schemes, no credentials in it, no `ext::`-style
 * transport helpers (`<transport>::<address>`), no ssh or git://. Throws ForbiddenPushError.
 */
export function checkRemoteUrl(url: string, allowed: readonly GitProtocol[]): URL {
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) throw new ForbiddenPushError(`remote "${safeForMessage(url)}" uses a transport helper`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ForbiddenPushError(`remote "${safeForMessage(url)}" is not a URL`);
  }
  const scheme = parsed.protocol.replace(/:$/, "") as GitProtocol;
  if (!allowed.includes(scheme)) throw new ForbiddenPushError(`remote scheme "${scheme}" is not allowed (allowed: ${allowed.join(", ")})`);
  if (parsed.username || parsed.password) throw new ForbiddenPushError("remote URL must not contain credentials");
  if (parsed.search || parsed.hash) throw new ForbiddenPushError("remote URL must not have a query or fragment");
  return parsed;
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** `https://github.com/owner/name.git` (or the GHE host), with both names checked. */
export function remoteUrlFor(gitBaseUrl: string, owner: string, name: string): string {
  for (const part of [owner, name]) {
    if (!NAME.test(part) || part === "." || part === "..") throw new Error(`invalid repository name part "${part}"`);
  }
  return `${gitBaseUrl.replace(/\/+$/, "")}/${owner}/${name}.git`;
}

/**
 * The environment that gives one git process (and its children, e.g. git-remote-https or a lazy
 * partial-clone fetch) the token for `remoteUrl`'s origin. Empty for file:// remotes (tests).
 */
export function gitAuthEnv(remoteUrl: string, token: string): Record<string, string> {
  const url = new URL(remoteUrl);
  if (url.protocol !== "https:" && url.protocol !== "http:") return {};
  const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
  return {
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: `http.${url.protocol}//${url.host}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

/** Every form of the token that could show up in git's output, for the redactor. */
export function tokenForms(token: string): string[] {
  return [token, Buffer.from(`x-access-token:${token}`).toString("base64")];
}

function safeForMessage(url: string): string {
  return url.replace(/\/\/[^/@]*@/, "//[REDACTED]@").slice(0, 200);
}
