import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { npmRegistryRules } from "../support/registry-rules.js";
import { createSandbox, type SandboxEnvironment } from "../../src/workspace/sandbox.js";
import { detectTestPlan, readerFor, runBaseline, runSetup, toolchainVersions } from "../../src/workspace/test-runner.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { buildWheel, startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startMavenRepo, type MavenRepo } from "../support/maven-repo.js";
import { lockAt, makeDir, publishGreeter, writeFiles } from "../support/upgrade-fixtures.js";
import { describeVersionPin } from "../../src/workspace/version-pins.js";

/**
 * One small repository per ecosystem, each with a passing and a failing test: detection, setup
 * and the baseline in the real sandbox (setup with network through the egress proxy), and the
 * parsed counts. Dependencies come only from what this machine reaches: the test's own npm
 * registry and Python index on 127.0.0.1 (allowed by rule), and the npm registry for corepack's
 * yarn and pnpm.
 * Maven's plugins and JUnit come from a Maven repository the test serves from Debian's
 * /usr/share/maven-repo (what Debian's maven packages install), standing in for Maven Central.
 */
let registry: NpmRegistry;
let pypi: PypiIndex;
let maven: MavenRepo;
const made: string[] = [];
const sandboxes: SandboxEnvironment[] = [];
let cache: string;

beforeAll(async () => {
  registry = await startNpmRegistry();
  publishGreeter(registry);
  cache = makeDir("eco-npm-cache-");
  made.push(cache);
  // A Python dependency, built by this machine's pip and served by the test's own index.
  pypi = await startPypiIndex();
  const wheels = makeDir("eco-wheels-");
  made.push(wheels);
  maven = await startMavenRepo("/usr/share/maven-repo");
  pypi.add(await buildWheel(wheels, { name: "greeter", version: "1.0.0", files: { "greeter/__init__.py": "def greet(name):\n    return 'hello ' + name\n" } }));
});

afterAll(async () => {
  for (const s of sandboxes) await s.close();
  await registry?.close();
  await pypi?.close();
  await maven?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const NODE_TESTS = {
  "math.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\ntest('adds', () => assert.equal(1 + 1, 2));\ntest('already broken', () => assert.equal(1, 2));\n",
};

async function baselineOf(files: Record<string, string>, options: { prepare?: (dir: string) => Promise<void>; baseEnv?: Record<string, string> } = {}) {
  const dir = makeDir("eco-");
  const home = mkdtempSync(join(tmpdir(), "eco-home-"));
  made.push(dir, home);
  writeFiles(dir, files);
  await options.prepare?.(dir);
  for (const d of [dir, home]) chmodSync(d, 0o777);
  // The npm registry (for corepack) and the test's own registry, by its address.
  const rules = await npmRegistryRules([registry.url, pypi.url, maven.url]);
  const env = await createSandbox({ mode: "bwrap", worktree: dir, home, allowNetwork: true, egress: { rules }, ...(options.baseEnv ? { baseEnv: options.baseEnv } : {}) });
  sandboxes.push(env);
  const plan = (await detectTestPlan(readerFor(env)))!;
  expect(plan).not.toBeNull();
  const setup = await runSetup(env, plan, { timeoutMs: 300_000, network: true });
  if (!setup.ok) throw new Error(`setup \`${plan.setup}\` failed (${setup.exitCode}):\n${setup.output.slice(-3000)}\negress: ${JSON.stringify(env.egressReport())}`);
  const base = await runBaseline(env, plan, { timeoutMs: 300_000 });
  return { plan, base: base.run, versions: await toolchainVersions(env, plan) };
}

// This machine's registry mirror serves no npm signatures, which corepack checks: off here only.
const COREPACK = { COREPACK_INTEGRITY_KEYS: "0" };

describe("one fixture per ecosystem: detected, set up and run in the sandbox", () => {
  test("npm with a lock file and a dependency from the test's registry (through the egress proxy)", async () => {
    const { plan, base, versions } = await baselineOf(
      {
        "package.json": JSON.stringify({ name: "eco-npm", version: "1.0.0", private: true, dependencies: { greeter: "^1.0.0" }, scripts: { test: "node --test" } }),
        ".npmrc": `registry=${registry.url}\n`,
        "greet.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\nconst { greet } = require('greeter');\ntest('greets', () => assert.equal(greet('x'), 'Hello, x!'));\ntest('already broken', () => assert.equal(greet('x'), 'Bye'));\n",
      },
      { prepare: (dir) => lockAt(dir, { "package.json": { greeter: "1.1.0" } }, cache) },
    );
    expect(plan).toMatchObject({ setup: "npm ci --no-audit --no-fund", test: "npm test" });
    expect(versions).toMatch(/^node v\d+\.\d+\.\d+, npm \d+\.\d+\.\d+$/);
    expect(base.parsed).toMatchObject({ runners: ["tap"], passed: 1, failed: 1, failing: ["already broken"] });
  }, 300_000);

  test("yarn 1, pinned by packageManager (corepack)", async () => {
    // corepack fetches yarn 1 from registry.yarnpkg.com unless COREPACK_NPM_REGISTRY names a registry
    // (a mirror, or here the one registry this machine reaches).
    const { plan, base } = await baselineOf(
      { "package.json": JSON.stringify({ name: "eco-yarn1", version: "1.0.0", private: true, packageManager: "yarn@1.22.22", scripts: { test: "node --test" } }), ...NODE_TESTS },
      { baseEnv: { ...COREPACK, COREPACK_NPM_REGISTRY: "https://registry.npmjs.org" } },
    );
    expect(plan.setup).toMatch(/corepack enable .* yarn && yarn install$/);
    expect(base.parsed).toMatchObject({ passed: 1, failed: 1, failing: ["already broken"] });
  }, 300_000);

  test("yarn berry, pinned by packageManager (corepack, fetched from the npm registry: COREPACK_NPM_REGISTRY)", async () => {
    const { plan, base } = await baselineOf(
      { "package.json": JSON.stringify({ name: "eco-berry", version: "1.0.0", private: true, packageManager: "yarn@4.5.3", scripts: { test: "node --test" } }), ...NODE_TESTS },
      { baseEnv: { ...COREPACK, COREPACK_NPM_REGISTRY: "https://registry.npmjs.org" } },
    );
    expect(plan.reason).toContain("yarn@4.5.3 through corepack");
    expect(plan.setup).toMatch(/yarn install --no-immutable$/);
    expect(base.parsed).toMatchObject({ passed: 1, failed: 1, failing: ["already broken"] });
  }, 300_000);

  test("pnpm, pinned by packageManager (corepack)", async () => {
    const { plan, base, versions } = await baselineOf({ "package.json": JSON.stringify({ name: "eco-pnpm", version: "1.0.0", private: true, packageManager: "pnpm@9.15.0", scripts: { test: "node --test" } }), ...NODE_TESTS }, { baseEnv: COREPACK });
    expect(plan.setup).toMatch(/corepack enable .* pnpm && pnpm install$/);
    // The card names the pinned version that ran, not the image's.
    expect(versions).toMatch(/^node v\d+\.\d+\.\d+, pnpm 9\.15\.0$/);
    expect(base.parsed).toMatchObject({ passed: 1, failed: 1, failing: ["already broken"] });
  }, 300_000);

  test("Python with pytest (Debian's python3-pytest) and a dependency from the repository's own index (requirements.txt's --index-url)", async () => {
    const { plan, base, versions } = await baselineOf({
      "pytest.ini": "[pytest]\n",
      // The interpreter Debian bookworm has (3.11): the venv is made with it, and the card says nothing.
      ".python-version": "3.11\n",
      "requirements.txt": `--index-url ${pypi.simple}\ngreeter==1.0.0\n`,
      "test_math.py": "from greeter import greet\n\ndef test_adds():\n    assert greet('you') == 'hello you'\n\ndef test_already_broken():\n    assert 1 == 2\n",
    });
    expect(plan).toMatchObject({ ecosystem: "python", runnerHint: "pytest" });
    expect(plan.setup).toMatch(/^"\$\(command -v python3\.11 \|\| command -v python3\)" -m venv .* pip install -q -r requirements\.txt$/);
    expect(versions).toMatch(/^Python 3\.11\./);
    expect(describeVersionPin(plan.versionPin, versions)).toBeUndefined();
    // Asked for one the image lacks: the card would say so, with what ran.
    expect(describeVersionPin({ ...plan.versionPin!, wanted: "3.99" }, versions)).toMatch(/^\.python-version asks for Python 3\.99; the tests ran with Python 3\.11\.\d+/);
    // pip went through the egress proxy to the index: its page and the wheel.
    expect(pypi.requests.map((r) => `${r.status} ${r.path}`)).toEqual(expect.arrayContaining(["200 /simple/greeter/", "200 /files/greeter-1.0.0-py3-none-any.whl"]));
    expect(versions).toMatch(/^Python 3\.\d+\.\d+$/);
    expect(base.parsed).toMatchObject({ runners: ["pytest"], passed: 1, failed: 1, failing: ["test_math.py::test_already_broken"] });
  }, 300_000);

  test("Rust (Debian's cargo; no dependencies, so nothing to fetch)", async () => {
    const { plan, base, versions } = await baselineOf({
      "Cargo.toml": '[package]\nname = "eco"\nversion = "0.1.0"\nedition = "2021"\n',
      "src/lib.rs": "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(1, 1), 2);\n    }\n\n    #[test]\n    fn already_broken() {\n        assert_eq!(super::add(1, 1), 3);\n    }\n}\n",
    });
    expect(plan).toMatchObject({ ecosystem: "rust", setup: "cargo fetch", test: "cargo test", runnerHint: "cargo" });
    expect(versions).toMatch(/^cargo \d+\.\d+\.\d+/);
    expect(base.parsed).toMatchObject({ runners: ["cargo"], passed: 1, failed: 1, failing: [expect.stringContaining("already_broken")] });
  }, 300_000);

  test("Go", async () => {
    const { plan, base, versions } = await baselineOf({
      "go.mod": "module example.com/eco\n\ngo 1.19\n",
      "math_test.go": 'package eco\n\nimport "testing"\n\nfunc TestAdds(t *testing.T) {\n\tif 1+1 != 2 {\n\t\tt.Fatal("no")\n\t}\n}\n\nfunc TestAlreadyBroken(t *testing.T) {\n\tt.Fatal("broken on the base commit")\n}\n',
    });
    expect(plan).toMatchObject({ ecosystem: "go", test: "go test ./...", versionPin: { tool: "go", wanted: "1.19" } });
    expect(versions).toMatch(/^go version go1\.\d+/);
    // Debian bookworm's go is 1.19: it satisfies the go line; a newer one would be named on the card.
    expect(describeVersionPin(plan.versionPin, versions)).toBeUndefined();
    expect(describeVersionPin({ ...plan.versionPin!, wanted: "1.99" }, versions)).toMatch(/^go\.mod asks for Go >= 1\.99; the tests ran with Go 1\.\d+/);
    expect(base.parsed).toMatchObject({ runners: ["go"], failed: 1, failing: [expect.stringContaining("TestAlreadyBroken")] });
  }, 300_000);

  test("Maven (Debian's JDK and maven; JUnit 4 and the plugins from the test's Maven repository, which the pom names as `central`)", async () => {
    // A repository that overrides `central` by id is how a pom points Maven at a mirror; here it
    // also keeps every request on this machine (the real Central is never asked).
    const repo = (kind: string) => `<${kind}><id>central</id><url>${maven.url}</url></${kind}>`;
    const { plan, base, versions } = await baselineOf({
      "pom.xml": `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eco</groupId>
  <artifactId>eco</artifactId>
  <version>0.1.0</version>
  <properties>
    <maven.compiler.source>11</maven.compiler.source>
    <maven.compiler.target>11</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <repositories>${repo("repository")}</repositories>
  <pluginRepositories>${repo("pluginRepository")}</pluginRepositories>
  <dependencies>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency>
  </dependencies>
</project>
`,
      "src/main/java/eco/MathUtil.java": "package eco;\n\npublic final class MathUtil {\n    public static int add(int a, int b) {\n        return a + b;\n    }\n}\n",
      "src/test/java/eco/MathUtilTest.java":
        "package eco;\n\nimport static org.junit.Assert.assertEquals;\nimport org.junit.Test;\n\npublic class MathUtilTest {\n    @Test\n    public void adds() {\n        assertEquals(2, MathUtil.add(1, 1));\n    }\n\n    @Test\n    public void alreadyBroken() {\n        assertEquals(3, MathUtil.add(1, 1));\n    }\n}\n",
    });
    expect(plan).toMatchObject({ ecosystem: "maven", runnerHint: "maven" });
    expect(versions).toMatch(/^Apache Maven 3\.\d+\.\d+.*, openjdk version "\d+/);
    // Setup fetched through the proxy (the plugins, JUnit and surefire's JUnit 4 provider, which
    // Maven resolves only when tests run); the test run itself had no network (mvn -o).
    expect(plan.test).toBe("mvn -B -o test");
    const fetched = maven.requests.filter((r) => r.status === 200).map((r) => r.path);
    expect(fetched).toEqual(expect.arrayContaining([expect.stringMatching(/^\/junit\/junit\/4\.13\.2\/junit-4\.13\.2\.jar$/), expect.stringMatching(/\/surefire-junit4-[^/]+\.jar$/)]));
    expect(base.parsed).toMatchObject({ runners: ["maven"], passed: 1, failed: 1, failing: [expect.stringContaining("alreadyBroken")] });
  }, 300_000);
});
