import { z } from "zod";
import { createExecuteBashTool, type ExecuteBashOptions } from "../../agent/tools/execute-bash.js";
import { createEditorTool, type EditorArgs } from "../../agent/tools/str-replace-editor.js";
import { createSubmitTool } from "../../agent/tools/submit.js";
import { cutMiddle } from "../../agent/tools/truncate.js";
import type { AnyTool, Tool } from "../../agent/tools/types.js";
import { resolveWorkspacePath, shellQuote } from "../../agent/workspace-path.js";
import { findingArgsSchema, toFinding, type Finding, type FindingArgs } from "./finding.js";

/**
 * The reviewer's tools: read-only ones (the editor's `view`, a code search), `execute_bash` only
 * when running tests is allowed, `report_finding` (the structured way findings come back) and
 * `submit`. Nothing a review does is published except through the evidence gate, but the tool
 * set still says what the reviewer is for.
 */

export interface FindingCheck {
  /** Problems make the call fail, so the model can correct itself; notes are told but it is recorded. */
  (finding: Finding): Promise<{ ok: true; note?: string } | { ok: false; problem: string }>;
}

export interface ReviewToolsOptions {
  /** Findings are appended here as they are reported. */
  findings: Finding[];
  /** Output of every command run (for the evidence check). */
  observations: string[];
  check: FindingCheck;
  /** Give the model execute_bash (tests allowed). */
  allowCommands: boolean;
  bash?: Partial<ExecuteBashOptions>;
  /** Findings accepted per run, so a looping model cannot flood the gate. */
  maxReports: number;
}

export function createReviewTools(options: ReviewToolsOptions): AnyTool[] {
  const tools: AnyTool[] = [createReadOnlyEditor(), createSearchTool()];
  if (options.allowCommands) tools.push(recordOutput(createExecuteBashTool(options.bash), options.observations));
  tools.push(createReportFindingTool(options), createSubmitTool());
  return tools;
}

/** `str_replace_editor` under its trained name, with `view` only. */
export function createReadOnlyEditor(): Tool<EditorArgs> {
  const inner = createEditorTool();
  return {
    spec: {
      name: "str_replace_editor",
      description: [
        "View files and directories of the pull request's head commit (read-only: this is a review).",
        "* `view` on a file shows it with line numbers (`cat -n` style); `view_range` [start, end] shows part of it, end -1 for the rest of the file.",
        "* `view` on a directory lists its files two levels deep.",
      ].join("\n"),
      parameters: {
        type: "object",
        properties: {
          command: { type: "string", enum: ["view"], description: "Only `view` is available." },
          path: { type: "string", description: "File or directory, relative to the repository root." },
          view_range: { type: "array", items: { type: "integer" }, description: "Optional [start, end] lines of a file." },
        },
        required: ["command", "path"],
      },
    },
    schema: inner.schema,
    describe: inner.describe,
    async run(args, ctx) {
      if (args.command !== "view") return { output: "Error: this is a review; files cannot be changed. Only `view` is available.", isError: true };
      return inner.run(args, ctx);
    },
  };
}

/** A fixed grep: reading code, never running the PR's code, so it is there even for forks. */
export function createSearchTool(): Tool<{ pattern: string; path?: string }> {
  return {
    spec: {
      name: "search_code",
      description: "Search the repository for a regular expression (grep -E), case-sensitive. Returns matching lines as path:line:text, at most 200.",
      parameters: {
        type: "object",
        properties: {
          pattern: { type: "string", description: "An extended regular expression." },
          path: { type: "string", description: "A file or directory to search in (default: the whole repository)." },
        },
        required: ["pattern"],
      },
    },
    schema: z.object({ pattern: z.string().min(1).max(500), path: z.string().max(1000).optional() }),
    describe: (args) => `search ${args.pattern.slice(0, 50)}`,
    async run(args, ctx) {
      const resolved = resolveWorkspacePath(args.path && args.path.trim() !== "" ? args.path : ".", [ctx.workdir, ctx.env.root]);
      if (!resolved.ok) return { output: `Error: ${resolved.error}`, isError: true };
      const where = resolved.relative;
      const command = `grep -rnIE --exclude-dir=.git -e ${shellQuote(args.pattern)} -- ${shellQuote(where)} | head -n 200`;
      const result = await ctx.env.exec(command, { timeoutMs: 30_000, signal: ctx.signal, maxOutputBytes: 200_000 });
      const output = result.output.replace(/\s+$/, "");
      return {
        output: output === "" ? "No matches." : cutMiddle(output, { maxLines: 200, maxChars: 20_000 }),
        commandMs: result.durationMs,
      };
    },
  };
}

function recordOutput<A>(tool: Tool<A>, observations: string[]): Tool<A> {
  return {
    ...tool,
    async run(args, ctx) {
      const result = await tool.run(args, ctx);
      observations.push(result.output);
      return result;
    },
  };
}

export function createReportFindingTool(options: Pick<ReviewToolsOptions, "findings" | "check" | "maxReports">): Tool<FindingArgs> {
  return {
    spec: {
      name: "report_finding",
      description: [
        "Report one problem in the pull request's changes. Call it once per problem, before `submit`.",
        "* Report only what you are confident is a real defect (a bug, a security problem, a broken contract, a missing case): no praise, no style preferences, no restating what the code does.",
        "* `quote` must be the exact lines of the file at the PR's head that the problem is about, copied from `view` output (without the line numbers). A finding whose quote is not in the file is discarded.",
        "* `line` (and `start_line` for several lines) are line numbers on the new side, as `view` shows them.",
        "* `replacement`, if given, is the full new text for the quoted lines; it is offered as a suggestion the author can apply.",
        "* `evidence`, if you ran a command that shows the problem (a failing test, an error), is that output copied verbatim.",
      ].join("\n"),
      parameters: {
        type: "object",
        properties: {
          path: { type: "string", description: "File path relative to the repository root." },
          line: { type: "integer", description: "The (last) line the problem is on, new side." },
          start_line: { type: "integer", description: "First line, when the problem spans several lines." },
          severity: { type: "string", enum: ["critical", "major", "minor", "nit"], description: "critical: security or data loss; major: a bug; minor: a real but small problem; nit: cosmetic." },
          title: { type: "string", description: "One line: what is wrong." },
          explanation: { type: "string", description: "Why it is wrong and what happens because of it; how to fix it." },
          quote: { type: "string", description: "The exact code the problem is about, copied from the file." },
          replacement: { type: "string", description: "Optional: the corrected code that should replace the quoted lines." },
          evidence: { type: "string", description: "Optional: command or test output from this review that shows the problem." },
        },
        required: ["path", "line", "severity", "title", "explanation", "quote"],
      },
    },
    schema: findingArgsSchema,
    describe: (args) => `finding ${args.path}:${args.line} ${args.title.slice(0, 40)}`,
    async run(args, ctx) {
      if (options.findings.length >= options.maxReports) {
        return { output: `Error: ${options.maxReports} findings were reported already; no more are accepted. Call submit now.`, isError: true };
      }
      const finding = toFinding(args, ctx.workdir);
      const checked = await options.check(finding);
      if (!checked.ok) return { output: `Error: not recorded: ${checked.problem}`, isError: true };
      options.findings.push(finding);
      return { output: `Recorded finding ${options.findings.length}.${checked.note ? ` Note: ${checked.note}` : ""}` };
    },
  };
}
