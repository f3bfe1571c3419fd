import { sanitizeLine, sanitizeModelText } from "../../shared/model-text.js";
import type { StepEvent } from "../../agent/loop.js";
import { MAX_BODY } from "../../github/comments.js";
import type { UpdateGroup } from "../../deps/group.js";
import type { ProposedUpdate } from "../../deps/types.js";
import { describeTestRun, describeVerdict } from "../test-summary.js";
import { upgradeMarker } from "./marker.js";
import type { GroupResult } from "./results.js";

/**
 * An upgrade PR's title and body. Pure. The hidden marker (the versions proposed) comes first so
 * it survives clipping; then the table of updates, the tests against the default branch, what the
 * agent repaired and why, and the budget. The agent's path is folded and cut first when the body
 * would pass GitHub's limit.
 */
export function upgradePrTitle(group: UpdateGroup, failing: boolean): string {
  const prefix = failing ? "[tests failing] " : "";
  const names = [...new Set(group.updates.map((u) => u.name))];
  if (names.length === 1) {
    const u = group.updates[0]!;
    const to = u.updateType === "major" ? `v${u.newVersion.split(".")[0]}` : u.newVersion;
    return `${prefix}Update dependency ${u.name} to ${to}`;
  }
  const kind = group.major ? "" : " (non-major)";
  return `${prefix}Update ${names.length} dependencies${group.name === "non-major" ? kind : ` (${group.name})`}`;
}

export interface PrBodyContext {
  jobId: string;
  runUrl?: string;
  baseBranch: string;
  repairCommitsSeparate: boolean;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function updatesTable(updates: readonly ProposedUpdate[]): string {
  const rows = updates.map((u) => {
    const where = `${u.manifest === "package.json" ? "" : `${u.manifest}, `}${u.depType}`;
    const range = u.newValue === u.currentValue ? `\`${u.currentValue}\` (unchanged)` : `\`${u.currentValue}\` → \`${u.newValue}\``;
    const versions = `${u.currentVersion ?? "?"} → **${u.newVersion}**`;
    const notes = u.releaseNotesUrl ? `[release notes](${u.releaseNotesUrl})` : "";
    return `| \`${cell(u.name)}\` <sub>${cell(where)}</sub> | ${versions} | ${cell(range)} | ${u.updateType} | ${notes} |`;
  });
  return ["| package | version | range | type | notes |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}

export function upgradePrBody(result: GroupResult, ctx: PrBodyContext, limit = MAX_BODY): string {
  const { group } = result;
  const failing = result.status === "failing";
  const head: string[] = [
    upgradeMarker(
      group.name,
      group.updates.map((u) => ({ name: u.name, manifest: u.manifest, version: u.newVersion })),
    ),
  ];
  if (failing) {
    head.push("> [!WARNING]", `> **Tests fail** with this upgrade${result.agent ? ", and the agent could not repair it" : ""}. It is a draft for a human to take further.`, "");
  }
  head.push("### Updates", "", updatesTable(group.updates), "");
  if (result.notes.length) head.push(...result.notes.map((n) => `- ${n}`), "");

  head.push(`### Tests, against \`${ctx.baseBranch}\``, "");
  if (result.status === "untested" || !result.baseline) {
    head.push("_No test command was found, so no tests ran. Set `tests.command` in `.github/iquest.yml`._", "");
  } else {
    head.push(`- before the upgrade: ${describeTestRun(result.baseline)}`);
    if (result.afterUpgrade) head.push(`- with the upgrade: ${describeTestRun(result.afterUpgrade)}`);
    if (result.afterRepair) head.push(`- after the agent's repair: ${describeTestRun(result.afterRepair)}`);
    head.push("");
    if (result.repairVerdict && result.upgradeVerdict) {
      head.push(`With the upgrade alone: ${describeVerdict(result.upgradeVerdict)}`, "", `After the repair: ${describeVerdict(result.repairVerdict)}`, "");
    } else if (result.upgradeVerdict) head.push(describeVerdict(result.upgradeVerdict), "");
  }

  if (result.agent) {
    const a = result.agent;
    head.push("### What the agent repaired, and why", "");
    if (!a.kept) head.push("_The agent's change was **not** included: it changed the upgraded versions, which a repair may not do._", "");
    head.push(sanitizeModelText(a.summary).trim() || "_The agent gave no summary._", "");
    if (a.kept && ctx.repairCommitsSeparate && result.commits.repair) {
      head.push(
        `The upgrade is commit \`${(result.commits.bump ?? "").slice(0, 12)}\`; the agent's repair is a separate commit, \`${result.commits.repair.slice(0, 12)}\`, so it can be reviewed on its own.`,
        "",
      );
    }
    if (result.releaseNotes.length) head.push(`The agent read: ${result.releaseNotes.map((r) => `${r.source}`).join("; ")}.`, "");
    const minutes = a.minutes < 1 ? "<1" : a.minutes.toFixed(1);
    head.push("### Budget used", "", `${a.steps} of ${a.maxSteps} steps · ${a.tokens.toLocaleString("en-US")} tokens · ${minutes} min · profile \`${a.profile}\` (\`${a.model}\`) · the agent ${a.outcome === "submitted" ? "submitted" : `stopped: ${a.outcome}`}`, "");
  }
  const tail = [
    "",
    `<sub>Opened by iquest-bot. Close this PR without merging to decline these versions: they will not be proposed again until a newer one appears. Pushing to the branch hands it to you: the bot will leave it alone. Job \`${ctx.jobId}\`${ctx.runUrl ? ` · [full run](${ctx.runUrl})` : ""}.</sub>`,
  ].join("\n");
  const fixed = head.filter((l, i, a) => !(l === "" && a[i - 1] === "")).join("\n");
  const room = limit - fixed.length - tail.length - 200;
  const path = result.agent ? agentPath(result.agent.path, room) : "";
  const body = `${fixed}\n${path}${tail}`;
  return body.length <= limit ? body : `${body.slice(0, limit - tail.length - 40)}\n…\n${tail}`;
}

function agentPath(steps: readonly StepEvent[], room: number): string {
  const lines = steps.filter((s) => s.kind === "step").map((s) => `${s.step}. ${s.tool ? `\`${s.tool}\` ` : ""}${sanitizeLine(s.summary, 300)}`);
  if (lines.length === 0 || room < 200) return "";
  const open = `<details><summary>The agent's path (${lines.length} steps)</summary>\n\n`;
  const close = "\n\n</details>\n";
  let kept = lines.slice();
  while (kept.length > 1 && kept.join("\n").length + open.length + close.length + 40 > room) kept = kept.slice(1);
  const text = kept.length < lines.length ? `… ${lines.length - kept.length} earlier steps not shown\n${kept.join("\n")}` : kept.join("\n");
  return `${open}${text.slice(0, Math.max(0, room - open.length - close.length))}${close}`;
}
