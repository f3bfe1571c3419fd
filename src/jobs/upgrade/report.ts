import type { ActionsReport } from "../../deps/actions/outdated-actions.js";
import type { ScanProblem, SkippedUpdate } from "../../deps/types.js";
import type { CardTone } from "../job-card.js";
import { DASHBOARD_MARKER } from "./marker.js";
import type { DeclinedUpdate, GroupDecision } from "./plan.js";
import type { GroupResult } from "./results.js";

/**
 * A run, in words: the job card's final text and the dependency dashboard issue. Pure.
 *
 * The dashboard has four sections, as the issue asks: pending (found, not worked on yet: the PR
 * limits, versions still too young), open (the upgrade PRs), ignored (config, declined in a closed
 * PR, branches a human took over) and failed (groups that could not be applied or repaired, and
 * problems reading the project or its registries); then, as information, the workflows' actions
 * that have a newer release (never changed by the bot).
 */
export interface RunReport {
  jobId: string;
  /** ISO time of the run. */
  at: string;
  results: GroupResult[];
  skipped: Array<Extract<GroupDecision, { kind: "skip" }>>;
  declined: DeclinedUpdate[];
  held: SkippedUpdate[];
  problems: ScanProblem[];
  /** Every open upgrade PR after the run (this run's and earlier ones). */
  openPulls: Array<{ number: number; url: string; branch: string; title: string }>;
  dependencies: number;
  /** Set when the run stopped before working on groups (e.g. no project found). */
  note?: string;
  /** The workflows' actions (dashboard runs only): information, never changed. */
  actions?: ActionsReport;
}

const pr = (n: { number: number; url: string }) => `[#${n.number}](${n.url})`;

function statusWords(r: GroupResult): string {
  switch (r.status) {
    case "pass":
      return "tests pass";
    case "untested":
      return "no tests ran";
    case "repaired":
      return "repaired by the agent, tests pass";
    case "failing":
      return "tests fail";
    case "error":
      return "could not be applied";
  }
}

export function cardOutcome(report: RunReport): { tone: CardTone; text: string } {
  const lines: string[] = [];
  for (const r of report.results) {
    const what = `\`${r.group.name}\` (${r.group.updates.length} update${r.group.updates.length === 1 ? "" : "s"})`;
    if (r.pull) {
      const verb = r.pull.created ? "opened" : "updated";
      lines.push(`- ${what}: ${statusWords(r)}; ${verb} ${r.pull.draft ? "draft " : ""}PR ${pr(r.pull)}.`);
    } else {
      lines.push(`- ${what}: ${statusWords(r)}; no PR: ${r.unpublished ?? r.error ?? "nothing to publish"}.`);
    }
  }
  for (const s of report.skipped) lines.push(`- \`${s.group.name}\`: ${s.detail}.`);
  const declinedInWork = report.declined.filter((d) => !report.skipped.some((s) => s.declined.includes(d)));
  for (const d of declinedInWork) lines.push(`- \`${d.update.name}\` ${d.update.newVersion} left out: declined in ${pr(d.pull)}.`);
  for (const p of report.problems) lines.push(`- ⚠️ ${p.message}`);

  const failed = report.results.some((r) => r.status === "failing" || r.status === "error");
  const published = report.results.some((r) => r.pull);
  const tone: CardTone = failed ? "failure" : published ? "success" : report.problems.length ? "failure" : "neutral";
  let head: string;
  if (report.note) head = report.note;
  else if (report.results.length === 0 && report.skipped.length === 0) {
    head = report.problems.length
      ? `No updates could be proposed (${report.dependencies} dependencies read).`
      : `Everything is up to date: ${report.dependencies} dependencies checked, nothing to upgrade.`;
  } else head = `Checked ${report.dependencies} dependencies.`;
  return { tone, text: [head, ...(lines.length ? ["", ...lines] : [])].join("\n") };
}

export const DASHBOARD_TITLE = "Dependency dashboard (iquest-bot)";

export function dashboardBody(report: RunReport): string {
  const out: string[] = [
    DASHBOARD_MARKER,
    "This issue lists the dependency upgrades iquest-bot found, and is rewritten on each run. Comment `/iquest upgrade` to run now.",
    "",
    `_Last run: ${report.at}, job \`${report.jobId}\`, ${report.dependencies} dependencies read._`,
    "",
  ];
  const section = (title: string, lines: string[], empty: string) => out.push(`## ${title}`, "", ...(lines.length ? lines : [`_${empty}_`]), "");

  const pending = [
    ...report.skipped.filter((s) => s.reason === "limit").map((s) => `- \`${s.group.branch}\`: ${describeUpdates(s.group.updates)}. ${cap(s.detail)}.`),
    ...report.held.filter((h) => h.reason === "too-young").map((h) => `- \`${h.name}\` ${h.version}: ${h.detail}.`),
  ];
  section("Pending", pending, "Nothing waiting.");

  const open = report.openPulls.map((p) => {
    const r = report.results.find((x) => x.pull?.number === p.number);
    const skip = report.skipped.find((s) => s.facts.open?.number === p.number);
    const state = r ? ` (${statusWords(r)})` : skip ? ` (${skip.reason === "human-edited" ? "a human took it over" : skip.reason === "up-to-date" ? "up to date" : skip.reason})` : "";
    return `- ${pr(p)} \`${p.branch}\`: ${p.title}${state}`;
  });
  section("Open", open, "No upgrade PR is open.");

  const ignored = [
    ...report.declined.map((d) => `- \`${d.update.name}\` ${d.update.newVersion}: declined in closed PR ${pr(d.pull)}; proposed again when a newer version appears.`),
    ...report.skipped.filter((s) => s.reason === "human-edited").map((s) => `- \`${s.group.branch}\`: ${s.detail}${s.facts.open ? ` (${pr(s.facts.open)})` : ""}.`),
    ...report.held.filter((h) => h.reason === "ignored").map((h) => `- \`${h.name}\`${h.version ? ` ${h.version}` : ""}: ${h.detail}.`),
  ];
  section("Ignored", dedupe(ignored), "Nothing ignored.");

  const failed = [
    ...report.results.filter((r) => r.status === "failing" || r.status === "error").map((r) => `- \`${r.group.branch}\`: ${statusWords(r)}${r.pull ? ` (draft ${pr(r.pull)})` : `: ${r.unpublished ?? r.error ?? "no PR"}`}.`),
    ...report.problems.map((p) => `- ${p.message}`),
  ];
  section("Failed", failed, "Nothing failed.");

  if (report.actions) {
    const a = report.actions;
    out.push(
      "## GitHub Actions (information only)",
      "",
      "iquest-bot never changes `.github/workflows`: a bot that can rewrite CI could be made to run anything there, and the app does not ask for GitHub's `workflows` permission. Update these by hand.",
      "",
      ...(a.outdated.length ? a.outdated.map((o) => `- \`${o.action}@${o.ref}\` in ${o.files.map((f) => `\`${f}\``).join(", ")}: ${o.detail}.`) : [`_All ${a.used - a.unchecked.length} checked action(s) are on their latest release._`]),
      ...(a.unchecked.length ? ["", `_Not checked (no release found, or not readable): ${a.unchecked.map((n) => `\`${n}\``).join(", ")}._`] : []),
      "",
    );
  }

  const other = report.held.filter((h) => h.reason !== "too-young" && h.reason !== "ignored");
  if (other.length) {
    out.push("<details><summary>Not upgraded automatically</summary>", "", ...dedupe(other.map((h) => `- \`${h.name}\` (${h.manifest}): ${h.detail}`)), "", "</details>", "");
  }
  return out.join("\n");
}

function describeUpdates(updates: GroupResult["group"]["updates"]): string {
  const shown = updates.slice(0, 6).map((u) => `${u.name} ${u.newVersion}`).join(", ");
  return updates.length > 6 ? `${shown}, and ${updates.length - 6} more` : shown;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const dedupe = (lines: string[]) => [...new Set(lines)];
