import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CONFIG_PATH, parseRepoConfig, type ConfigProblem } from "../config/repo-config.js";
import { setupFailureLine } from "../workspace/setup-failure.js";
import { runBaseline, toolchainVersions, type TestRun } from "../workspace/test-runner.js";
import { MODEL_FLAG_OPTIONS, UsageError, modelFlags, parseFlags, type ModelFlags } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import type { CliContext } from "./fix-command.js";
import { sandboxNetworkOf } from "./cli-context.js";
import { modelOptionsFrom } from "./model-config.js";
import { probeModel, type ModelReport, type Problem } from "./model-probe.js";
import { openSandboxedCopy } from "./sandboxed-copy.js";

export const CHECK_USAGE = `Usage:
  iquest-bot check --repo PATH [--model-url URL] [--model NAME] [--profile NAME]
                   [--protocol native|text] [--no-tests] [--json]

Everything to know before installing the app, as a report:
  - .github/iquest.yml checked against its schema (errors with line and column);
  - the setup and test commands the bot would run, and why;
  - setup and the tests, run on a copy of HEAD in the sandbox: counts and time (--no-tests skips);
  - the model server: reachable, the models it serves, max_model_len, whether a tool call
    round-trips in the configured protocol, where the thinking arrives. Each problem names the
    setting or vLLM flag that fixes it.

Environment: MODEL_BASE_URL, MODEL_NAME, MODEL_API_KEY, MODEL_TOOL_PROTOCOL, MODEL_PROFILES_FILE and
the other MODEL_* settings (as for fix), EGRESS_ALLOW and NPM_REGISTRY (what setup may reach).

Exit codes:
  0    ready
  1    something must be fixed (listed)
  2    bad arguments
`;

interface CheckArgs {
  repo: string;
  tests: boolean;
  json: boolean;
  model: ModelFlags;
}

function parseCheckArgs(argv: readonly string[]): CheckArgs {
  const values = parseFlags(argv, { repo: { type: "string" }, "no-tests": { type: "boolean" }, json: { type: "boolean" }, ...MODEL_FLAG_OPTIONS });
  if (typeof values.repo !== "string" || values.repo === "") throw new UsageError("--repo PATH is required");
  return { repo: values.repo, tests: values["no-tests"] !== true, json: values.json === true, model: modelFlags(values) };
}

export interface CheckReport {
  ready: boolean;
  repo: string;
  config: { source: "file" | "default"; problems: ConfigProblem[] };
  plan: { ecosystem: string; setup: string | null; test: string; reason: string } | null;
  setup: { ok: boolean; exitCode: number | null; seconds: number; why?: string; refused: string[] } | null;
  tests: { command: string; exitCode: number | null; passed?: number; failed?: number; skipped?: number; failing: string[]; seconds: number; toolchain?: string; note?: string } | null;
  model: ModelReport;
  problems: Problem[];
}

export async function runCheckCommand(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const out = (text: string) => ctx.stdout.write(ctx.redact(text));
  const err = (text: string) => ctx.stderr.write(ctx.redact(text));
  if (argv[0] === "--help" || argv[0] === "-h") {
    out(CHECK_USAGE);
    return EXIT_CODES.submitted;
  }
  let args: CheckArgs;
  let repo: string;
  let chosen: ReturnType<typeof modelOptionsFrom>;
  try {
    args = parseCheckArgs(argv);
    repo = resolve(ctx.cwd, args.repo);
    if (!(await stat(repo).catch(() => undefined))?.isDirectory()) throw new UsageError(`--repo ${args.repo}: not a directory`);
    chosen = modelOptionsFrom(ctx.modelEnv, args.model);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`iquest-bot check: ${e.message}\n\n${CHECK_USAGE}`);
    return EXIT_CODES.usage;
  }
  const say = (line: string) => err(`${line}\n`);
  const problems: Problem[] = [];

  // The config as the user has it now (the working file, which they are editing).
  const configText = await readFile(join(repo, CONFIG_PATH), "utf8").catch(() => undefined);
  const config = parseRepoConfig(configText);
  for (const p of config.problems) {
    problems.push({ what: `${CONFIG_PATH}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ""}` : ""}: ${p.key ? `\`${p.key}\`: ` : ""}${p.message}`, fix: "correct it (until then the bot uses the default for that key)" });
  }

  // The repository's setup and tests, in the sandbox.
  let plan: CheckReport["plan"] = null;
  let setup: CheckReport["setup"] = null;
  let tests: CheckReport["tests"] = null;
  try {
    say(`check: the repository (${repo})`);
    const opened = await openSandboxedCopy({
      repo,
      setup: args.tests,
      ...sandboxNetworkOf(ctx),
      npmRegistry: ctx.npmRegistry ?? "https://registry.npmjs.org/",
      setupTimeoutMs: ctx.setupTimeoutMs ?? 20 * 60_000,
      ...(ctx.bwrapPath ? { bwrapPath: ctx.bwrapPath } : {}),
      ...(ctx.tmpDir ? { tmpRoot: ctx.tmpDir } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      say,
    });
    try {
      if (opened.facts.dirty.length) say(`check: ${opened.facts.dirty.length} uncommitted path(s) are not part of the check: it runs on HEAD (${opened.facts.head.slice(0, 12)})`);
      if (!opened.plan) {
        problems.push({ what: "no test command found", fix: `set \`tests.command\` in ${CONFIG_PATH}` });
      } else {
        plan = { ecosystem: opened.plan.ecosystem, setup: opened.plan.setup ?? null, test: opened.plan.test, reason: opened.plan.reason };
        if (opened.setup) {
          const s = opened.setup;
          setup = {
            ok: s.ok,
            exitCode: s.exitCode,
            seconds: Math.round(s.durationMs / 100) / 10,
            ...(s.ok ? {} : { why: setupFailureLine(s.output) ?? "no output" }),
            refused: opened.env.egressReport().refused.map((r) => `${r.host} (${r.count}×)`),
          };
          if (!s.ok) {
            problems.push({
              what: `setup (\`${opened.plan.setup}\`) failed with exit code ${s.exitCode}: ${setup.why}`,
              fix: setup.refused.length ? `allow the registry it needs (EGRESS_ALLOW; refused: ${setup.refused.join(", ")})` : `fix the install, or set \`tests.setup\` in ${CONFIG_PATH}`,
            });
          }
        }
        if (args.tests) {
          say(`tests: \`${opened.plan.test}\` …`);
          const started = Date.now();
          const base = await runBaseline(opened.env, opened.plan, { timeoutMs: 30 * 60_000, ...(ctx.signal ? { signal: ctx.signal } : {}) });
          const versions = await toolchainVersions(opened.env, base.plan, ctx.signal);
          tests = describeRun(base.plan.test, base.run, (Date.now() - started) / 1000, versions, base.note);
          say(`tests: ${tests.passed ?? "?"} passed, ${tests.failed ?? "?"} failed, ${tests.skipped ?? 0} skipped in ${tests.seconds} s`);
          if (!base.run.parsed) {
            problems.push({ what: `the test output could not be read (exit code ${base.run.exitCode})`, fix: `check that \`${base.plan.test}\` runs the tests; pin it as \`tests.command\` in ${CONFIG_PATH}` });
          }
        }
      }
    } finally {
      await opened.close();
    }
  } catch (e) {
    if (ctx.signal?.aborted) {
      err("iquest-bot check: interrupted; your checkout is untouched\n");
      return EXIT_CODES.cancelled;
    }
    if (!(e instanceof UsageError)) throw e;
    problems.push({ what: e.message.split("\n")[0]!, fix: e.message.split("\n").slice(1).join(" ") || "see above" });
  }

  say(`check: the model server (${chosen.input.baseUrls.join(", ")})`);
  const model = await probeModel(chosen.input, { ...(ctx.signal ? { signal: ctx.signal } : {}) });
  problems.push(...model.problems);

  const report: CheckReport = { ready: problems.length === 0, repo, config: { source: config.source, problems: config.problems }, plan, setup, tests, model, problems };
  out(args.json ? `${JSON.stringify(report)}\n` : renderReport(report));
  return report.ready ? EXIT_CODES.submitted : EXIT_CODES.error;
}

function describeRun(command: string, run: TestRun, seconds: number, toolchain: string | undefined, note: string | undefined): NonNullable<CheckReport["tests"]> {
  const p = run.parsed;
  return {
    command,
    exitCode: run.exitCode,
    ...(p ? { passed: p.passed, failed: p.failed, skipped: p.skipped } : {}),
    failing: p?.failing.slice(0, 20) ?? [],
    seconds: Math.round(seconds * 10) / 10,
    ...(toolchain ? { toolchain } : {}),
    ...(note ? { note } : {}),
  };
}

export function renderReport(r: CheckReport): string {
  const lines: string[] = [];
  const mark = (ok: boolean) => (ok ? "ok  " : "FIX ");
  lines.push(`iquest-bot check: ${r.repo}`, "");
  lines.push(`${mark(r.config.problems.length === 0)}${CONFIG_PATH}: ${r.config.source === "default" ? "none (the defaults apply)" : r.config.problems.length ? `${r.config.problems.length} problem(s)` : "valid"}`);
  if (r.plan) {
    lines.push(`ok  tests detected: \`${r.plan.test}\`${r.plan.setup ? `, setup \`${r.plan.setup}\`` : ""} (${r.plan.reason})`);
  } else {
    lines.push("FIX tests: no test command found");
  }
  if (r.setup) lines.push(`${mark(r.setup.ok)}setup: ${r.setup.ok ? "done" : `failed (exit ${r.setup.exitCode}): ${r.setup.why}`} in ${r.setup.seconds} s${r.setup.refused.length ? `; the egress proxy refused ${r.setup.refused.join(", ")}` : ""}`);
  if (r.tests) {
    const counts = r.tests.passed !== undefined ? `${r.tests.passed} passed, ${r.tests.failed} failed, ${r.tests.skipped} skipped` : `output not understood (exit code ${r.tests.exitCode})`;
    lines.push(`${mark(r.tests.passed !== undefined)}tests: ${counts} in ${r.tests.seconds} s${r.tests.toolchain ? ` (ran with ${r.tests.toolchain})` : ""}`);
    if (r.tests.failing.length) lines.push(`    failing on HEAD (the bot compares with these): ${r.tests.failing.slice(0, 5).join(", ")}${r.tests.failing.length > 5 ? ", …" : ""}`);
    if (r.tests.note) lines.push(`    ${r.tests.note}`);
  }
  const m = r.model;
  lines.push(`${mark(m.reachable)}model server ${m.baseUrl}: ${m.reachable ? `serves ${m.servedModels.join(", ") || "nothing"}` : "not reachable"}`);
  if (m.reachable && m.servedModels.includes(m.model)) {
    lines.push(`${mark(m.maxModelLen === undefined || m.maxModelLen >= 16_384)}context: ${m.maxModelLen !== undefined ? `max_model_len ${m.maxModelLen}` : "not reported"}`);
    lines.push(`${mark(m.toolCall === "ok" || m.toolCall === "text-fallback")}tool call (${m.protocol} protocol): ${m.toolCall}${m.roundTripSeconds !== undefined ? ` in ${m.roundTripSeconds} s` : ""}`);
    lines.push(`    thinking arrives: ${m.reasoning === "inline" ? "inline <think> in the content" : m.reasoning}`);
  }
  for (const n of m.notes) lines.push(`    note: ${n}`);
  lines.push("");
  if (r.problems.length === 0) {
    lines.push("Ready: install the app (docs/DEPLOY.md).");
  } else {
    lines.push(`To fix (${r.problems.length}):`);
    for (const p of r.problems) lines.push(`  - ${p.what}\n    → ${p.fix}`);
  }
  return `${lines.join("\n")}\n`;
}
