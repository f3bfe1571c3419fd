import type { WorkKind } from "../queue/payloads.js";

/**
 * The job card: one comment per job, edited in place as phases pass. This module is pure: it
 * turns a card state into markdown. Writing it to GitHub is card-publisher.ts's job.
 */

export type PhaseStatus = "pending" | "running" | "done" | "failed" | "skipped";

export interface CardPhase {
  name: string;
  status: PhaseStatus;
  detail?: string;
}

export type CardTone = "success" | "failure" | "neutral" | "cancelled";

export interface CardState {
  kind: WorkKind;
  jobId: string;
  title: string;
  phases: CardPhase[];
  /** Set once the job has ended: the card is final. */
  outcome?: { tone: CardTone; text: string };
  /** Shown above the phases: config problems, sandbox disabled, etc. */
  warnings: string[];
  /** Profile and model used, a link to the run viewer. */
  footer: { profile?: string; model?: string; runUrl?: string };
}

export const PHASES: Record<WorkKind, string[]> = {
  fix: ["queued", "checkout", "baseline tests", "agent", "tests", "PR"],
  review: ["queued", "checkout", "review", "post"],
  upgrade: ["queued", "checkout", "find updates", "apply and test", "repair", "PRs"],
};

const ICON: Record<PhaseStatus, string> = {
  pending: "⬜",
  running: "⏳",
  done: "✅",
  failed: "❌",
  skipped: "➖",
};

const TONE: Record<CardTone, string> = { success: "✅", failure: "❌", neutral: "ℹ️", cancelled: "🛑" };

export function cardMarker(jobKey: string): string {
  return `<!-- iquest-card:${jobKey} -->`;
}

export function initialCard(kind: WorkKind, jobId: string, title: string): CardState {
  return {
    kind,
    jobId,
    title,
    phases: PHASES[kind].map((name, i) => ({ name, status: i === 0 ? "done" : "pending" })),
    warnings: [],
    footer: {},
  };
}

/**
 * Add phases before `before` (a fix's later attempts: "agent (attempt 2)", "tests (attempt 2)"),
 * unless they are there already. Pending, so the card shows what is still to come.
 */
export function insertPhases(state: CardState, names: readonly string[], before: string): CardState {
  const missing = names.filter((n) => !state.phases.some((p) => p.name === n));
  const at = state.phases.findIndex((p) => p.name === before);
  if (missing.length === 0 || at < 0) return state;
  const added = missing.map((name) => ({ name, status: "pending" as const }));
  return { ...state, phases: [...state.phases.slice(0, at), ...added, ...state.phases.slice(at)] };
}

/** Mark one phase; phases before it that are still pending or running count as done. */
export function setPhase(state: CardState, name: string, status: PhaseStatus, detail?: string): CardState {
  const index = state.phases.findIndex((p) => p.name === name);
  if (index < 0) throw new Error(`unknown phase "${name}" for ${state.kind}`);
  const phases = state.phases.map((p, i) => {
    if (i === index) return { name: p.name, status, ...(detail ? { detail } : {}) };
    if (i < index && (p.status === "pending" || p.status === "running")) return { ...p, status: "done" as const };
    return p;
  });
  return { ...state, phases };
}

/** End the card. Phases still running fail (or are cancelled); pending ones are skipped. */
export function finishCard(state: CardState, tone: CardTone, text: string): CardState {
  const phases = state.phases.map((p) => {
    if (p.status === "running") return { ...p, status: tone === "success" ? ("done" as const) : ("failed" as const) };
    if (p.status === "pending") return { ...p, status: "skipped" as const };
    return p;
  });
  return { ...state, phases, outcome: { tone, text } };
}

export function addWarning(state: CardState, warning: string): CardState {
  return state.warnings.includes(warning) ? state : { ...state, warnings: [...state.warnings, warning] };
}

export function renderCard(state: CardState, jobKey: string): string {
  const lines: string[] = [cardMarker(jobKey), `### iquest-bot · ${state.title}`, ""];
  for (const w of state.warnings) lines.push(`> [!WARNING]\n> ${w.replace(/\n/g, "\n> ")}`, "");
  lines.push("| | phase | |", "| --- | --- | --- |");
  for (const p of state.phases) {
    lines.push(`| ${ICON[p.status]} | ${p.name} | ${(p.detail ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ")} |`);
  }
  lines.push("");
  if (state.outcome) lines.push(`${TONE[state.outcome.tone]} ${state.outcome.text}`, "");
  else lines.push("_Working on it. This comment updates as the job goes._", "");
  const meta = [`job \`${state.jobId}\``];
  if (state.footer.profile) meta.push(`profile \`${state.footer.profile}\``);
  if (state.footer.model) meta.push(`model \`${state.footer.model}\``);
  if (state.footer.runUrl) meta.push(`[run log](${state.footer.runUrl})`);
  if (!state.outcome) meta.push("`/iquest stop` to cancel");
  lines.push(`<sub>${meta.join(" · ")}</sub>`);
  return lines.join("\n");
}
