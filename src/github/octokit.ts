import { ProbotOctokit } from "probot";

/**
 * Probot's Octokit without the retry and throttling plugins. The web process uses it: both
 * plugins schedule every request through Bottleneck timers (measured: ~14 ms added to a 0.5 ms
 * loopback request, see docs/BENCHMARKS.md), and a webhook handler must not wait out a rate
 * limit anyway (GitHub gives a delivery 10 s). A failed read makes the handler fail closed and
 * answer 5xx, and GitHub can redeliver. Workers keep both plugins: they can afford to wait.
 *
 * The function form of `defaults` is needed: probot 14 replaces a plain `throttle` object with
 * its own (probot/probot#2039).
 */
export const NoWaitOctokit = ProbotOctokit.defaults((opts: Record<string, unknown>) => ({
  ...opts,
  retry: { enabled: false },
  throttle: { ...(opts.throttle as object), enabled: false },
})) as typeof ProbotOctokit;
