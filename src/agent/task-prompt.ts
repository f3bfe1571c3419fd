import { cleanUntrustedText, countRemoved } from "../shared/untrusted-text.js";
import type { Environment } from "./environment.js";
import { renderTemplate, type PromptSet } from "./prompts.js";
import { cutMiddle } from "./tools/truncate.js";

/**
 * The prompts for a fix run: the fixed system prompt, and a first message that carries the task
 * (untrusted text, cleaned of hidden content), the repo's own instructions for agents, and how
 * to run its tests.
 */

export interface RepoInstructions {
  file: string;
  text: string;
}

export interface FixPromptInput {
  /** The issue text. Untrusted: hidden comments and invisible characters are removed here. */
  task: string;
  /** The repository root as commands see it. */
  workdir: string;
  repoInstructions?: RepoInstructions;
  /** How to run the tests, if known (e.g. "npm test"). */
  testCommand?: string;
  commandTimeoutMs: number;
  /** Offer the `reproduce` tool: write a failing test first (src/jobs/fix/reproduce-check.ts). */
  reproduce?: boolean;
}

// The "reproduce first" paragraph: only when the `reproduce` tool is offered.
const REPRODUCE_FIRST =
  "Reproduce first. Before you change any code, write a test that fails because of the problem described, in the repository's own test framework and style, " +
  "and call the `reproduce` tool with its file(s), its name and a command that runs just that test. The tool runs the command on the original code and records the reproduction only if it fails there. " +
  "Then fix the code without changing that test again: after you submit, its command must pass and no other test may start failing. " +
  "If the problem cannot be shown by a test (documentation, configuration, build files), skip this and say why in your summary.";

export interface FixPrompts {
  systemPrompt: string;
  taskPrompt: string;
  /** How many hidden things were removed from the task and instructions (to tell the user). */
  hiddenRemoved: number;
}

const INSTRUCTION_FILES = ["AGENTS.md", ".github/iquest.md"] as const;
const MAX_INSTRUCTION_CHARS = 20_000;

export function buildFixPrompts(prompts: PromptSet, input: FixPromptInput): FixPrompts {
  const task = cleanUntrustedText(input.task);
  const instructions = input.repoInstructions ? cleanUntrustedText(input.repoInstructions.text) : undefined;
  const systemPrompt = renderTemplate(prompts.system, {
    workdir: input.workdir,
    command_timeout_s: Math.round(input.commandTimeoutMs / 1000),
  });
  const taskPrompt = renderTemplate(prompts["fix-task"], {
    workdir: input.workdir,
    task: task.text.trim() || "(the task text is empty)",
    repo_instructions: instructions?.text.trim() ?? "",
    repo_instructions_file: input.repoInstructions?.file ?? "",
    reproduce_instructions: input.reproduce ? REPRODUCE_FIRST : "",
    test_instructions: input.testCommand
      ? `\`${input.testCommand}\` (from the repository root).`
      : "no test command was detected. Look at the repository (README, package.json, Makefile, CI configuration) to find out how its tests run.",
  });
  return {
    systemPrompt,
    taskPrompt,
    hiddenRemoved: countRemoved(task) + (instructions ? countRemoved(instructions) : 0),
  };
}

/** The repo's instructions for agents: AGENTS.md, else .github/iquest.md; cut if very long. */
export async function readRepoInstructions(env: Environment): Promise<RepoInstructions | undefined> {
  for (const file of INSTRUCTION_FILES) {
    try {
      const text = (await env.readFile(file)).toString("utf8");
      if (text.trim() === "") continue;
      return { file, text: cutMiddle(text, { maxLines: Number.MAX_SAFE_INTEGER, maxChars: MAX_INSTRUCTION_CHARS }) };
    } catch {
      // Absent or unreadable: try the next one.
    }
  }
  return undefined;
}

/**
 * A best guess at the test command from the files at the root. The workspace's test runner
 * (src/workspace/test-runner.ts) knows more; callers that have it pass its answer instead.
 */
export async function detectTestCommand(env: Environment): Promise<string | undefined> {
  const read = async (file: string) => {
    try {
      return (await env.readFile(file)).toString("utf8");
    } catch {
      return undefined;
    }
  };
  const pkg = await read("package.json");
  if (pkg !== undefined) {
    try {
      const test = (JSON.parse(pkg) as { scripts?: Record<string, unknown> }).scripts?.test;
      if (typeof test === "string" && !/no test specified/.test(test)) return "npm test";
    } catch {
      // An unreadable package.json says nothing about tests.
    }
  }
  if ((await read("pytest.ini")) !== undefined || /\[tool\.pytest|pytest/.test((await read("pyproject.toml")) ?? "")) {
    return "python -m pytest";
  }
  if ((await read("go.mod")) !== undefined) return "go test ./...";
  if ((await read("Cargo.toml")) !== undefined) return "cargo test";
  if (/^test:/m.test((await read("Makefile")) ?? "")) return "make test";
  return undefined;
}
