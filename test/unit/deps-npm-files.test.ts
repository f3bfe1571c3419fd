import { describe, expect, test } from "@jest/globals";
import { createMemoryFiles } from "../../src/deps/dir-files.js";
import { setDependencyValue } from "../../src/deps/npm/edit-manifest.js";
import { lockedVersion, parseLock } from "../../src/deps/npm/lockfile.js";
import { dependenciesOf, expandWorkspaces, localNames, readManifests } from "../../src/deps/npm/manifest.js";
import { normalizeRegistry, parseNpmrc, registryFor } from "../../src/deps/npm/npmrc.js";
import { classifySpec } from "../../src/deps/npm/spec.js";

describe("classifySpec", () => {
  test.each([
    ["^1.2.3", "range"],
    ["*", "range"],
    ["", "range"],
    [">=1 <3", "range"],
    ["npm:left-pad@^1.0.0", "alias"],
    ["workspace:*", "workspace"],
    ["file:../lib", "file"],
    ["link:../lib", "file"],
    ["../lib", "file"],
    ["git+https://github.com/a/b.git", "git"],
    ["github:a/b", "git"],
    ["a/b#main", "git"],
    ["git@github.com:a/b.git", "git"],
    ["https://example.com/x.tgz", "url"],
    ["latest", "tag"],
  ])("%j is %s", (value, kind) => {
    expect(classifySpec(value).kind).toBe(kind);
  });

  test("an alias names the real package and its range", () => {
    expect(classifySpec("npm:@scope/real@~2.1.0")).toEqual({ kind: "alias", name: "@scope/real", range: "~2.1.0" });
    expect(classifySpec("npm:real")).toEqual({ kind: "alias", name: "real", range: "*" });
  });
});

describe("manifests and workspaces", () => {
  const files = createMemoryFiles({
    "package.json": JSON.stringify({ name: "root", workspaces: ["packages/*", "tools/**", "!packages/skip"], dependencies: { a: "^1.0.0", lib: "^1.0.0" } }),
    "packages/lib/package.json": JSON.stringify({ name: "lib", devDependencies: { b: "~2.0.0" } }),
    "packages/app/package.json": JSON.stringify({ name: "app", dependencies: { lib: "workspace:*", c: "git+https://x/y.git", d: "file:../d", e: "npm:real-e@^3.0.0" }, peerDependencies: { p: "^1" } }),
    "packages/skip/package.json": JSON.stringify({ name: "skip" }),
    "packages/broken/package.json": "{ \"name\": \"broken\",\n  \"dependencies\": { \"x\": 1, }\n}",
    "packages/node_modules/package.json": "{}",
    "tools/deep/er/package.json": JSON.stringify({ name: "deeper", optionalDependencies: { f: "1.0.0" } }),
  });

  test("workspace globs (*, **, negation) find the manifests; node_modules never", async () => {
    expect(await expandWorkspaces(files, ["packages/*", "tools/**", "!packages/skip"])).toEqual(["packages/app", "packages/broken", "packages/lib", "tools", "tools/deep", "tools/deep/er"]);
  });

  test("an invalid package.json is a problem with a line number, and the others are still read", async () => {
    const read = (await readManifests(files))!;
    expect(read.manifests.map((m) => m.path)).toEqual(["package.json", "packages/app/package.json", "packages/lib/package.json", "tools/deep/er/package.json"]);
    expect(read.problems).toEqual([expect.objectContaining({ kind: "manifest", manifest: "packages/broken/package.json", message: expect.stringMatching(/not valid JSON .*line 2/) })]);
  });

  test("dependencies: registry ranges and aliases kept; git, file, workspace links skipped with reasons; peers left alone", async () => {
    const read = (await readManifests(files))!;
    const local = localNames(read.manifests);
    const root = dependenciesOf(read.manifests[0]!, local);
    expect(root.deps.map((d) => d.key)).toEqual(["a"]);
    expect(root.skipped.map((s) => s.name)).toEqual(["lib"]);
    const app = dependenciesOf(read.manifests[1]!, local);
    expect(app.deps).toEqual([{ key: "e", name: "real-e", depType: "dependencies", value: "npm:real-e@^3.0.0", range: "^3.0.0", alias: true }]);
    expect(app.skipped.map((s) => [s.name, s.reason])).toEqual([
      ["lib", "not-registry"],
      ["c", "not-registry"],
      ["d", "not-registry"],
    ]);
    expect(app.skipped[1]!.detail).toMatch(/git dependency/);
    expect(app.skipped[2]!.detail).toMatch(/local file or link/);
  });

  test("no package.json: not an npm project", async () => {
    expect(await readManifests(createMemoryFiles({ "README.md": "hi" }))).toBeUndefined();
  });
});

describe("lock files", () => {
  const v3 = parseLock(
    JSON.stringify({
      lockfileVersion: 3,
      packages: {
        "": { name: "root" },
        "node_modules/a": { version: "1.0.0" },
        "node_modules/app": { resolved: "packages/app", link: true },
        "packages/app/node_modules/a": { version: "2.0.0" },
        "node_modules/alias": { name: "real", version: "3.1.0" },
      },
    }),
  );
  test("v3: nested beats hoisted, walking up from the manifest's directory", () => {
    if (!("lock" in v3)) throw new Error("parse failed");
    expect(lockedVersion(v3.lock, "", "a")).toBe("1.0.0");
    expect(lockedVersion(v3.lock, "packages/app", "a")).toBe("2.0.0");
    expect(lockedVersion(v3.lock, "packages/lib", "a")).toBe("1.0.0");
    expect(lockedVersion(v3.lock, "", "alias")).toBe("3.1.0");
    expect(lockedVersion(v3.lock, "", "app")).toBeUndefined();
    expect(lockedVersion(v3.lock, "", "missing")).toBeUndefined();
  });
  test("v1: top-level dependencies; alias versions cleaned", () => {
    const v1 = parseLock(JSON.stringify({ lockfileVersion: 1, dependencies: { a: { version: "1.2.3" }, b: { version: "npm:real@4.5.6" } } }));
    if (!("lock" in v1)) throw new Error("parse failed");
    expect(lockedVersion(v1.lock, "", "a")).toBe("1.2.3");
    expect(lockedVersion(v1.lock, "", "b")).toBe("4.5.6");
  });
  test("invalid JSON is an error, not a throw", () => {
    expect(parseLock("{ nope")).toEqual({ error: expect.any(String) });
  });
});

describe(".npmrc", () => {
  test("registry and scoped registries; credentials and env references never used", () => {
    const rc = parseNpmrc(
      [
        "; a comment",
        "registry=https://npm.example.com/api",
        "@Acme:registry = \"http://127.0.0.1:4873\"",
        "//npm.example.com/:_authToken=${NPM_TOKEN}",
        "@other:registry=${OTHER_URL}",
        "@bad:registry=ftp://x",
        "always-auth=true",
      ].join("\n"),
    );
    expect(rc.registry).toBe("https://npm.example.com/api/");
    expect(rc.scopes).toEqual({ "@acme": "http://127.0.0.1:4873/" });
    expect(rc.problems).toEqual([expect.stringMatching(/@other:registry.*environment variable/), expect.stringMatching(/@bad:registry.*not an http/)]);
    expect(registryFor("@acme/x", rc, "https://d/")).toBe("http://127.0.0.1:4873/");
    expect(registryFor("@zzz/x", rc, "https://d/")).toBe("https://npm.example.com/api/");
    expect(registryFor("x", parseNpmrc(""), "https://d/")).toBe("https://d/");
  });
  test("registry URLs with credentials are refused", () => {
    expect(normalizeRegistry("https://user:pw@x.example/")).toBeUndefined();
  });
});

describe("setDependencyValue: one string changes, nothing else", () => {
  const text = `{
  "name": "x",
  "overrides": { "dependencies": { "a": "^1.0.0" } },
  "dependencies": {
    "a": "^1.0.0",
    "b": "~2.0.0"
  },
  "devDependencies": {"a": "^1.0.0"}
}
`;
  test("the top-level section's entry is replaced, formatting kept", () => {
    const next = setDependencyValue(text, "dependencies", "a", "^1.0.0", "^1.4.0")!;
    expect(next).toBe(text.replace('    "a": "^1.0.0",', '    "a": "^1.4.0",'));
    expect(JSON.parse(next).overrides.dependencies.a).toBe("^1.0.0");
    expect(JSON.parse(next).devDependencies.a).toBe("^1.0.0");
    const dev = setDependencyValue(text, "devDependencies", "a", "^1.0.0", "^2.0.0")!;
    expect(JSON.parse(dev).devDependencies.a).toBe("^2.0.0");
    expect(JSON.parse(dev).dependencies.a).toBe("^1.0.0");
  });
  test("a value that is not the expected one, or a missing key: null", () => {
    expect(setDependencyValue(text, "dependencies", "a", "^9.0.0", "^9.1.0")).toBeNull();
    expect(setDependencyValue(text, "dependencies", "zzz", "^1.0.0", "^2.0.0")).toBeNull();
    expect(setDependencyValue(text, "optionalDependencies", "a", "^1.0.0", "^2.0.0")).toBeNull();
  });
  test("escaped characters in keys and values survive", () => {
    const t = '{"dependencies":{"we\\"ird":"1.0.0","n":"npm:real@^1.0.0"}}';
    expect(JSON.parse(setDependencyValue(t, "dependencies", 'we"ird', "1.0.0", "1.1.0")!).dependencies['we"ird']).toBe("1.1.0");
    expect(JSON.parse(setDependencyValue(t, "dependencies", "n", "npm:real@^1.0.0", "npm:real@^2.0.0")!).dependencies.n).toBe("npm:real@^2.0.0");
  });
});
