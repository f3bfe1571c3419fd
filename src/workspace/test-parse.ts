/**
 * Pass/fail counts and failing test names from common runners' plain output: jest, vitest,
 * mocha, TAP (node --test, tap), ava, pytest, go test, cargo test, Maven surefire and Gradle.
 * Every parser runs and the matches are merged, so `make test` driving two runners still works.
 * Names are what the baseline compares, so each parser builds names that are stable between
 * runs (file plus test title, no durations).
 */

export type RunnerKind = "jest" | "vitest" | "mocha" | "tap" | "ava" | "pytest" | "go" | "cargo" | "maven" | "gradle";

export interface ParsedTests {
  runners: RunnerKind[];
  passed?: number;
  failed: number;
  skipped?: number;
  /** Names of failing tests, deduplicated, in order of appearance. */
  failing: string[];
  /** True when every failure counted has a name (so a by-name baseline comparison is sound). */
  namesComplete: boolean;
}

interface Partial {
  runner: RunnerKind;
  passed?: number;
  failed?: number;
  skipped?: number;
  failing: string[];
}

// Strip ANSI colours (some runners ignore NO_COLOR) and carriage-return progress lines.
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function parseTestOutput(raw: string): ParsedTests | null {
  const output = raw.replace(ANSI, "").replace(/\r(?!\n)/g, "\n");
  const parts = [jest, vitest, mocha, tap, ava, pytest, goTest, cargo, maven, gradle]
    .map((p) => p(output))
    .filter((p): p is Partial => p !== null);
  if (!parts.length) return null;
  const sum = (k: "passed" | "failed" | "skipped") =>
    parts.some((p) => p[k] !== undefined) ? parts.reduce((s, p) => s + (p[k] ?? 0), 0) : undefined;
  const failing = [...new Set(parts.flatMap((p) => p.failing))];
  const counted = sum("failed") ?? 0;
  const failed = Math.max(counted, failing.length);
  return {
    runners: parts.map((p) => p.runner),
    passed: sum("passed"),
    failed,
    skipped: sum("skipped"),
    failing,
    namesComplete: failing.length >= counted,
  };
}

const count = (text: string, word: string): number | undefined => {
  const m = new RegExp(`(\\d+) ${word}`).exec(text);
  return m ? Number(m[1]) : undefined;
};

function jest(out: string): Partial | null {
  const summaries = [...out.matchAll(/^Tests:\s+(.*\d+ total.*)$/gm)].map((m) => m[1]!);
  const failing: string[] = [];
  let file = "";
  for (const line of out.split("\n")) {
    const f = /^\s*FAIL\s+(\S+)/.exec(line);
    if (f && !line.includes(" > ")) {
      file = f[1]!;
      continue;
    }
    const b = /^\s*● (.+?)\s*$/.exec(line);
    if (b && !/^Console\b/.test(b[1]!)) {
      failing.push(b[1] === "Test suite failed to run" ? `${file} (suite failed to run)` : `${file} › ${b[1]}`);
    }
  }
  if (!summaries.length && !failing.length) return null;
  if (!summaries.length && !/^\s*(?:PASS|FAIL)\s+\S/m.test(out)) return null;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const s of summaries) {
    passed += count(s, "passed") ?? 0;
    failed += count(s, "failed") ?? 0;
    skipped += (count(s, "skipped") ?? 0) + (count(s, "todo") ?? 0);
  }
  return { runner: "jest", passed, failed, skipped, failing };
}

function vitest(out: string): Partial | null {
  const summary = /^\s*Tests\s+((?:\d+ \w+(?: \| )?)+)\s*\(\d+\)\s*$/m.exec(out);
  const failing = [...out.matchAll(/^\s*FAIL\s+(\S.* > .+?)\s*(?:\[.*\])?$/gm)].map((m) => m[1]!.trim());
  if (!summary && !failing.length) return null;
  const s = summary?.[1] ?? "";
  return {
    runner: "vitest",
    passed: summary ? (count(s, "passed") ?? 0) : undefined,
    failed: summary ? (count(s, "failed") ?? 0) : undefined,
    skipped: summary ? (count(s, "skipped") ?? 0) + (count(s, "todo") ?? 0) : undefined,
    failing,
  };
}

function mocha(out: string): Partial | null {
  const passing = /^\s*(\d+) passing\b/m.exec(out);
  if (!passing) return null;
  const failingCount = /^\s*(\d+) failing\b/m.exec(out);
  const pending = /^\s*(\d+) pending\b/m.exec(out);
  const failing: string[] = [];
  if (failingCount) {
    const lines = out.slice(failingCount.index).split("\n");
    for (let i = 0; i < lines.length; i++) {
      const m = /^\s{2}(\d+)\) (.*)$/.exec(lines[i]!);
      if (!m) continue;
      const title: string[] = [m[2]!.trim()];
      let j = i + 1;
      while (!title[title.length - 1]!.endsWith(":") && j < lines.length && lines[j]!.trim() && j < i + 10) {
        title.push(lines[j]!.trim());
        j++;
      }
      failing.push(title.join(" ").replace(/:$/, ""));
    }
  }
  return {
    runner: "mocha",
    passed: Number(passing[1]),
    failed: failingCount ? Number(failingCount[1]) : 0,
    skipped: pending ? Number(pending[1]) : 0,
    failing,
  };
}

function tap(out: string): Partial | null {
  // node --test (TAP reporter) and other TAP producers; also node's spec reporter summary.
  const tests = /^(?:#|ℹ) tests (\d+)$/m.exec(out);
  const pass = /^(?:#|ℹ) pass (\d+)$/m.exec(out);
  const fail = /^(?:#|ℹ) fail (\d+)$/m.exec(out);
  const skip = /^(?:#|ℹ) skipped (\d+)$/m.exec(out);
  const todo = /^(?:#|ℹ) todo (\d+)$/m.exec(out);
  if (!tests || !pass || !fail) return null;
  const failing: string[] = [];
  const stack: string[] = [];
  // A suite's own "not ok" only repeats its children's failures: count leaves only.
  const hasChildren: boolean[] = [];
  for (const line of out.split("\n")) {
    const sub = /^(\s*)# Subtest: (.+)$/.exec(line);
    if (sub) {
      const depth = sub[1]!.length / 4;
      stack.length = depth;
      stack[depth] = sub[2]!.trim();
      continue;
    }
    const m = /^(\s*)(not ok|ok) \d+ - (.+?)(?:\s+#\s.*)?$/.exec(line);
    if (m) {
      const depth = m[1]!.length / 4;
      const isParent = hasChildren[depth + 1] === true;
      hasChildren[depth + 1] = false;
      hasChildren[depth] = true;
      if (m[2] === "not ok" && !isParent) failing.push([...stack.slice(0, depth), m[3]!.trim()].join(" > "));
    }
  }
  // Spec reporter: "✖ name (1.2ms)" under "✖ failing tests:".
  const specStart = out.indexOf("✖ failing tests:");
  if (specStart >= 0) {
    for (const m of out.slice(specStart).matchAll(/^\s*✖ (.+?)(?: \([\d.]+m?s\))?$/gm)) {
      if (m[1] !== "failing tests:") failing.push(m[1]!.trim());
    }
  }
  return {
    runner: "tap",
    passed: Number(pass[1]),
    failed: Number(fail[1]),
    skipped: Number(skip?.[1] ?? 0) + Number(todo?.[1] ?? 0),
    failing: [...new Set(failing)],
  };
}

/**
 * ava's default reporter: `✔ file › title` or `✖ file › title` per test (older versions: `✘
 * [fail]: …`), then a summary: `N tests passed` (absent when some failed), `N tests failed`,
 * `N tests skipped`, `N known failures`, `N tests todo`.
 */
function ava(out: string): Partial | null {
  const passed = /^\s*(\d+) tests? passed$/m.exec(out);
  const failed = /^\s*(\d+) tests? failed$/m.exec(out);
  if (!passed && !failed) return null;
  const skipped = /^\s*(\d+) tests? skipped$/m.exec(out);
  const todo = /^\s*(\d+) tests? todo$/m.exec(out);
  const known = /^\s*(\d+) known failures?$/m.exec(out);
  const ticks = [...out.matchAll(/^\s*✔ /gm)].length;
  const failing = [...out.matchAll(/^\s*[✖✘] (?:\[fail\]: )?(.+?)\s*$/gm)].map((m) => m[1]!);
  return {
    runner: "ava",
    passed: passed ? Number(passed[1]) + Number(known?.[1] ?? 0) : ticks,
    failed: Number(failed?.[1] ?? 0),
    skipped: Number(skipped?.[1] ?? 0) + Number(todo?.[1] ?? 0),
    failing: [...new Set(failing)],
  };
}

function pytest(out: string): Partial | null {
  const summary = [...out.matchAll(/^=+ (.*?\b(?:passed|failed|error|errors|skipped|no tests ran|xfailed|xpassed|deselected)\b.*?) in [\d.]+s(?: \([^)]*\))? =+$/gm)].pop();
  const failing = [...out.matchAll(/^(?:FAILED|ERROR) (\S+)/gm)].map((m) => m[1]!);
  if (!summary && !failing.length) return null;
  const s = summary?.[1] ?? "";
  return {
    runner: "pytest",
    passed: summary ? (count(s, "passed") ?? 0) : undefined,
    failed: summary ? (count(s, "failed") ?? 0) + (count(s, "errors?") ?? 0) : undefined,
    skipped: summary ? (count(s, "skipped") ?? 0) + (count(s, "xfailed") ?? 0) : undefined,
    failing,
  };
}

function goTest(out: string): Partial | null {
  // Package lines are tab-separated: "ok  \tpkg\t0.01s", "FAIL\tpkg\t0.01s", "FAIL\tpkg [build failed]".
  if (!/^(?:ok|FAIL)\s*\t\S+(?:\t|\s+\[)/m.test(out)) return null;
  const failing: string[] = [];
  let pending: string[] = [];
  let passes = 0;
  let sawVerbose = false;
  for (const line of out.split("\n")) {
    const f = /^\s*--- FAIL: (\S+)/.exec(line);
    if (f) {
      pending.push(f[1]!);
      continue;
    }
    if (/^\s*--- PASS: /.test(line)) {
      passes++;
      sawVerbose = true;
      continue;
    }
    const p = /^(ok|FAIL)\s*\t(\S+)(?:\s+(\[build failed\]|\[setup failed\]))?/.exec(line);
    if (p) {
      if (p[1] === "FAIL") {
        if (p[3]) failing.push(`${p[2]} ${p[3]}`);
        failing.push(...pending.map((t) => `${p[2]}.${t}`));
      }
      pending = [];
    }
  }
  failing.push(...pending);
  return { runner: "go", passed: sawVerbose ? passes : undefined, failed: failing.length, failing };
}

function cargo(out: string): Partial | null {
  const results = [...out.matchAll(/^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)];
  if (!results.length) return null;
  const failing = [...out.matchAll(/^test (\S+) \.\.\. FAILED$/gm)].map((m) => m[1]!);
  return {
    runner: "cargo",
    passed: results.reduce((s, m) => s + Number(m[1]), 0),
    failed: results.reduce((s, m) => s + Number(m[2]), 0),
    skipped: results.reduce((s, m) => s + Number(m[3]), 0),
    failing,
  };
}

function maven(out: string): Partial | null {
  const all = [...out.matchAll(/Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)(?!,\s*Time)/g)];
  if (!all.length) return null;
  const resultsAt = out.search(/^\[(?:INFO|WARNING|ERROR)\] Results:/m);
  const total = (resultsAt >= 0 ? all.filter((m) => m.index! > resultsAt).pop() : undefined) ?? all[all.length - 1]!;
  const failing: string[] = [];
  let inList = false;
  for (const line of out.split("\n")) {
    if (/^\[ERROR\] (?:Failures|Errors):\s*$/.test(line)) {
      inList = true;
      continue;
    }
    if (inList) {
      const m = /^\[ERROR\]\s{2,}([\w$.]+\.[\w$]+)(?::\d+)?(?:\s|$)/.exec(line);
      if (m) failing.push(m[1]!);
      else if (!/^\[ERROR\]\s{3,}/.test(line)) inList = false;
    }
  }
  const run = Number(total[1]);
  const failed = Number(total[2]) + Number(total[3]);
  const skipped = Number(total[4]);
  return { runner: "maven", passed: run - failed - skipped, failed, skipped, failing: [...new Set(failing)] };
}

function gradle(out: string): Partial | null {
  const failing = [...out.matchAll(/^(\S[^\n]*?) > (.+?) FAILED$/gm)].map((m) => `${m[1]} > ${m[2]}`);
  const summary = /(\d+) tests? completed, (\d+) failed(?:, (\d+) skipped)?/.exec(out);
  const success = /^BUILD SUCCESSFUL/m.test(out) && /^> Task .*:test\b/m.test(out);
  if (!failing.length && !summary && !success) return null;
  if (summary) {
    const completed = Number(summary[1]);
    const failed = Number(summary[2]);
    const skipped = Number(summary[3] ?? 0);
    return { runner: "gradle", passed: completed - failed - skipped, failed, skipped, failing };
  }
  return { runner: "gradle", failed: failing.length, failing };
}
