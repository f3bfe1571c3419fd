import { ProbotOctokit } from "probot";

/**
 * Probot's Octokit with retry and throttling off, in the function form: the object form does
 * not turn throttling off in probot 14 (probot/probot#2039), and every test would wait ~3 s.
 */
export const TestOctokit = ProbotOctokit.defaults((opts: Record<string, unknown>) => ({
  ...opts,
  retry: { enabled: false },
  throttle: { ...(opts.throttle as object), enabled: false },
})) as typeof ProbotOctokit;
