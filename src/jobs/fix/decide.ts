import type { StepEvent } from "../../agent/loop.js";
import { sanitizeLine, sanitizeModelText } from "../../shared/model-text.js";
import type { JobOutcome } from "../run-job.js";
import { attemptsTable, type AttemptRecord } from "./attempts.js";

/**
 * What the attempts lead to, and what the card says. Pure: the I/O shell (publish-fix.ts)
 * publishes. A verified attempt is published; when none passed, nothing is pushed unless
 * `fix.openOnFailure` allows the last attempt's change out, titled unverified.
 */
export interface FixDecisionInput {
  records: readonly AttemptRecord[];
  winner?: AttemptRecord;
  /** The last attempt with a change, when none passed. */
  fallback?: AttemptRecord;
  openOnFailure: boolean;
  onTestsFailing: "draft-pr" | "branch";
  mode: "issue" | "feedback" | "check";
  /** Why fewer attempts ran than allowed. */
  stoppedEarly?: string;
}

export type FixDecision =
  | {
      kind: "publish";
      chosen: AttemptRecord;
      /** Passed verification; false for an `openOnFailure` publish. */
      verified: boolean;
      /** Open or update a PR; false: push the branch only (`onTestsFailing: branch`). */
      openPr: boolean;
    }
  | { kind: "stop"; outcome: JobOutcome };

const quote = (text: string) => {
  const clean = sanitizeModelText(text).trim();
  return clean ? clean.split("\n").map((l) => `> ${l}`).join("\n") : "> (no words given)";
};

export function decideFix(input: FixDecisionInput): FixDecision {
  if (input.winner) return { kind: "publish", chosen: input.winner, verified: true, openPr: true };
  const last = input.records.at(-1);
  const early = input.stoppedEarly ? `\n\n${input.stoppedEarly}` : "";
  if (!input.fallback || !last) {
    // No attempt changed anything.
    if (last?.end.kind === "budget-exhausted") {
      return { kind: "stop", outcome: { tone: "failure", text: `The agent ran out of budget (${budgetText(last)}) without a change worth keeping. ${RETRY}${early}` } };
    }
    const words = last?.end.kind === "submitted" ? last.end.summary : "";
    return { kind: "stop", outcome: { tone: "neutral", text: `No change was made. The agent's words:\n${quote(words)}${early}` } };
  }
  if (!input.openOnFailure) {
    const n = input.records.length;
    return {
      kind: "stop",
      outcome: {
        tone: "failure",
        text:
          `${n === 1 ? "The attempt" : `None of the ${n} attempts`} passed verification, so nothing was pushed.\n\n${attemptsTable(input.records)}${early}\n\n` +
          `What the last attempt tried:\n${last.tried}\n\n` +
          "Comment `/iquest fix <notes>` to try again with a hint, raise `fix.attempts` or `fix.budget`, or set `fix.openOnFailure: true` in `.github/iquest.yml` to get the last attempt as a draft PR marked unverified.",
      },
    };
  }
  const openPr = !(input.onTestsFailing === "branch" && input.mode === "issue");
  return { kind: "publish", chosen: input.fallback, verified: false, openPr };
}

const RETRY = "To try again with a larger budget, raise `fix.budget` in `.github/iquest.yml` and comment `/iquest fix`.";

function budgetText(r: AttemptRecord): string {
  if (r.end.kind !== "budget-exhausted") return "";
  return r.end.budget === "time" ? `${Math.round(r.end.limit / 60_000)} minutes` : `${r.end.limit.toLocaleString("en-US")} ${r.end.budget}`;
}

/** Why the chosen change did not pass, for titles, cards and bodies. */
export function unverifiedReason(chosen: AttemptRecord): string {
  return chosen.verdict.passed ? "" : chosen.verdict.reason;
}

/** The card after a publish. */
export function publishedOutcome(
  decision: Extract<FixDecision, { kind: "publish" }>,
  o: { branch: string; mode: FixDecisionInput["mode"]; records: readonly AttemptRecord[]; pull?: { number: number; url: string; created?: boolean } },
): JobOutcome {
  const { chosen } = decision;
  // With more than one attempt the card lists them all, as the PR does.
  const which = o.records.length > 1 ? ` (attempt ${chosen.n} of ${o.records.length})\n\n${attemptsTable(o.records, decision.verified ? chosen : undefined)}` : "";
  if (!o.pull) {
    return {
      tone: "failure",
      text: `The change is on the branch \`${o.branch}\`, but it did not pass verification (${unverifiedReason(chosen)}), so no PR was opened (\`fix.onTestsFailing: branch\`).${which}`,
    };
  }
  const verb = o.mode === "issue" ? (o.pull.created === false ? "Updated" : "Opened") : "Pushed to";
  const link = `[#${o.pull.number}](${o.pull.url})`;
  if (!decision.verified) {
    return { tone: "failure", text: `${verb} draft PR ${link}, **marked unverified**: ${unverifiedReason(chosen)}.${which} A human needs to take it further.` };
  }
  return { tone: "success", text: `${verb} draft PR ${link}. Verified: ${chosen.verdict.passed ? chosen.verdict.note : ""}.${which}` };
}

/** The card when the publish found nothing to push (everything was withheld, or no change). */
export function nothingPublished(summary: string, withheld: string[]): JobOutcome {
  return {
    tone: "neutral",
    text:
      withheld.length > 0
        ? `Nothing was published: the only changes were ones iquest-bot may not make (${withheld.length} listed above). The agent's words:\n${quote(summary)}`
        : `No change was made. The agent's words:\n${quote(summary)}`,
  };
}

/** The last steps, as a list for the card: what the agent was doing when it stopped. */
export function whatWasTried(steps: StepEvent[], last = 8): string {
  const shown = steps.filter((s) => s.kind === "step").slice(-last);
  if (shown.length === 0) return "- (no steps)";
  return shown.map((s) => `- step ${s.step}: ${s.tool ? `\`${s.tool}\` ` : ""}${sanitizeLine(s.summary, 200)}`).join("\n");
}
