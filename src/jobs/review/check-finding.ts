import type { Environment } from "../../agent/environment.js";
import { anchorQuote } from "./anchor.js";
import { canComment, inScope, type DiffIndex, type Scope } from "./diff.js";
import type { Finding } from "./finding.js";

/**
 * The reviewer's `report_finding` answers at once whether its evidence holds: the file is text
 * in the reviewed commit, the quote is in it, and where the finding will land (inline, or in
 * the summary when its lines are outside the diff or the new commits). The review job and
 * `iquest-bot review` use the same check, so the model gets the same feedback in both.
 */
export type FindingCheck = (finding: Finding) => Promise<{ ok: true; note?: string } | { ok: false; problem: string }>;

/** Text files of the reviewed commit, read once each through the environment; undefined for binary or missing. */
export function commitFileReader(env: Pick<Environment, "readFile">): (path: string) => Promise<string | undefined> {
  const files = new Map<string, string | undefined>();
  return async (path) => {
    if (!files.has(path)) {
      let text: string | undefined;
      try {
        const buf = await env.readFile(path);
        text = buf.includes(0) ? undefined : buf.toString("utf8");
      } catch {
        text = undefined;
      }
      files.set(path, text);
    }
    return files.get(path);
  };
}

export function findingChecker(readText: (path: string) => Promise<string | undefined>, diff: DiffIndex, scope: Scope | undefined, what = "the PR's head commit"): FindingCheck {
  return async (finding) => {
    const text = await readText(finding.path);
    if (text === undefined) return { ok: false, problem: `\`${finding.path}\` is not a text file in ${what}. Use the path as the diff shows it.` };
    const anchored = anchorQuote(text, finding.quote, finding.replacement, finding.startLine ?? finding.line);
    if (!anchored.ok) {
      return {
        ok: false,
        problem:
          anchored.reason === "empty-quote"
            ? "`quote` is empty: copy the lines the problem is about."
            : `the quoted code is not in \`${finding.path}\`. Copy it exactly from \`view\` output (without the line numbers).`,
      };
    }
    const a = anchored.anchor;
    const notes: string[] = [];
    if (a.startLine !== (finding.startLine ?? finding.line) || a.endLine !== finding.line) notes.push(`the quote is at lines ${a.startLine}-${a.endLine}; the finding is placed there`);
    if (!canComment(diff, finding.path, a.startLine, a.endLine)) notes.push("those lines are not in the diff, so it will be listed in the review's summary, not inline");
    else if (!inScope(scope, finding.path, a.startLine, a.endLine)) notes.push("those lines were not changed by the new commits, so it will be listed in the summary");
    return notes.length ? { ok: true, note: `${notes.join("; ")}.` } : { ok: true };
  };
}
