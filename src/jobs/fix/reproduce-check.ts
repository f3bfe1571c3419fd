import type { Environment } from "../../agent/environment.js";
import type { ReproduceArgs } from "../../agent/tools/reproduce.js";
import type { ToolContext, ToolResult } from "../../agent/tools/types.js";
import type { ChangeStore } from "../../workspace/sandbox-change.js";
import { checkReproduceArgs, judgeBaseRun, type Reproduction } from "./reproduction.js";

/**
 * The I/O behind the `reproduce` tool, for the fix job and the CLI alike: check that only the
 * test's files changed (so the run is on the original code), run the command in the sandbox,
 * and record the reproduction when it fails there. After the fix: run it again, and tell
 * whether the test files were left alone. A retry writes the files back from the record.
 */
export interface ReproductionRecorder {
  check(args: ReproduceArgs, ctx: ToolContext): Promise<ToolResult>;
  /** The last reproduction that failed on the original code, if any. */
  current(): Reproduction | undefined;
  /** Why there is none (the last refusal), for the PR. */
  lastRefusal(): string | undefined;
}

const MAX_FILE_BYTES = 1024 * 1024;

export function createReproductionRecorder(options: { store: ChangeStore; timeoutMs: number; pathPrefix?: string }): ReproductionRecorder {
  let recorded: Reproduction | undefined;
  let refusal: string | undefined;
  const refuse = (text: string): ToolResult => {
    refusal = text;
    return { output: text, isError: true };
  };
  return {
    current: () => recorded,
    lastRefusal: () => refusal,
    async check(args, ctx) {
      const changed = await options.store.paths(ctx.signal);
      const problem = checkReproduceArgs(args, changed);
      if (problem) return refuse(problem);
      const contents = new Map<string, Buffer>();
      for (const file of args.files) {
        const data = await ctx.env.readFile(file).catch(() => undefined);
        if (data && data.length > MAX_FILE_BYTES) return refuse(`\`${file}\` is larger than 1 MiB: a reproduction should be a small test.`);
        // A listed file that does not exist is a deletion the test needs; kept as absent.
        if (data) contents.set(file, data);
      }
      const started = Date.now();
      const command = options.pathPrefix ? `export PATH="${options.pathPrefix}:$PATH"; ${args.command}` : args.command;
      const run = await ctx.env.exec(command, { timeoutMs: options.timeoutMs, signal: ctx.signal, maxOutputBytes: 1024 * 1024 });
      const judged = judgeBaseRun({ exitCode: run.exitCode, ...(run.killed ? { killed: run.killed } : {}), output: run.output });
      const tail = run.output.slice(-3000);
      if (!judged.ok) {
        return refuse(`Not recorded as a reproduction: ${judged.reason}.\n\nOutput (end):\n${tail}\n\nChange the test so that it fails on the original code for the reason the issue describes, then call \`reproduce\` again.`);
      }
      recorded = { test: args.test, command: args.command, files: args.files, contents, base: { exitCode: run.exitCode!, line: judged.line } };
      refusal = undefined;
      return {
        output:
          `Reproduced: \`${args.command}\` ${judged.line} on the original code (${((Date.now() - started) / 1000).toFixed(1)} s).\n\nOutput (end):\n${tail}\n\n` +
          "Now fix the code. Do not change the test files listed; after you submit, this command runs again and must pass, and the whole test suite must not regress.",
        commandMs: run.durationMs,
      };
    },
  };
}

/** After an attempt: the reproduction's command again, and which of its files the attempt changed. */
export async function rerunReproduction(
  env: Environment,
  repro: Reproduction,
  options: { timeoutMs: number; signal?: AbortSignal; pathPrefix?: string },
): Promise<{ after: { exitCode: number | null; killed?: string; output: string }; touched: string[] }> {
  const touched: string[] = [];
  for (const file of repro.files) {
    const now = await env.readFile(file).catch(() => undefined);
    const then = repro.contents.get(file);
    if (!sameBytes(now, then)) touched.push(file);
  }
  const command = options.pathPrefix ? `export PATH="${options.pathPrefix}:$PATH"; ${repro.command}` : repro.command;
  const r = await env.exec(command, { timeoutMs: options.timeoutMs, maxOutputBytes: 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) });
  return { after: { exitCode: r.exitCode, ...(r.killed ? { killed: r.killed } : {}), output: r.output.slice(-3000) }, touched };
}

/** Put the reproduction's files back (a retry starts from the original code plus the test). */
export async function restoreReproduction(env: Environment, repro: Reproduction): Promise<void> {
  for (const [file, data] of repro.contents) await env.writeFile(file, data);
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (!a || !b) return a === b;
  return a.equals(b);
}
