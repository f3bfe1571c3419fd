import type { StepEvent } from "../../agent/loop.js";
import { MAX_BODY } from "../../github/comments.js";
import { cleanTitle, sanitizeLine, sanitizeModelText } from "../../shared/model-text.js";

/**
 * The fix PR's title and body. Pure. The body must fit GitHub's 65,536 characters: the parts a
 * reviewer needs (the link to the issue, the summary, the test result, the budget) are kept
 * whole, and the agent's path is folded and cut first.
 */
export interface FixPrInput {
  issueNumber: number;
  issueTitle: string;
  summary: string;
  /** Set when the change did not pass verification (`fix.openOnFailure`): why. */
  unverified?: string;
  /** describeVerdict() output, or why tests did not run. */
  tests: string;
  /** The "Reproduction" section (reproductionSection()); absent for rounds on a PR. */
  reproduction?: string;
  /** The attempts table, when there was more than one. */
  attempts?: string;
  baselineLine?: string;
  afterLine?: string;
  budget: { steps: number; maxSteps: number; tokens: number; minutes: number };
  profile: string;
  model: string;
  steps: StepEvent[];
  /** Set when setup failed and `tests.allowUntested` let the fix go on: why it is untested. */
  untested?: string;
  /** Parts of the change that were not published (workflow files…), explained. */
  withheld?: string[];
  runUrl?: string;
  jobId: string;
}

export function fixPrTitle(input: Pick<FixPrInput, "issueNumber" | "issueTitle" | "unverified" | "untested">): string {
  const title = cleanTitle(input.issueTitle, 120);
  const tag = input.untested ? "[untested] " : input.unverified ? "[unverified] " : "";
  return `${tag}Fix #${input.issueNumber}: ${title}`;
}

export function fixPrBody(input: FixPrInput, limit = MAX_BODY): string {
  const head = [
    `Fixes #${input.issueNumber}`,
    "",
    input.untested
      ? `> [!WARNING]\n> **Untested.** ${input.untested} The test results below, if any, do not mean the change works.`
      : input.unverified
        ? `> [!WARNING]\n> **Unverified**: ${input.unverified}. No attempt passed verification; this is the last attempt's change, for a human to take further.`
        : "",
    "### What changed and why",
    "",
    // The model read untrusted code: its words go through the same filter as a review's
    // (no images that phone home, no hidden text, no @mentions).
    sanitizeModelText(input.summary).trim() || "_The agent gave no summary._",
    "",
    ...(input.reproduction ? ["### Reproduction", "", input.reproduction, ""] : []),
    "### Tests, against the base branch",
    "",
    ...(input.baselineLine ? [`- before: ${input.baselineLine}`] : []),
    ...(input.afterLine ? [`- after: ${input.afterLine}`] : []),
    "",
    input.tests,
  ];
  if (input.attempts) head.push("", "### Attempts", "", input.attempts);
  if (input.withheld?.length) {
    head.push("", "### Not included", "", ...input.withheld.map((w) => `- ${w}`));
  }
  const minutes = input.budget.minutes < 1 ? "<1" : input.budget.minutes.toFixed(1);
  head.push(
    "",
    "### Budget used",
    "",
    `${input.budget.steps} of ${input.budget.maxSteps} steps · ${input.budget.tokens.toLocaleString("en-US")} tokens · ${minutes} min · profile \`${input.profile}\` (\`${input.model}\`)`,
  );
  const tail = [
    "",
    `<sub>Opened by iquest-bot as a draft: review it like any contribution. Job \`${input.jobId}\`${input.runUrl ? ` · [full run](${input.runUrl})` : ""}. Comment \`/iquest <feedback>\` for another round.</sub>`,
  ];
  const fixed = head.filter((l, i, a) => !(l === "" && a[i - 1] === "")).join("\n");
  const room = limit - fixed.length - tail.join("\n").length - 200;
  return `${fixed}\n\n${agentPath(input.steps, room)}${tail.join("\n")}`;
}

/** The agent's steps, folded, cut to fit `room` characters (the last steps matter most). */
function agentPath(steps: StepEvent[], room: number): string {
  if (steps.length === 0 || room < 200) return "";
  const lines = steps.filter((s) => s.kind === "step").map((s) => `${s.step}. ${s.tool ? `\`${s.tool}\` ` : ""}${sanitizeLine(s.summary, 300)}`);
  const open = `<details><summary>The agent's path (${lines.length} steps)</summary>\n\n`;
  const close = "\n\n</details>\n";
  let body = lines.join("\n");
  const budget = room - open.length - close.length;
  if (body.length > budget) {
    let kept = lines.slice();
    while (kept.length > 1 && kept.join("\n").length + 40 > budget) kept = kept.slice(1);
    body = `… ${lines.length - kept.length} earlier steps not shown\n${kept.join("\n")}`.slice(0, Math.max(0, budget));
  }
  return `${open}${body}${close}`;
}
