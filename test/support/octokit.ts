/**
 * Tests use Probot's Octokit with retry and throttling off (every test would otherwise wait in
 * Bottleneck); it is the same class the web process uses in production.
 */
export { NoWaitOctokit as TestOctokit } from "../../src/github/octokit.js";
