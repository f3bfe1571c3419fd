import { afterEach, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import type { CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createRedactor } from "../../src/shared/redact.js";
import { testBaseEnv } from "../support/agent-fixtures.js";
import { fault, say, startFakeVllm, submit, type FakeVllmOptions, type ScriptStep } from "../support/fake-vllm/index.js";
import { CART_PUSH1, LOOP_LINE, reviewPush1, shopFiles } from "../support/review-fixtures.js";
import { Capture } from "../support/cli-run.js";

/**
 * `iquest-bot review`: the commits of HEAD since the merge base, reviewed as the review job
 * reviews a PR (the same tools, gate and summary), in the real sandbox with real git and the
 * repository's tests, and the fake model playing the reviewer of tests/e2e/review.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();

function write(dir: string, files: Record<string, string | Buffer>) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** The shop on main, pushed to a bare "origin", cloned (so origin/HEAD names main), with a feature branch. */
function shopClone(feature: Record<string, string | Buffer> = { "src/cart.js": CART_PUSH1 }): string {
  const root = mkdtempSync(join(tmpdir(), "cli-review-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const seed = join(root, "seed");
  mkdirSync(seed);
  write(seed, shopFiles());
  git(seed, "init", "-q", "-b", "main");
  git(seed, "add", "-A");
  git(seed, "commit", "-qm", "shop");
  git(root, "clone", "-q", "--bare", seed, "origin.git");
  git(root, "clone", "-q", join(root, "origin.git"), "work");
  const work = join(root, "work");
  git(work, "checkout", "-q", "-b", "feature");
  write(work, feature);
  git(work, "add", "-A");
  git(work, "commit", "-qm", "Index loop in total(); add average()\n\nAverage of the prices.");
  return work;
}

/** The refute pass's answers after the reviewer's turns (most severe finding first): both hold unless a test says otherwise. */
const BOTH_HOLD = [say("HOLDS: `i <= items.length` reads one past the end."), say("HOLDS: the symbol is fixed.")];

async function review(repo: string, argv: string[], vllmOptions: FakeVllmOptions = {}, refute: ScriptStep[] = BOTH_HOLD) {
  const vllm = await startFakeVllm({ script: [...reviewPush1(), ...refute], ...vllmOptions });
  const temps = mkdtempSync(join(tmpdir(), "cli-review-temps-"));
  cleanups.push(async () => {
    await vllm.close();
    rmSync(temps, { recursive: true, force: true });
  });
  const stdout = new Capture();
  const stderr = new Capture();
  const ctx: CliContext = { stdout, stderr, cwd: repo, modelEnv: { MODEL_BASE_URL: vllm.url }, commandEnv: testBaseEnv(repo), redact: createRedactor([]), tmpDir: temps };
  const code = await runCli(["review", "--repo", repo, ...argv], ctx);
  return { code, out: stdout.text, err: stderr.text, vllm, leftovers: readdirSync(temps) };
}

describe("iquest-bot review", () => {
  test("reviews the branch since origin's default branch: findings that pass the gate as path:line severity title, with the suggestion; then the summary", async () => {
    const repo = shopClone();
    const r = await review(repo, []);
    expect(r.code).toBe(EXIT_CODES.submitted);
    expect(r.err).toMatch(/iquest-bot review: feature \([0-9a-f]{12}\) since origin\/main \(merge base [0-9a-f]{12}\), 1 file\(s\)/);
    // The off-by-one, inline, with its suggestion; the format.js point is outside the diff.
    expect(r.out).toContain("src/cart.js:3 major Loop reads past the end of items\n");
    expect(r.out).toContain("    + " + LOOP_LINE.replace("<=", "<"));
    expect(r.out).toContain("src/format.js:2 minor Currency symbol is hard-coded  (outside the diff)");
    // The hallucinated quote and the nit did not pass the gate.
    expect(r.out).not.toContain("Average ignores item weights");
    expect(r.out).not.toContain("Name the divisor");
    expect(r.out).toContain("### iquest-bot review");
    expect(r.out).toContain("Rewrites total() with an index loop and adds average().");
    // The reviewer saw the range's diff and commit message, and ran the tests in the sandbox.
    const task = JSON.stringify(r.vllm.requests[0]!.body.messages);
    expect(task).toContain("Average of the prices.");
    expect(task).toContain("i <= items.length");
    expect(JSON.stringify(r.vllm.requests[2]!.body.messages)).toContain("Cannot read properties of undefined (reading 'price')");
    expect(git(repo, "status", "--porcelain")).toBe("");
    expect(r.leftovers).toEqual([]);
  }, 120_000);

  test("--json and --fail-on: the findings as data; exit 1 at or above the severity, 0 below", async () => {
    const repo = shopClone();
    const failing = await review(repo, ["--json", "--fail-on", "major", "--no-setup"]);
    expect(failing.code).toBe(EXIT_CODES.error);
    const report = JSON.parse(failing.out);
    expect(report).toMatchObject({ reviewed: true, outcome: "submitted", failOn: "major", failed: true, range: { base: "origin/main", headName: "feature", files: 1 } });
    expect(report.findings).toEqual([
      expect.objectContaining({ path: "src/cart.js", line: 3, severity: "major", placement: "inline", suggestion: LOOP_LINE.replace("<=", "<") }),
      expect.objectContaining({ path: "src/format.js", line: 2, severity: "minor", placement: "summary" }),
    ]);
    // The nit fell below review.minSeverity; the made-up quote was refused when reported (the
    // model was told), so it never reached the gate.
    expect(report.dropped.map((d: { reason: string }) => d.reason)).toEqual(["below-severity"]);
    const reviewerTurns = failing.vllm.requests.filter((q) => !JSON.stringify(q.body.messages).includes("You double-check one finding"));
    expect(JSON.stringify(reviewerTurns.at(-1)!.body.messages)).toContain("the quoted code is not in `src/cart.js`");

    const passing = await review(repo, ["--fail-on", "critical", "--no-setup"]);
    expect(passing.code).toBe(EXIT_CODES.submitted);
    expect(passing.out).toContain("No finding at critical or above.");
  }, 120_000);

  test("the refute pass, as the review job runs it: a finding the second check disproves is left out, with the check's reason in the JSON and the summary", async () => {
    const repo = shopClone();
    const r = await review(repo, ["--json", "--no-setup"], {}, [say("HOLDS: `i <= items.length` reads one past the end."), say("REFUTED: formatPrice is only called for USD prices (line 2 is the USD formatter).")]);
    const report = JSON.parse(r.out);
    expect(report.findings.map((f: { path: string }) => f.path)).toEqual(["src/cart.js"]);
    expect(report.dropped).toEqual(
      expect.arrayContaining([{ path: "src/format.js", title: "Currency symbol is hard-coded", reason: "refuted", detail: "formatPrice is only called for USD prices (line 2 is the USD formatter)." }]),
    );
    expect(report.summary).toContain("1 finding(s) disproved by a second check against the code (`review.refute`)");
    expect(r.err).toContain("review: checking 2 finding(s) once more (review.refute)");
  }, 120_000);

  test("nothing to review (HEAD is the base), or only a binary file: said, exit 0, no model call", async () => {
    const repo = shopClone();
    const same = await review(repo, ["--base", "feature"]);
    expect(same.code).toBe(0);
    expect(same.out).toMatch(/^Nothing to review in feature .*: HEAD has no changes since its merge base with feature\.$/m);
    expect(same.vllm.requests).toHaveLength(0);

    const binary = shopClone({ "assets/logo.bin": Buffer.from([0, 1, 2, 3, 0, 255]) });
    const r = await review(binary, ["--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ reviewed: false, reason: "no changed file has a diff the reviewer can read (binary: assets/logo.bin)", findings: [] });
    expect(r.vllm.requests).toHaveLength(0);
  }, 60_000);

  test("Ctrl-C while the reviewer works: exit 130, nothing printed as a review, the copy removed", async () => {
    const repo = shopClone();
    const vllm = await startFakeVllm({ script: [fault.hang()] });
    const temps = mkdtempSync(join(tmpdir(), "cli-review-temps-"));
    cleanups.push(async () => {
      await vllm.close();
      rmSync(temps, { recursive: true, force: true });
    });
    const controller = new AbortController();
    const stdout = new Capture();
    const stderr = new Capture();
    const timer = setInterval(() => {
      if (vllm.requests.length > 0) controller.abort("stop");
    }, 50);
    cleanups.push(() => clearInterval(timer));
    const code = await runCli(["review", "--repo", repo, "--no-setup"], {
      stdout, stderr, cwd: repo, modelEnv: { MODEL_BASE_URL: vllm.url }, commandEnv: testBaseEnv(repo), redact: createRedactor([]), tmpDir: temps, signal: controller.signal,
    });
    expect(code).toBe(EXIT_CODES.cancelled);
    expect(stdout.text).toBe("");
    expect(stderr.text).toContain("interrupted; no review was printed");
    expect(readdirSync(temps)).toEqual([]);
    expect(git(repo, "status", "--porcelain")).toBe("");
  }, 60_000);

  test("a detached HEAD and an explicit --base commit work", async () => {
    const repo = shopClone();
    const mainSha = git(repo, "rev-parse", "origin/main");
    git(repo, "checkout", "-q", "--detach");
    const r = await review(repo, ["--base", mainSha, "--no-setup"], { script: [submit("Looks fine.")] });
    expect(r.code).toBe(0);
    expect(r.err).toContain("HEAD (detached)");
    expect(r.out).toContain("No findings.");
  }, 60_000);

  test.each([
    [["--base", "no-such-branch"], /--base no-such-branch: no such branch, tag or commit here/],
    [["--fail-on", "blocker"], /--fail-on takes one of nit, minor, major, critical/],
    [["--protocol", "xml"], /--protocol is native or text/],
  ])("bad arguments %j: exit 2, no model call", async (argv, message) => {
    const repo = shopClone();
    const r = await review(repo, argv);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.err).toMatch(message);
    expect(r.vllm.requests).toHaveLength(0);
  }, 60_000);

  test("not a git checkout, and history unrelated to the base: exit 2", async () => {
    const plain = mkdtempSync(join(tmpdir(), "cli-review-plain-"));
    cleanups.push(() => rmSync(plain, { recursive: true, force: true }));
    const r = await review(plain, []);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.err).toContain("not a git checkout");

    const repo = shopClone();
    git(repo, "checkout", "-q", "--orphan", "other");
    git(repo, "commit", "-qm", "unrelated");
    const u = await review(repo, ["--base", "origin/main"]);
    expect(u.code).toBe(EXIT_CODES.usage);
    expect(u.err).toContain("HEAD and origin/main have no common history");
  }, 60_000);
});
