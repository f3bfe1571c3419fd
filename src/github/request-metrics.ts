import type { ProbotOctokit } from "probot";

/**
 * An Octokit class that reports every REST call (route template, method, status) to `record`,
 * for the iquest_github_requests_total metric. The route is octokit's template
 * ("/repos/{owner}/{repo}/issues/{issue_number}/comments"), and numbers in literal paths are
 * masked, so the label's cardinality stays bounded by the number of endpoints the app uses.
 */
export function withRequestMetrics(
  Octokit: typeof ProbotOctokit,
  record: (route: string, method: string, status: number | "error") => void,
): typeof ProbotOctokit {
  return Octokit.plugin((octokit) => {
    octokit.hook.wrap("request", async (request, options) => {
      const route = String(options.url ?? "").replace(/\/\d+(?=\/|$)/g, "/{n}").replace(/^https?:\/\/[^/]+/, "");
      const method = String(options.method ?? "GET");
      try {
        const response = await request(options);
        record(route, method, response.status);
        return response;
      } catch (err) {
        const status = (err as { status?: unknown }).status;
        record(route, method, typeof status === "number" ? status : "error");
        throw err;
      }
    });
    return {};
  }) as unknown as typeof ProbotOctokit;
}
