// Jest runs in native ESM mode (probot and @octokit are ESM-only) with @swc/jest as the
// TypeScript transform: type-checking is done by `tsc --noEmit` in `npm test`, not here.
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" } }],
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  // bench/tasks holds task repositories (package.json files of their own), not modules of ours.
  modulePathIgnorePatterns: ["<rootDir>/bench/tasks/"],
  // Integration tests start real redis-server, git and bwrap processes; two cores are all we have.
  maxWorkers: 2,
  testTimeout: 30000,
};
