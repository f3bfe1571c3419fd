import { z } from "zod";
import type { Tool, ToolContext, ToolResult } from "./types.js";

/**
 * `reproduce`: the agent declares the test it wrote for the issue, and the job runs it on the
 * original code, where it must fail. The check itself belongs to the caller (the fix job or the
 * CLI: src/jobs/fix/reproduce-check.ts), which records the reproduction; this is its model-facing
 * shape. The answer tells the agent whether it may go on to the fix or must change the test.
 */
export interface ReproduceArgs {
  files: string[];
  test: string;
  command: string;
}

export type ReproduceCheck = (args: ReproduceArgs, ctx: ToolContext) => Promise<ToolResult>;

// The text protocol sends every value as a string: accept a JSON array or a comma/newline list.
const fileList = z.preprocess((value) => {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch {
      return [text];
    }
  }
  return text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
}, z.array(z.string().min(1).max(500)).max(20));

export function createReproduceTool(check: ReproduceCheck): Tool<ReproduceArgs> {
  return {
    spec: {
      name: "reproduce",
      description:
        "Before fixing anything: after writing a test that reproduces the issue, call this. It runs `command` on the original code (only your test files changed) and records the reproduction if the command fails there. After you submit, the command is run again and must pass; do not change these test files afterwards.",
      parameters: {
        type: "object",
        properties: {
          files: { type: "array", items: { type: "string" }, description: "The test file(s) you wrote or changed, relative to the repository root." },
          test: { type: "string", description: "The test's name." },
          command: { type: "string", description: "A command that runs just this test, from the repository root." },
        },
        required: ["files", "test", "command"],
      },
    },
    schema: z.object({ files: fileList, test: z.string().trim().min(1).max(300), command: z.string().trim().min(1).max(2000) }),
    describe: (args) => `${args.test} (${args.command.length > 50 ? `${args.command.slice(0, 47)}...` : args.command})`,
    run: (args, ctx) => check(args, ctx),
  };
}
