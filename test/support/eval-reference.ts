import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { replace, scriptByTask, submit, type RecordedRequest, type ScriptStep } from "./fake-vllm/index.js";

/**
 * The scripted model for an eval task set: it recognises the task by its issue text and plays
 * the task's `reference.json` edits, then submits (bench/eval.ts, test/integration/cli-eval).
 */
export function referenceModel(tasksDir: string): { ids: string[]; issues: Map<string, string>; script: (request: RecordedRequest) => ScriptStep } {
  const ids = readdirSync(tasksDir).sort();
  const issues = new Map(ids.map((id) => [id, JSON.parse(readFileSync(join(tasksDir, id, "task.json"), "utf8")).issue as string]));
  const stepsFor = (task: string): ScriptStep[] => {
    const id = ids.find((i) => task.includes(JSON.stringify(issues.get(i)!).slice(1, -1)));
    if (!id) return [submit("unknown task")];
    const edits = JSON.parse(readFileSync(join(tasksDir, id, "reference.json"), "utf8")) as Array<{ path: string; old: string; new: string }>;
    return [...edits.map((e) => replace(e.path, e.old, e.new)), submit(`Reference fix for ${id}.`)];
  };
  return { ids, issues, script: scriptByTask(stepsFor) };
}
