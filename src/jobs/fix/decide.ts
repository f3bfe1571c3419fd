import type { AgentOutcome, StepEvent } from "../../agent/loop.js";
import type { BaselineVerdict } from "../../workspace/test-runner.js";
import { sanitizeLine, sanitizeModelText } from "../../shared/model-text.js";
import type { JobOutcome } from "../run-job.js";

/**
 * What a finished fix run leads to, and what its card says. Pure: the I/O shell (run-fix.ts)
 * publishes, and this decides whether a PR is opened and how each outcome reads.
 */
export interface FixDecision {
  /** "pr": open or update the PR. "branch-only": push the work, open no PR. */
  kind: "pr" | "branch-only";
  testsFailing: boolean;
  /** The card when the agent changed nothing. */
  noChange(summary: string, withheld: string[]): JobOutcome;
  /** The card after the push (and the PR, for "pr"). */
  outcome(branch: string, tried: string, pull?: { number: number; url: string; created?: boolean }): JobOutcome;
}

export interface FixDecisionInput {
  outcome: Extract<AgentOutcome, { kind: "submitted" | "budget-exhausted" }>;
  verdict?: BaselineVerdict;
  /** The test command failed after the change (new failures or old ones still there). */
  testsFailAfter?: boolean;
  onTestsFailing: "draft-pr" | "branch";
  mode: "issue" | "feedback" | "check";
}

const quote = (text: string) => {
  const clean = sanitizeModelText(text).trim();
  return clean ? clean.split("\n").map((l) => `> ${l}`).join("\n") : "> (no words given)";
};

export function decideFix(input: FixDecisionInput): FixDecision {
  // A fix is judged by every test, not only new failures: a test that failed on the base and
  // still fails is usually the very bug the issue is about.
  const testsFailing = input.verdict?.verdict === "fail" || Boolean(input.testsFailAfter);
  const testNote = input.verdict ? ` Tests: ${input.verdict.note}.` : " No tests ran (no test command found).";

  if (input.outcome.kind === "budget-exhausted") {
    const o = input.outcome;
    const limit = o.budget === "time" ? `${Math.round(o.limit / 60_000)} minutes` : `${o.limit.toLocaleString("en-US")} ${o.budget}`;
    const retry = `To try again with a larger budget, raise \`fix.budget\` in \`.github/iquest.yml\` and comment \`/iquest fix\`.`;
    return {
      kind: "branch-only",
      testsFailing,
      noChange: () => ({
        tone: "failure",
        text: `The agent ran out of budget (${limit}) without a change worth keeping. ${retry}`,
      }),
      outcome: (branch, tried) => ({
        tone: "failure",
        text: `The agent ran out of budget (${limit}) before it finished. Its work so far is on the branch \`${branch}\` (no PR opened).${testNote}\n\nWhat it tried last:\n${tried}\n\n${retry}`,
      }),
    };
  }

  const summary = input.outcome.summary;
  const branchOnly = testsFailing && input.onTestsFailing === "branch" && input.mode === "issue";
  return {
    kind: branchOnly ? "branch-only" : "pr",
    testsFailing,
    noChange: (s, withheld) => ({
      tone: "neutral",
      text:
        withheld.length > 0
          ? `Nothing was published: the only changes were ones iquest-bot may not make (${withheld.length} listed above). The agent's words:\n${quote(s)}`
          : `No change was made. The agent's words:\n${quote(s)}`,
    }),
    outcome: (branch, _tried, pull) => {
      if (!pull) {
        return {
          tone: "failure",
          text: `The change is on the branch \`${branch}\`, but the tests fail with it (${input.verdict?.note}), so no PR was opened (\`fix.onTestsFailing: branch\`).`,
        };
      }
      const verb = input.mode === "issue" ? (pull.created === false ? "Updated" : "Opened") : "Pushed to";
      const link = `[#${pull.number}](${pull.url})`;
      if (testsFailing) {
        const why =
          input.verdict?.verdict === "fail"
            ? input.verdict.note
            : `tests still fail (${input.verdict?.stillFailing.length ? `${input.verdict.stillFailing.length} already failed on the base` : "the test command fails"})`;
        return { tone: "failure", text: `${verb} draft PR ${link}, **marked failing**: ${why}. A human needs to take it further.` };
      }
      return { tone: "success", text: `${verb} draft PR ${link}.${testNote}` };
    },
  };
}

/** The last steps, as a list for the card: what the agent was doing when it stopped. */
export function whatWasTried(steps: StepEvent[], last = 8): string {
  const shown = steps.filter((s) => s.kind === "step").slice(-last);
  if (shown.length === 0) return "- (no steps)";
  return shown.map((s) => `- step ${s.step}: ${s.tool ? `\`${s.tool}\` ` : ""}${sanitizeLine(s.summary, 200)}`).join("\n");
}
