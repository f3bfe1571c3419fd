import { sanitizeLine } from "../../shared/model-text.js";

/**
 * Reproduce first, then fix. Pure: whether a run of the agent's reproduction on the base code
 * reproduces anything, what the agent is told, and how the PR reports it. The run itself
 * (the sandbox, the files) is in reproduce-check.ts.
 */

/** A reproduction the job saw fail on the base code. */
export interface Reproduction {
  /** The test's name, as the agent gave it (shown in the PR). */
  test: string;
  /** The command that runs just this test, in the sandbox, from the repo root. */
  command: string;
  /** The files that make the test, relative to the repo root. */
  files: string[];
  /** Their contents when it reproduced (the fix may not change them; a retry starts from them). */
  contents: Map<string, Buffer>;
  base: { exitCode: number; line: string };
}

/** Why there is no reproduction (said plainly in the PR instead of claiming one). */
export type NoReproduction = { reason: string };

export interface CommandRun {
  exitCode: number | null;
  killed?: string;
  output: string;
}

/** A run of the reproduction on the base code: does it reproduce? */
export function judgeBaseRun(run: CommandRun): { ok: true; line: string } | { ok: false; reason: string } {
  if (run.killed) return { ok: false, reason: `the command was stopped (${run.killed}) before it finished` };
  if (run.exitCode === 0) return { ok: false, reason: "the test passes on the original code, so it does not reproduce the issue" };
  if (run.exitCode === 126 || run.exitCode === 127) {
    return { ok: false, reason: `the command could not run (exit ${run.exitCode}: ${run.exitCode === 127 ? "command not found" : "not executable"})` };
  }
  return { ok: true, line: `fails (exit ${run.exitCode})` };
}

/** Checks on the tool's arguments before anything runs. Returns a message for the agent, or undefined. */
export function checkReproduceArgs(args: { files: string[]; command: string }, changed: readonly string[]): string | undefined {
  if (args.files.length === 0) return "List the test file(s) you wrote or changed in `files`.";
  const bad = args.files.find((f) => f.startsWith("/") || f.split("/").includes(".."));
  if (bad) return `\`files\` must be paths relative to the repository root: \`${sanitizeLine(bad, 200)}\`.`;
  if (!args.command.trim()) return "Give the `command` that runs just this test.";
  const listed = new Set(args.files.map(normalize));
  const others = changed.filter((p) => !listed.has(normalize(p)));
  if (others.length) {
    return (
      `The reproduction must run against the original code, but these files other than the test's are changed: ${others.slice(0, 10).map((p) => `\`${sanitizeLine(p, 200)}\``).join(", ")}. ` +
      "Undo those changes (or list them in `files` if they are part of the test), then call `reproduce` again before fixing the code."
    );
  }
  const missing = args.files.filter((f) => !changed.some((p) => normalize(p) === normalize(f)));
  if (missing.length === args.files.length) return `None of the listed files is new or changed (${args.files.map((f) => `\`${sanitizeLine(f, 200)}\``).join(", ")}): write the test first.`;
  return undefined;
}

function normalize(path: string): string {
  return path.replace(/^\.\//, "").replace(/\/+/g, "/");
}

/** The PR's "Reproduction" section. */
export function reproductionSection(
  repro: Reproduction | NoReproduction | undefined,
  after?: { exitCode: number | null; killed?: string },
): string {
  if (!repro) return "_No reproduction: the repository has no test command, so none was attempted._";
  if (!("command" in repro)) return `_No reproduction: ${repro.reason}_`;
  const afterText = !after ? "not run" : after.killed ? `stopped (${after.killed})` : after.exitCode === 0 ? "passes" : `fails (exit ${after.exitCode})`;
  return [
    "| test | command | original code | with the fix |",
    "|---|---|---|---|",
    `| \`${cell(repro.test)}\` | \`${cell(repro.command)}\` | ${repro.base.line} | ${afterText} |`,
    "",
    `Files: ${repro.files.map((f) => `\`${cell(f)}\``).join(", ")}.`,
  ].join("\n");
}

function cell(text: string): string {
  return sanitizeLine(text, 300).replace(/\|/g, "\\|").replace(/`/g, "'");
}
