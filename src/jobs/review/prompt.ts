import { readFile } from "node:fs/promises";
import { renderTemplate } from "../../agent/prompts.js";
import type { RepoInstructions } from "../../agent/task-prompt.js";
import { cutMiddle } from "../../agent/tools/truncate.js";
import { cleanUntrustedText, countRemoved } from "../../shared/untrusted-text.js";
import type { ReviewPlan } from "./plan.js";

/**
 * The reviewer's prompts. The PR's title and description are the author's words (anyone, for a
 * PR from a fork), so hidden content is removed and the prompt frames them as claims. The
 * instructions come from the base repository's default branch only: its AGENTS.md or
 * .github/iquest.md and `review.instructions`, never from the PR.
 */

export interface ReviewPromptSet {
  system: string;
  task: string;
}

export async function loadReviewPrompts(): Promise<ReviewPromptSet> {
  const [system, task] = await Promise.all([
    readFile(new URL("./prompts/review-system.md", import.meta.url), "utf8"),
    readFile(new URL("./prompts/review-task.md", import.meta.url), "utf8"),
  ]);
  return { system, task };
}

export interface ReviewPromptInput {
  workdir: string;
  number: number;
  title: string;
  description: string;
  plan: ReviewPlan;
  /** Said before the diff on a later push ("only the new commits"). */
  scopeNote?: string;
  repoInstructions?: RepoInstructions;
  configInstructions?: string;
  allowCommands: boolean;
  /** What to say about tests. */
  tests: string;
  commandTimeoutMs: number;
  maxFindings: number;
}

export interface ReviewPrompts {
  systemPrompt: string;
  taskPrompt: string;
  hiddenRemoved: number;
}

export function buildReviewPrompts(prompts: ReviewPromptSet, input: ReviewPromptInput): ReviewPrompts {
  const title = cleanUntrustedText(input.title);
  const description = cleanUntrustedText(input.description);
  const instructions = input.repoInstructions ? cleanUntrustedText(input.repoInstructions.text) : undefined;
  const notShown = [
    ...input.plan.tooLarge.map((f) => f.path),
    ...input.plan.overBudget,
    ...input.plan.binary,
    ...input.plan.deleted.map((p) => `${p} (deleted)`),
  ];
  const systemPrompt = renderTemplate(prompts.system, {
    workdir: input.workdir,
    commands: input.allowCommands ? "yes" : "",
    command_timeout_s: Math.round(input.commandTimeoutMs / 1000),
    max_findings: input.maxFindings,
  });
  const taskPrompt = renderTemplate(prompts.task, {
    number: input.number,
    title: title.text.replace(/\s+/g, " ").trim() || "(no title)",
    description: cutMiddle(description.text.trim(), { maxLines: 400, maxChars: 20_000 }) || "(no description)",
    scope_note: input.scopeNote ?? "",
    repo_instructions: instructions?.text.trim() ?? "",
    repo_instructions_file: input.repoInstructions?.file ?? "",
    config_instructions: input.configInstructions?.trim() ?? "",
    files_shown: input.plan.shown.length,
    diff: input.plan.shown.map((f) => f.text).join("\n") || "(no diff to show)",
    not_shown: notShown.slice(0, 200).join(", "),
    tests: input.tests,
  });
  return {
    systemPrompt,
    taskPrompt,
    hiddenRemoved: countRemoved(title) + countRemoved(description) + (instructions ? countRemoved(instructions) : 0),
  };
}
