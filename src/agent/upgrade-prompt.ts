import { cleanUntrustedText, countRemoved } from "../shared/untrusted-text.js";
import { renderTemplate, type PromptSet } from "./prompts.js";
import type { RepoInstructions } from "./task-prompt.js";

/**
 * The prompts for repairing what a dependency upgrade broke: the fixed system prompt, and a task
 * that lists the upgrade, the failing test output and the packages' release notes. The output
 * and the notes are untrusted (a package's author wrote the changelog; a test can print
 * anything), so hidden content is removed and they are fenced as information.
 */
export interface UpgradePromptInput {
  workdir: string;
  /** One line per update, e.g. "- `left-pad` 1.0.0 → 2.0.0 (major) in package.json". */
  updates: string[];
  /** Why the agent is needed, e.g. "2 tests fail that passed before". */
  verdict: string;
  testOutput: string;
  releaseNotes: Array<{ name: string; source: string; text: string }>;
  repoInstructions?: RepoInstructions;
  testCommand?: string;
  commandTimeoutMs: number;
}

export function buildUpgradePrompts(prompts: PromptSet, input: UpgradePromptInput): { systemPrompt: string; taskPrompt: string; hiddenRemoved: number } {
  const output = cleanUntrustedText(input.testOutput);
  const notes = input.releaseNotes.map((n) => ({ ...n, clean: cleanUntrustedText(n.text) }));
  const instructions = input.repoInstructions ? cleanUntrustedText(input.repoInstructions.text) : undefined;
  const fence = (text: string) => text.replace(/<\/?(release_notes|test_output)\b[^>]*>/gi, "");
  const systemPrompt = renderTemplate(prompts.system, {
    workdir: input.workdir,
    command_timeout_s: Math.round(input.commandTimeoutMs / 1000),
  });
  const taskPrompt = renderTemplate(prompts["upgrade-task"], {
    workdir: input.workdir,
    verdict: input.verdict,
    updates: input.updates.join("\n"),
    test_output: fence(output.text.trim()) || "(no output)",
    release_notes: notes
      .map((n) => `<release_notes package="${n.name}" source="${n.source.replace(/"/g, "'")}">\n${fence(n.clean.text.trim())}\n</release_notes>`)
      .join("\n\n"),
    repo_instructions: instructions?.text.trim() ?? "",
    repo_instructions_file: input.repoInstructions?.file ?? "",
    test_instructions: input.testCommand ? `\`${input.testCommand}\` (from the repository root).` : "no test command was detected; look at the repository to find how its tests run.",
  });
  return {
    systemPrompt,
    taskPrompt,
    hiddenRemoved: countRemoved(output) + notes.reduce((n, x) => n + countRemoved(x.clean), 0) + (instructions ? countRemoved(instructions) : 0),
  };
}
