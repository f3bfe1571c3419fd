/**
 * The GitHub simulator for end-to-end tests. See README.md in this folder.
 */
export { GitHubSim, startGitHubSim, type CreateRepoOptions, type GitHubSimOptions, type InstallAppOptions } from "./sim.js";
export { SECONDARY_RATE_LIMIT_MESSAGE, type FaultHandle, type FaultResponse, type FaultRule } from "./faults.js";
export type { SeedFile, Identity } from "./git.js";
export type * from "./state.js";
