/**
 * A `test` script is often a chain: `xo && c8 ava && tsd`, `npm run lint && jest`, or a `pretest`
 * script that lints first. When the base commit fails in a step that is not the test runner (the
 * linter, a type check, a build), the runner never ran, and comparing such a baseline with the
 * result after a change compares exit codes, not tests. This module finds the runner's own step
 * in the chain, so the job can run that step alone as the baseline and the verification. Pure:
 * it reads the scripts, it runs nothing.
 */

/** Commands that are test runners (after wrappers such as `c8`, `nyc`, `cross-env X=1`). */
const RUNNERS = /^(?:jest|vitest|mocha|ava|tap|tape|uvu|jasmine|karma|playwright|cypress|node\s+(?:[^&|;]*\s)?--test\b|bun\s+test|deno\s+test)\b/;
/** Words that wrap the real command: coverage tools, env setters. */
const WRAPPERS = /^(?:c8|nyc|cross-env|dotenv|npx|pnpm\s+exec|yarn\s+exec|npm\s+exec\s+--)\s+/;
const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|'[^']*'|\S*)\s+/;

export interface RunnerStep {
  /** The runner's own step, as a shell command run in the worktree. */
  command: string;
  /** The steps the full script runs before it (for the card: "fails in `xo`"). */
  before: string[];
}

/** Split a shell line on top-level `&&` (not inside quotes). Other operators end the analysis. */
export function splitAndChain(script: string): string[] | undefined {
  const parts: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      current += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      current += c;
      continue;
    }
    if (c === "&" && script[i + 1] === "&") {
      parts.push(current.trim());
      current = "";
      i++;
      continue;
    }
    // `||`, `;`, `|`, a lone `&` or a subshell: not a plain chain; leave it alone.
    if (c === "|" || c === ";" || c === "&" || c === "(" || c === "`") return undefined;
    current += c;
  }
  if (quote) return undefined;
  parts.push(current.trim());
  return parts.filter(Boolean);
}

function isRunner(step: string): boolean {
  let s = step.trim();
  for (let guard = 0; guard < 6; guard++) {
    const next = s.replace(ENV_ASSIGNMENT, "").replace(WRAPPERS, "");
    if (next === s) break;
    s = next;
  }
  return RUNNERS.test(s);
}

/** `npm run x`, `pnpm x`, `yarn run x`, `pnpm run x`: the script name it runs, if any. */
function scriptCalled(step: string): string | undefined {
  const m = /^(?:npm\s+run(?:-script)?|pnpm(?:\s+run)?|yarn(?:\s+run)?)\s+([A-Za-z0-9:._-]+)\s*$/.exec(step.trim());
  return m?.[1];
}

/** npm-run-all's options that take a value (the next word is not a script name). */
const RUN_ALL_VALUE_OPTIONS = new Set(["--npm-path", "--max-parallel"]);

/** The script names a `run-s`/`run-p`/`npm-run-all` step runs, its globs expanded (`test:*` is one level, `test:**` any). */
function runAllScripts(step: string, scripts: Record<string, string | undefined>): string[] | undefined {
  const words = step.trim().split(/\s+/);
  if (!/^(?:run-s|run-p|npm-run-all)$/.test(words[0]!)) return undefined;
  const names: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!.replace(/^["']|["']$/g, "");
    if (RUN_ALL_VALUE_OPTIONS.has(w)) i++;
    else if (!w.startsWith("-")) names.push(w);
  }
  const all = Object.keys(scripts);
  return names.flatMap((name) => {
    if (!name.includes("*")) return [name];
    const pattern = new RegExp(`^${name.split(":").map((seg) => (seg === "**" ? ".+" : seg.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^:]*"))).join(":")}$`);
    return all.filter((k) => pattern.test(k));
  });
}

/** One step of a chain as the commands it runs: `npm run x` and `run-s a b` open up one level. */
function expandStep(step: string, scripts: Record<string, string | undefined>): string[] {
  const name = scriptCalled(step);
  if (name !== undefined && name !== "test") {
    const inner = scripts[name];
    return (inner !== undefined ? splitAndChain(inner) : undefined) ?? [step];
  }
  const runAll = runAllScripts(step, scripts);
  if (runAll) {
    return runAll.flatMap((n) => {
      const inner = n === "test" ? undefined : scripts[n];
      return (inner !== undefined ? splitAndChain(inner) : undefined) ?? [`npm run ${n}`];
    });
  }
  return [step];
}

/**
 * The test runner's step of `scripts.test` (with `pretest` in front, as npm runs it), when the
 * script is a chain with other steps; undefined when the script is just the runner, or the
 * runner cannot be told apart. `npm run <name>` and `run-s`/`npm-run-all` steps are followed one
 * level deep (run-p's steps run at once, but one failing fails them all just the same).
 */
export function findRunnerStep(scripts: Record<string, string | undefined>): RunnerStep | undefined {
  const test = scripts.test;
  if (!test) return undefined;
  const chain = splitAndChain(test);
  if (!chain) return undefined;
  const steps: string[] = [];
  if (scripts.pretest) steps.push(...(splitAndChain(scripts.pretest) ?? [scripts.pretest]).flatMap((step) => expandStep(step, scripts)));
  for (const step of chain) steps.push(...expandStep(step, scripts));
  const runners = steps.filter(isRunner);
  if (runners.length !== 1 || steps.length < 2) return undefined;
  const runner = runners[0]!;
  return { command: runner, before: steps.slice(0, steps.indexOf(runner)) };
}

/** The shell line that runs the runner's step alone, with the project's own binaries first. */
export function runnerStepCommand(step: RunnerStep): string {
  return `PATH="$PWD/node_modules/.bin:$PATH"; ${step.command}`;
}
