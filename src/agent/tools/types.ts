import type { z } from "zod";
import type { Environment } from "../environment.js";
import type { ToolSpec } from "../model/types.js";

/** What a tool gets for one call. */
export interface ToolContext {
  env: Environment;
  /** Aborts on cancel or when the run's time budget is spent; tools pass it to `env.exec`. */
  signal: AbortSignal;
  /** The repository root as commands inside the environment see it (for a local directory, the
   * same as `env.root`; a sandbox may mount it elsewhere). Editor paths may start with it. */
  workdir: string;
}

export interface ToolResult {
  /** The observation for the model, before the loop adds the steps-remaining line. */
  output: string;
  /** The call failed (bad input, missing file…); the run goes on. */
  isError?: boolean;
  /** Set by `submit`: the run ends with this summary. */
  submitted?: { summary: string };
  /** Time the environment spent running commands for this call (excluded from harness overhead). */
  commandMs?: number;
}

/**
 * One tool: its model-facing definition, a zod schema for its arguments (the boundary where the
 * model's output is validated; text-protocol values arrive as strings, so schemas coerce), a
 * short description of a call for progress lines, and the action.
 */
export interface Tool<A = Record<string, unknown>> {
  readonly spec: ToolSpec;
  readonly schema: z.ZodType<A>;
  describe(args: A): string;
  run(args: A, ctx: ToolContext): Promise<ToolResult>;
}

// Tools are stored heterogeneously; `any` here only erases the argument type of the list.
export type AnyTool = Tool<any>;
