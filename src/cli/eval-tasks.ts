import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

/**
 * `iquest-bot eval`'s task sets and report. A task is a directory (SWE-bench style):
 *
 *   task.json   { language, issue, failToPass: [{name, command}], passToPass: [{name, command}], setup? }
 *   repo/       the repository snapshot the agent works on
 *   hidden/     test files laid over the result after the agent finishes (the agent never sees them)
 *
 * `failToPass` commands must fail on the snapshot and pass after the fix; `passToPass` ones must
 * keep passing. Resolved = every one of them passes on the agent's final change. Pure apart from
 * reading the directory.
 */
const check = z.object({ name: z.string().min(1).max(300), command: z.string().min(1).max(2000) }).strict();
export const taskFileSchema = z
  .object({
    language: z.string().min(1).max(40),
    issue: z.string().min(1).max(20_000),
    failToPass: z.array(check).min(1).max(50),
    passToPass: z.array(check).max(50).default([]),
    /** Run the repository's setup (dependency install, with the registries' network) first. */
    setup: z.boolean().default(false),
  })
  .strict();

export type TaskFile = z.infer<typeof taskFileSchema>;

export interface EvalTask {
  id: string;
  dir: string;
  spec: TaskFile;
}

/** A task directory that could not be read: reported as a row, the others still run. */
export interface BrokenTask {
  id: string;
  problem: string;
}

export async function loadTasks(dir: string, only?: readonly string[]): Promise<{ tasks: EvalTask[]; broken: BrokenTask[] }> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const tasks: EvalTask[] = [];
  const broken: BrokenTask[] = [];
  for (const id of entries) {
    if (only && !only.includes(id)) continue;
    const taskDir = join(dir, id);
    let text: string;
    try {
      text = await readFile(join(taskDir, "task.json"), "utf8");
    } catch {
      broken.push({ id, problem: "no task.json" });
      continue;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      broken.push({ id, problem: `task.json is not JSON: ${(e as Error).message}` });
      continue;
    }
    const parsed = taskFileSchema.safeParse(data);
    if (!parsed.success) {
      broken.push({ id, problem: `task.json: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}` });
      continue;
    }
    const repo = await stat(join(taskDir, "repo")).catch(() => undefined);
    if (!repo?.isDirectory()) {
      broken.push({ id, problem: "no repo/ directory" });
      continue;
    }
    tasks.push({ id, dir: taskDir, spec: parsed.data });
  }
  const missing = only?.filter((id) => !entries.includes(id)) ?? [];
  for (const id of missing) broken.push({ id, problem: "no such task directory" });
  return { tasks, broken };
}

export interface CheckResult {
  name: string;
  command: string;
  passed: boolean;
  exitCode: number | null;
}

export interface TaskResult {
  task: string;
  language: string;
  profile: string;
  resolved: boolean;
  failToPass: CheckResult[];
  passToPass: CheckResult[];
  attempts: number;
  verified: boolean;
  steps: number;
  tokens: number;
  durationMs: number;
  /** Set when the task could not be run to the end (a broken task, a model error). */
  error?: string;
}

export interface ProfileSummary {
  profile: string;
  tasks: number;
  resolved: number;
  resolveRate: number;
  steps: number;
  tokens: number;
  durationMs: number;
  errors: number;
}

export function summarize(results: readonly TaskResult[]): ProfileSummary[] {
  const byProfile = new Map<string, TaskResult[]>();
  for (const r of results) byProfile.set(r.profile, [...(byProfile.get(r.profile) ?? []), r]);
  return [...byProfile].map(([profile, rows]) => {
    const resolved = rows.filter((r) => r.resolved).length;
    return {
      profile,
      tasks: rows.length,
      resolved,
      resolveRate: rows.length ? resolved / rows.length : 0,
      steps: rows.reduce((n, r) => n + r.steps, 0),
      tokens: rows.reduce((n, r) => n + r.tokens, 0),
      durationMs: rows.reduce((n, r) => n + r.durationMs, 0),
      errors: rows.filter((r) => r.error).length,
    };
  });
}

const passed = (checks: readonly CheckResult[]) => `${checks.filter((c) => c.passed).length}/${checks.length}`;

/** The report as text: one row per task and profile, then one per profile. */
export function formatReport(results: readonly TaskResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.task} | ${r.language} | ${r.profile} | ${r.error ? `error: ${r.error.replace(/\|/g, "\\|").slice(0, 120)}` : r.resolved ? "yes" : "no"} | ${passed(r.failToPass)} | ${passed(r.passToPass)} | ${r.attempts} | ${r.steps} | ${r.tokens.toLocaleString("en-US")} | ${(r.durationMs / 1000).toFixed(1)} s |`,
  );
  const summary = summarize(results).map(
    (s) =>
      `| ${s.profile} | ${s.resolved}/${s.tasks} (${(s.resolveRate * 100).toFixed(1)}%) | ${s.steps} | ${s.tokens.toLocaleString("en-US")} | ${(s.durationMs / 1000).toFixed(1)} s | ${s.errors} |`,
  );
  return [
    "| task | language | profile | resolved | fail→pass | pass→pass | attempts | steps | tokens | time |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "| profile | resolved | steps | tokens | time | errors |",
    "|---|---|---|---|---|---|",
    ...summary,
  ].join("\n");
}
