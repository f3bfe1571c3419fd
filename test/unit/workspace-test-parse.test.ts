import { describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { detectTestPlan } from "../../src/workspace/test-detect.js";
import { parseTestOutput } from "../../src/workspace/test-parse.js";
import { compareWithBaseline, type TestRun } from "../../src/workspace/test-runner.js";

/**
 * Parsers on real captured output (test/fixtures/workspace-test-output: jest, node --test, ava,
 * pytest, cargo and Maven runs made on this machine), and on format samples for runners not installed
 * here (vitest, mocha, go, gradle), written from each runner's documented output.
 */

const fixture = (name: string) => readFileSync(join("test/fixtures/workspace-test-output", name), "utf8");

describe("parseTestOutput on real runs", () => {
  test("ava (chalk's suite with one test made to fail; the summary then omits the passed count)", () => {
    expect(parseTestOutput(fixture("ava.txt"))).toEqual({
      runners: ["ava"],
      passed: 10,
      failed: 1,
      skipped: 0,
      failing: ["visible › visible: normal output when level > 0"],
      namesComplete: true,
    });
    expect(parseTestOutput("  ✔ a › one\n  ✔ a › two\n  ─\n\n  32 tests passed\n  2 tests skipped\n  1 known failure\n")).toMatchObject({ runners: ["ava"], passed: 33, failed: 0, skipped: 2 });
  });

  test("jest", () => {
    expect(parseTestOutput(fixture("jest.txt"))).toEqual({
      runners: ["jest"],
      passed: 2,
      failed: 2,
      skipped: 1,
      failing: ["test/math.test.js › math › already broken", "test/other.test.js › top level fail"],
      namesComplete: true,
    });
  });

  test("node --test (TAP): a failing suite is not counted on top of its failing child", () => {
    expect(parseTestOutput(fixture("node-test-tap.txt"))).toMatchObject({
      runners: ["tap"],
      passed: 2,
      failed: 2,
      failing: ["fails", "suite > inner bad"],
      namesComplete: true,
    });
  });

  test("pytest: failures and errors, by node id", () => {
    expect(parseTestOutput(fixture("pytest.txt"))).toMatchObject({
      runners: ["pytest"],
      passed: 1,
      failed: 3,
      skipped: 1,
      failing: ["test_a.py::test_bad", "test_a.py::TestK::test_m", "test_a.py::test_err"],
    });
  });

  test("cargo test", () => {
    expect(parseTestOutput(fixture("cargo.txt"))).toMatchObject({ runners: ["cargo"], passed: 1, failed: 1, skipped: 1, failing: ["tests::broken"] });
  });

  test("maven surefire: the aggregate line, and failures plus errors by name", () => {
    expect(parseTestOutput(fixture("maven.txt"))).toMatchObject({
      runners: ["maven"],
      passed: 1,
      failed: 2,
      skipped: 1,
      failing: ["CalcTest.broken", "CalcTest.throwsNpe"],
    });
  });
});

describe("parseTestOutput on format samples", () => {
  test("vitest", () => {
    const out = [
      " ❯ test/a.test.ts (3 tests | 1 failed) 5ms",
      "   × math > adds wrongly 3ms",
      "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯",
      "",
      " FAIL  test/a.test.ts > math > adds wrongly",
      "AssertionError: expected 4 to be 5",
      "",
      " Test Files  1 failed (1)",
      "      Tests  1 failed | 2 passed (3)",
    ].join("\n");
    expect(parseTestOutput(out)).toMatchObject({ runners: ["vitest"], passed: 2, failed: 1, failing: ["test/a.test.ts > math > adds wrongly"] });
  });

  test("mocha: multi-line titles", () => {
    const out = [
      "  Array",
      "    ✔ works",
      "    1) breaks",
      "",
      "  1 passing (6ms)",
      "  1 failing",
      "  1 pending",
      "",
      "  1) Array",
      "       #indexOf()",
      "         breaks:",
      "     AssertionError [ERR_ASSERTION]: false == true",
    ].join("\n");
    expect(parseTestOutput(out)).toMatchObject({ runners: ["mocha"], passed: 1, failed: 1, skipped: 1, failing: ["Array #indexOf() breaks"] });
  });

  test("go test: failing tests qualified by package, build failures", () => {
    const out = [
      "--- FAIL: TestAdd (0.00s)",
      "    math_test.go:9: got 4, want 5",
      "    --- FAIL: TestAdd/negative (0.00s)",
      "FAIL",
      "FAIL\texample.com/calc\t0.002s",
      "ok  \texample.com/util\t0.001s",
      "FAIL\texample.com/broken [build failed]",
      "FAIL",
    ].join("\n");
    expect(parseTestOutput(out)).toMatchObject({
      runners: ["go"],
      failing: ["example.com/calc.TestAdd", "example.com/calc.TestAdd/negative", "example.com/broken [build failed]"],
      failed: 3,
    });
  });

  test("gradle", () => {
    const out = ["> Task :test", "", "CalcTest > broken() FAILED", "    org.opentest4j.AssertionFailedError at CalcTest.java:5", "", "3 tests completed, 1 failed, 1 skipped", "", "BUILD FAILED in 2s"].join("\n");
    expect(parseTestOutput(out)).toMatchObject({ runners: ["gradle"], passed: 1, failed: 1, skipped: 1, failing: ["CalcTest > broken()"] });
  });

  test("node --test spec reporter", () => {
    const out = ["✔ passes (0.5ms)", "✖ fails (1.1ms)", "ℹ tests 2", "ℹ suites 0", "ℹ pass 1", "ℹ fail 1", "ℹ skipped 0", "", "✖ failing tests:", "", "test at t.mjs:3:1", "✖ fails (1.1ms)"].join("\n");
    expect(parseTestOutput(out)).toMatchObject({ runners: ["tap"], passed: 1, failed: 1, failing: ["fails"] });
  });

  test("ANSI colours are ignored; unknown output is null (the caller falls back to the exit code)", () => {
    expect(parseTestOutput("\x1b[31mTests:\x1b[0m       1 failed, 1 total\nFAIL x.test.js\n  ● t\n")).toMatchObject({ failed: 1, failing: ["x.test.js › t"] });
    expect(parseTestOutput("make: *** [test] Error 1\n")).toBeNull();
  });

  test("counts without names mark the names incomplete", () => {
    expect(parseTestOutput("Tests run: 5, Failures: 2, Errors: 0, Skipped: 0\n")).toMatchObject({ failed: 2, failing: [], namesComplete: false });
  });
});

const run = (exitCode: number | null, output: string, extra: Partial<TestRun> = {}): TestRun => ({
  command: "npm test",
  exitCode,
  durationMs: 1,
  outputTail: output,
  truncated: false,
  parsed: parseTestOutput(output),
  ...extra,
});
const jestOut = (failing: string[], passed = 3) =>
  [...failing.map((f) => `FAIL test/a.test.js\n  ● ${f}\n`), `Tests:       ${failing.length ? `${failing.length} failed, ` : ""}${passed} passed, ${failing.length + passed} total`].join("\n");

describe("compareWithBaseline", () => {
  test("a test already failing on the base is not a new failure", () => {
    const v = compareWithBaseline(run(1, jestOut(["old bug"])), run(1, jestOut(["old bug"])));
    expect(v).toMatchObject({ verdict: "pass", newFailures: [], stillFailing: ["test/a.test.js › old bug"], method: "names" });
  });

  test("a test that passed on the base and fails now is a new failure; fixed ones are reported", () => {
    const v = compareWithBaseline(run(1, jestOut(["old bug"])), run(1, jestOut(["regression"])));
    expect(v).toMatchObject({ verdict: "fail", newFailures: ["test/a.test.js › regression"], fixed: ["test/a.test.js › old bug"] });
  });

  test("a non-zero exit without failing tests is a build error unless the base had it too", () => {
    expect(compareWithBaseline(run(0, jestOut([])), run(1, jestOut([]))).verdict).toBe("fail");
    expect(compareWithBaseline(run(1, jestOut([])), run(1, jestOut([]))).verdict).toBe("pass");
  });

  test("stopped tests fail, whatever the output says", () => {
    expect(compareWithBaseline(run(0, jestOut([])), run(null, jestOut([]), { killed: "timeout" }))).toMatchObject({ verdict: "fail", note: expect.stringContaining("timeout") });
  });

  test("unparsable output falls back to the exit code, and says so", () => {
    expect(compareWithBaseline(run(0, "ok"), run(0, "ok"))).toMatchObject({ verdict: "pass", method: "exit-code" });
    expect(compareWithBaseline(run(0, "ok"), run(2, "boom"))).toMatchObject({ verdict: "fail", method: "exit-code" });
    expect(compareWithBaseline(run(2, "boom"), run(2, "boom"))).toMatchObject({ verdict: "unknown", method: "exit-code" });
  });

  test("counts only: more failures fail, the same number is unknown", () => {
    const counts = (n: number) => `Tests run: 10, Failures: ${n}, Errors: 0, Skipped: 0\n`;
    expect(compareWithBaseline(run(1, counts(1)), run(1, counts(2)))).toMatchObject({ verdict: "fail", method: "counts" });
    expect(compareWithBaseline(run(1, counts(1)), run(1, counts(1)))).toMatchObject({ verdict: "unknown", method: "counts" });
  });
});

describe("detectTestPlan", () => {
  const repo = (files: Record<string, string>) => async (p: string) => (p in files ? Buffer.from(files[p]!) : undefined);

  test.each([
    ["npm + jest", { "package.json": '{"scripts":{"test":"jest --ci"}}', "package-lock.json": "{}" }, { ecosystem: "node", setup: "npm ci --no-audit --no-fund", test: "npm test", runnerHint: "jest" }],
    ["npm without lock", { "package.json": '{"scripts":{"test":"node --test"}}' }, { setup: "npm install --no-audit --no-fund", runnerHint: "tap" }],
    ["yarn classic", { "package.json": '{"scripts":{"test":"vitest run"}}', "yarn.lock": "" }, { setup: "yarn install --frozen-lockfile", test: "yarn test", runnerHint: "vitest" }],
    ["yarn berry", { "package.json": '{"scripts":{"test":"mocha"}}', "yarn.lock": "", ".yarnrc.yml": "" }, { setup: "yarn install --immutable", runnerHint: "mocha" }],
    ["pnpm, unpinned", { "package.json": '{"scripts":{"test":"jest"}}', "pnpm-lock.yaml": "" }, { setup: "pnpm install --frozen-lockfile", test: "pnpm test" }],
    [
      "pnpm pinned by packageManager: through corepack, the shim on PATH for the scripts' own pnpm calls",
      { "package.json": '{"packageManager":"pnpm@9.0.0","scripts":{"test":"jest"}}', "pnpm-lock.yaml": "" },
      {
        setup: 'mkdir -p "$HOME/.local/bin" && corepack enable --install-directory "$HOME/.local/bin" pnpm && pnpm install --frozen-lockfile',
        test: 'mkdir -p "$HOME/.local/bin" && corepack enable --install-directory "$HOME/.local/bin" pnpm && pnpm test',
        cachePaths: [{ base: "workspace", path: "node_modules" }, { base: "home", path: ".cache/node/corepack" }],
      },
    ],
    ["yarn berry pinned, no lock: --no-immutable (CI=true makes berry immutable)", { "package.json": '{"packageManager":"yarn@4.5.3","scripts":{"test":"jest"}}' }, { setup: expect.stringMatching(/yarn install --no-immutable$/) }],
    ["engines.node the image cannot satisfy: setup fetches that Node first, PATH points at it", { "package.json": '{"engines":{"node":">=99"},"scripts":{"test":"jest"}}' }, { setup: expect.stringMatching(/^npm install --prefix "\$HOME\/\.iquest\/node" .*'node-linux-\w+@>=99 <100\.0\.0-0' && npm install --no-audit --no-fund$/), pathPrefix: expect.stringContaining(".iquest/node/node_modules/node-linux-") }],
    ["python requirements", { "requirements.txt": "requests\n" }, { ecosystem: "python", test: "python3 -m pytest -rfE -p no:cacheprovider", cachePaths: [{ base: "home", path: ".venv" }] }],
    ["python pyproject", { "pyproject.toml": "[project]\nname='x'\n" }, { ecosystem: "python", setup: expect.stringContaining("-e .") }],
    ["pytest.ini only", { "pytest.ini": "[pytest]\n" }, { ecosystem: "python", setup: undefined }],
    ["go", { "go.mod": "module x\n" }, { ecosystem: "go", test: "go test ./..." }],
    ["rust", { "Cargo.toml": "[package]\n", "Cargo.lock": "" }, { ecosystem: "rust", test: "cargo test", lockFiles: ["Cargo.toml", "Cargo.lock"] }],
    ["maven wrapper", { "pom.xml": "<project/>", "mvnw": "" }, { ecosystem: "maven", test: "./mvnw -B -o test" }],
    ["gradle", { "build.gradle.kts": "" }, { ecosystem: "gradle", test: "gradle --console=plain test" }],
    ["make", { "Makefile": "all:\n\ttrue\ntest: all\n\t./run-tests\n" }, { ecosystem: "make", test: "make test" }],
  ])("%s", async (_name, files, expected) => {
    expect(await detectTestPlan(repo(files))).toMatchObject({ source: "detected", ...expected });
  });

  test("npm's placeholder test script is not a test suite", async () => {
    expect(await detectTestPlan(repo({ "package.json": '{"scripts":{"test":"echo \\"Error: no test specified\\" && exit 1"}}' }))).toBeNull();
  });

  test(".github/iquest.yml overrides win", async () => {
    const files = repo({ "package.json": '{"scripts":{"test":"jest"}}', "package-lock.json": "{}" });
    expect(await detectTestPlan(files, { test: "npm run test:ci", setup: "npm ci --ignore-scripts" })).toMatchObject({
      source: "config",
      test: "npm run test:ci",
      setup: "npm ci --ignore-scripts",
      runnerHint: "jest",
    });
    expect(await detectTestPlan(repo({}), { test: "./check.sh" })).toMatchObject({ ecosystem: "custom", test: "./check.sh", setup: undefined });
    expect(await detectTestPlan(repo({}))).toBeNull();
  });
});
