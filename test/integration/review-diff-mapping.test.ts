import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { STEP_PERMISSIONS, createGitHubApp } from "../../src/github/app-client.js";
import type { GitHub } from "../../src/github/types.js";
import { canComment, indexDiff, mapIncrement, type DiffFileInput, type DiffIndex } from "../../src/jobs/review/diff.js";
import type { Finding } from "../../src/jobs/review/finding.js";
import { gateFindings } from "../../src/jobs/review/gate.js";
import { createReview } from "../../src/jobs/review/github-io.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { pullRequestDiff, resolveAnchor, type FileDiff as SimFileDiff } from "../support/github-sim/diff-lines.js";
import { startGitHubSim, type GitHubSim } from "../support/github-sim/index.js";
import type { SeedFile } from "../support/github-sim/git.js";
import type { SimRepo } from "../support/github-sim/state.js";
import { testPrivateKey } from "../support/keys.js";
import { TestOctokit } from "../support/octokit.js";

/**
 * Property tests of the diff mapping over real diffs: random repositories and random changes
 * (several hunks, renames with and without edits, deleted files and lines, files without a
 * trailing newline, CRLF files, binary files, a very large file), committed with real git in the
 * GitHub simulator, whose `patch` strings are what the review job parses. Checked against three
 * oracles that do not share code with the parser:
 * - the file contents at both commits (every line the parser numbers holds that line's text);
 * - `git diff -U0` (exactly the added lines);
 * - the simulator's implementation of GitHub's review-comment rule (same answer for every line
 *   and range), and the simulator itself: every inline comment the evidence gate passes is
 *   posted in one review, which the simulator accepts only if each line is one GitHub accepts.
 */

const INSTALLATION = 61;
const SEED = Number(process.env.REVIEW_PROPERTY_SEED ?? 20240607);
let sim: GitHubSim;
let publisher: GitHub;
let counter = 0;

beforeAll(async () => {
  sim = await startGitHubSim({ app: { id: 610, privateKey: testPrivateKey(), webhookSecret: "s" } });
  sim.createUser("alice");
});

afterAll(async () => {
  await sim?.stop();
});

/** mulberry32: a seeded generator, so a failure can be replayed with REVIEW_PROPERTY_SEED. */
function rng(seed: number) {
  let s = seed;
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;

const WORDS = ["const", "let", "return", "value", "items", "count", "if", "else", "for", "while", "map", "filter", "=", "+", "(", ")", "{", "}", "user", "id", "total", "await", "fetch", "x", "y"];

function randomLine(r: Rng, i: number): string {
  if (r.chance(0.08)) return "";
  if (r.chance(0.05)) return "}";
  const n = r.int(1, 7);
  return `${" ".repeat(r.int(0, 3) * 2)}${Array.from({ length: n }, () => r.pick(WORDS)).join(" ")} /* ${i} */`;
}

interface TextFile {
  lines: string[];
  crlf: boolean;
  finalNewline: boolean;
}

function render(f: TextFile): string {
  const eol = f.crlf ? "\r\n" : "\n";
  return f.lines.join(eol) + (f.finalNewline && f.lines.length ? eol : "");
}

function randomFile(r: Rng, min: number, max: number): TextFile {
  const n = r.int(min, max);
  return { lines: Array.from({ length: n }, (_, i) => randomLine(r, i)), crlf: r.chance(0.2), finalNewline: !r.chance(0.25) };
}

/** Several separate edits (replace, insert, delete), far enough apart to make several hunks. */
function edit(r: Rng, f: TextFile, blocks: number): TextFile {
  const lines = [...f.lines];
  for (let b = 0; b < blocks; b++) {
    const at = r.int(0, Math.max(0, lines.length - 1));
    const kind = r.pick(["replace", "insert", "delete"] as const);
    const len = r.int(1, 4);
    if (kind === "insert") lines.splice(at, 0, ...Array.from({ length: len }, (_, i) => `added ${b}.${i} ${randomLine(r, at + i)}`));
    else if (kind === "delete") lines.splice(at, len);
    else lines.splice(at, len, ...Array.from({ length: r.int(1, 4) }, (_, i) => `changed ${b}.${i} ${randomLine(r, at + i)}`));
  }
  return { ...f, lines, finalNewline: r.chance(0.2) ? !f.finalNewline : f.finalNewline };
}

function binary(r: Rng, size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = r.int(0, 255);
  buf[0] = 0;
  return buf;
}

interface Scenario {
  repo: SimRepo;
  base: string;
  head: string;
  simFiles: SimFileDiff[];
  mine: DiffIndex;
  inputs: DiffFileInput[];
}

/** A repository with random files, and a PR with random changes to them. */
async function makeScenario(r: Rng, options: { large?: boolean } = {}): Promise<Scenario> {
  const name = `prop-${++counter}`;
  const baseFiles: Record<string, TextFile> = {};
  const seed: Record<string, SeedFile> = {};
  const count = r.int(3, 6);
  for (let i = 0; i < count; i++) {
    const f = randomFile(r, 5, 120);
    baseFiles[`src/file${i}.ts`] = f;
    seed[`src/file${i}.ts`] = render(f);
  }
  if (options.large) {
    const big: TextFile = { lines: Array.from({ length: 12_000 }, (_, i) => `row ${i} ${randomLine(r, i)}`), crlf: false, finalNewline: true };
    baseFiles["data/big.txt"] = big;
    seed["data/big.txt"] = render(big);
  }
  seed["assets/logo.bin"] = binary(r, 300);
  const repo = await sim.createRepo({ owner: "prop", name, files: seed });
  sim.installApp({ installationId: INSTALLATION + counter, repos: [`prop/${name}`] });
  const change: Record<string, SeedFile> = {};
  for (const [path, f] of Object.entries(baseFiles)) {
    const op = path === "data/big.txt" ? "modify-large" : r.pick(["modify", "modify", "modify", "rename", "rename-edit", "delete", "keep"] as const);
    if (op === "keep") continue;
    if (op === "delete") change[path] = null;
    else if (op === "modify") change[path] = render(edit(r, f, r.int(1, 5)));
    else if (op === "modify-large") change[path] = render(edit(r, f, 40));
    else {
      change[path] = null;
      // A rename git detects (-M): mostly the same content.
      change[path.replace("file", "moved")] = render(op === "rename" ? f : edit(r, f, 1));
    }
  }
  change["src/new.ts"] = render(randomFile(r, 1, 40));
  if (r.chance(0.5)) change["assets/logo.bin"] = binary(r, 400);
  await sim.commit({ repo, branch: "feature", files: change, message: "Change things" });
  const pr = await sim.createPullRequest({ repo, head: "feature", title: "Random change", user: "alice" });
  const simFiles = await pullRequestDiff(repo.git, pr.base.sha, pr.head.sha);
  const inputs: DiffFileInput[] = simFiles.map((f) => ({
    filename: f.filename,
    ...(f.previousFilename ? { previous_filename: f.previousFilename } : {}),
    status: f.status,
    additions: f.additions,
    deletions: f.deletions,
    ...(f.patch !== undefined ? { patch: f.patch } : {}),
  }));
  return { repo, base: pr.base.sha, head: pr.head.sha, simFiles, mine: indexDiff(inputs), inputs };
}

async function fileLines(repo: SimRepo, sha: string, path: string): Promise<string[] | undefined> {
  const buf = await repo.git.readFile(sha, path);
  if (!buf) return undefined;
  const lines = buf.toString("utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** Added lines per path from `git diff -U0`: an oracle independent of the parser under test. */
async function addedByGit(repo: SimRepo, base: string, head: string): Promise<Map<string, Set<number>>> {
  const text = await repo.git.text(["diff", "-M", "-U0", "--no-color", base, head]);
  const out = new Map<string, Set<number>>();
  let current: Set<number> | undefined;
  for (const line of text.split("\n")) {
    const to = /^\+\+\+ (?:b\/(.*)|\/dev\/null)$/.exec(line);
    if (to) {
      current = new Set();
      if (to[1] !== undefined) out.set(to[1], current);
      continue;
    }
    const h = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (h && current) {
      const start = Number(h[1]);
      const count = h[2] === undefined ? 1 : Number(h[2]);
      for (let i = 0; i < count; i++) current.add(start + i);
    }
  }
  return out;
}

function accepted(files: SimFileDiff[], path: string, start: number, end: number): boolean {
  const anchor = start === end ? { path, line: end, side: "RIGHT" as const } : { path, line: end, side: "RIGHT" as const, start_line: start, start_side: "RIGHT" as const };
  return !("error" in resolveAnchor(files, anchor));
}

async function checkScenario(r: Rng, s: Scenario): Promise<void> {
  const gitAdded = await addedByGit(s.repo, s.base, s.head);
  for (const sf of s.simFiles) {
    const mine = s.mine.get(sf.filename)!;
    expect(mine).toBeDefined();
    // The parser numbers each line with the text the file has there.
    const newLines = await fileLines(s.repo, s.head, sf.filename);
    const oldLines = await fileLines(s.repo, s.base, sf.previousFilename ?? sf.filename);
    for (const hunk of mine.hunks) {
      for (const l of hunk.lines) {
        if (l.newLine !== undefined) expect([sf.filename, l.newLine, l.raw.slice(1)]).toEqual([sf.filename, l.newLine, newLines![l.newLine - 1]]);
        if (l.oldLine !== undefined) expect([sf.filename, l.oldLine, l.raw.slice(1)]).toEqual([sf.filename, l.oldLine, oldLines![l.oldLine - 1]]);
      }
    }
    // Exactly the added lines git reports.
    if (!sf.binary) expect([sf.filename, [...mine.addedLines].sort((a, b) => a - b)]).toEqual([sf.filename, [...(gitAdded.get(sf.filename) ?? [])].sort((a, b) => a - b)]);
    // Every single line, and random ranges: the same answer as GitHub's rule.
    const last = (newLines?.length ?? 0) + 3;
    for (let line = 0; line <= last; line++) {
      expect([sf.filename, line, canComment(s.mine, sf.filename, line, line)]).toEqual([sf.filename, line, accepted(s.simFiles, sf.filename, line, line)]);
    }
    for (let k = 0; k < 40 && last > 2; k++) {
      const a = r.int(1, last - 1);
      const b = r.int(a + 1, Math.min(last, a + 12));
      expect([sf.filename, a, b, canComment(s.mine, sf.filename, a, b)]).toEqual([sf.filename, a, b, accepted(s.simFiles, sf.filename, a, b)]);
    }
  }
}

/** Findings that quote real lines anywhere in the changed files: some in the diff, most not. */
async function randomFindings(r: Rng, s: Scenario, n: number): Promise<{ findings: Finding[]; texts: Map<string, string> }> {
  const texts = new Map<string, string>();
  const findings: Finding[] = [];
  const candidates = s.simFiles.filter((f) => !f.binary && f.status !== "removed");
  for (const f of candidates) {
    const buf = await s.repo.git.readFile(s.head, f.filename);
    if (buf) texts.set(f.filename, buf.toString("utf8"));
  }
  for (let i = 0; i < n && candidates.length; i++) {
    const f = r.pick(candidates);
    const lines = (await fileLines(s.repo, s.head, f.filename)) ?? [];
    if (lines.length === 0) continue;
    const line = r.int(1, lines.length);
    const span = r.chance(0.3) ? r.int(1, 3) : 0;
    const start = Math.max(1, line - span);
    const quote = lines.slice(start - 1, line).join("\n");
    if (quote.trim() === "") continue;
    findings.push({
      path: f.filename,
      line,
      ...(start < line ? { startLine: start } : {}),
      severity: "major",
      title: `Problem ${i} about ${r.pick(WORDS)} ${r.pick(WORDS)} number ${i}`,
      explanation: `Explanation ${i}: distinct words ${i}a ${i}b ${i}c.`,
      quote,
      ...(r.chance(0.3) ? { replacement: `fixed ${i}` } : {}),
    });
  }
  return { findings, texts };
}

describe("diff mapping over real diffs", () => {
  test("random PRs: every numbered line holds its text, added lines match git, and every line and range gets GitHub's answer", async () => {
    const r = rng(SEED);
    for (let i = 0; i < 8; i++) {
      const s = await makeScenario(r);
      await checkScenario(r, s);
    }
  }, 120_000);

  test("a very large file (12,000 lines, 40 edits) maps the same way", async () => {
    const r = rng(SEED + 1);
    const s = await makeScenario(r, { large: true });
    const big = s.mine.get("data/big.txt")!;
    expect(big.hunks.length).toBeGreaterThan(10);
    await checkScenario(r, s);
  }, 60_000);

  test("the scenarios cover what they claim: hunks, renames, deletions, CRLF, no final newline, binary", async () => {
    const r = rng(SEED + 2);
    const seen = { multiHunk: false, renamed: false, removed: false, crlf: false, noNewline: false, binary: false };
    for (let i = 0; i < 10; i++) {
      const s = await makeScenario(r);
      for (const f of s.simFiles) {
        const mine = s.mine.get(f.filename)!;
        if (mine.hunks.length > 1) seen.multiHunk = true;
        if (f.status === "renamed") seen.renamed = true;
        if (f.status === "removed") seen.removed = true;
        if (f.binary) seen.binary = true;
        if (mine.hunks.some((h) => h.lines.some((l) => l.raw.endsWith("\r")))) seen.crlf = true;
        if (mine.hunks.some((h) => /\\ No newline at end of file/.test(h.text))) seen.noNewline = true;
      }
      await checkScenario(r, s);
    }
    expect(seen).toEqual({ multiHunk: true, renamed: true, removed: true, crlf: true, noNewline: true, binary: true });
  }, 120_000);

  test("every inline comment the evidence gate passes is accepted by the simulator in one review; every one it moves to the summary is one GitHub refuses", async () => {
    const r = rng(SEED + 3);
    let inlineTotal = 0;
    let summaryTotal = 0;
    for (let i = 0; i < 6; i++) {
      const s = await makeScenario(r);
      const app = createGitHubApp({ appId: "610", privateKey: testPrivateKey(), baseUrl: sim.apiUrl, log: createLogger({ level: "silent", redact }), Octokit: TestOctokit });
      publisher = await app.forRepo(INSTALLATION + counter, s.repo.id, STEP_PERMISSIONS.publish);
      const { findings, texts } = await randomFindings(r, s, 40);
      const gate = gateFindings({ findings, diff: s.mine, readFile: (p) => texts.get(p), earlier: [], minSeverity: "nit", maxFindings: 50, observations: [] });
      for (const g of gate.inline) expect(accepted(s.simFiles, g.finding.path, g.startLine, g.line)).toBe(true);
      for (const g of gate.summary) {
        expect(g.whyNotInline).toBe("outside-diff");
        expect(accepted(s.simFiles, g.finding.path, g.startLine, g.line)).toBe(false);
      }
      inlineTotal += gate.inline.length;
      summaryTotal += gate.summary.length;
      if (gate.inline.length === 0) continue;
      const before = sim.reviewComments.length;
      const review = await createReview(publisher, { owner: "prop", repo: s.repo.name }, 1, {
        commitId: s.head,
        body: "property test",
        comments: gate.inline.map((g) => ({
          path: g.finding.path,
          line: g.line,
          side: "RIGHT" as const,
          ...(g.startLine < g.line ? { start_line: g.startLine, start_side: "RIGHT" as const } : {}),
          body: g.finding.title,
        })),
      }, { botLogin: "iquest-bot[bot]", marker: "<!-- property test -->" });
      expect(review.id).toBeGreaterThan(0);
      expect(sim.reviewComments.length - before).toBe(gate.inline.length);
    }
    // The property is not vacuous: both placements happened.
    expect(inlineTotal).toBeGreaterThan(10);
    expect(summaryTotal).toBeGreaterThan(10);
    expect(sim.errors).toEqual([]);
  }, 120_000);

  test("a later push: the lines the new commits touched, mapped onto the PR's diff, are all commentable, and include every line they added", async () => {
    const r = rng(SEED + 4);
    for (let i = 0; i < 5; i++) {
      const s = await makeScenario(r);
      // A second push on top of the first.
      const change: Record<string, SeedFile> = {};
      for (const f of s.simFiles.filter((x) => !x.binary && x.status !== "removed")) {
        const lines = await fileLines(s.repo, s.head, f.filename);
        if (!lines || r.chance(0.4)) continue;
        change[f.filename] = render(edit(r, { lines, crlf: false, finalNewline: true }, r.int(1, 3)));
      }
      if (Object.keys(change).length === 0) continue;
      const second = await sim.commit({ repo: s.repo, branch: "feature", files: change, message: "More" });
      const prFiles = await pullRequestDiff(s.repo.git, s.base, second);
      const pr = indexDiff(prFiles.map((f) => ({ filename: f.filename, status: f.status, additions: f.additions, deletions: f.deletions, ...(f.patch ? { patch: f.patch } : {}) })));
      const inc = await pullRequestDiff(s.repo.git, s.head, second);
      const scope = mapIncrement(pr, inc.map((f) => ({ filename: f.filename, status: f.status, additions: f.additions, deletions: f.deletions, ...(f.patch ? { patch: f.patch } : {}) })));
      const gitAdded = await addedByGit(s.repo, s.head, second);
      for (const [path, file] of scope) {
        for (const line of file.lines) expect([path, line, accepted(prFiles, path, line, line)]).toEqual([path, line, true]);
      }
      for (const [path, added] of gitAdded) {
        const inPr = pr.get(path);
        for (const line of added) {
          // An added line the PR still shows is in scope; one the PR does not show cannot be.
          const shown = inPr?.rightLines.has(line) ?? false;
          expect([path, line, scope.get(path)?.lines.has(line) ?? false]).toEqual([path, line, shown]);
        }
      }
    }
  }, 120_000);
});
