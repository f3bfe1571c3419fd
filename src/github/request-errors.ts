/**
 * A failed GitHub API call in words a maintainer can act on: which call, what GitHub answered.
 * Octokit's own message is only GitHub's (often just "Server Error"). Undefined for anything
 * that is not an API answer (a git failure, a network error without a status).
 */
export function describeRequestError(err: unknown): string | undefined {
  const e = err as { status?: unknown; message?: unknown; request?: { method?: unknown; url?: unknown } } | undefined;
  if (typeof e?.status !== "number" || typeof e.request?.url !== "string") return undefined;
  let path: string;
  try {
    path = new URL(e.request.url, "http://github.invalid").pathname.replace(/^\/api\/v3(?=\/)/, "");
  } catch {
    return undefined;
  }
  const said = typeof e.message === "string" && e.message.trim() ? ` ("${e.message.trim().slice(0, 300)}")` : "";
  return `GitHub answered HTTP ${e.status} to \`${String(e.request.method ?? "GET")} ${path}\`${said}`;
}
