import { z } from "zod";
import { cutMiddle } from "./truncate.js";
import type { Tool } from "./types.js";

export interface ExecuteBashOptions {
  /** Per command; the whole process tree is killed when it passes. */
  timeoutMs: number;
  /** Lines kept of long output (half from the head, half from the tail). */
  maxLines: number;
  maxChars: number;
  /** Cap on what the environment captures at all. */
  maxOutputBytes: number;
}

export const defaultExecuteBashOptions: ExecuteBashOptions = {
  timeoutMs: 300_000,
  maxLines: 80,
  maxChars: 20_000,
  maxOutputBytes: 1_000_000,
};

export function createExecuteBashTool(options: Partial<ExecuteBashOptions> = {}): Tool<{ command: string }> {
  const o = { ...defaultExecuteBashOptions, ...options };
  return {
    spec: {
      name: "execute_bash",
      description: [
        "Execute a bash command in the repository's environment.",
        "* Each command runs in a fresh shell at the repository root; `cd` does not persist between calls.",
        `* A command that runs longer than ${Math.round(o.timeoutMs / 1000)} seconds is killed, with everything it started.`,
        `* Long output is cut: the first and last ${Math.floor(o.maxLines / 2)} lines are kept. Redirect to a file and use grep, head or tail to read more.`,
        "* Do not run interactive programs, or servers that never exit.",
      ].join("\n"),
      parameters: {
        type: "object",
        properties: {
          command: { type: "string", description: "The bash command to execute." },
        },
        required: ["command"],
      },
    },
    schema: z.object({ command: z.string() }),
    describe: (args) => {
      const line = args.command.trim().split("\n")[0] ?? "";
      return `$ ${line.length > 60 ? `${line.slice(0, 57)}...` : line}`;
    },
    async run(args, ctx) {
      if (args.command.trim() === "") return { output: "Error: the command is empty.", isError: true };
      const result = await ctx.env.exec(args.command, {
        timeoutMs: o.timeoutMs,
        signal: ctx.signal,
        maxOutputBytes: o.maxOutputBytes,
      });
      const parts: string[] = [];
      const output = result.output.replace(/\s+$/, "");
      parts.push(output === "" ? "(no output)" : cutMiddle(output, { maxLines: o.maxLines, maxChars: o.maxChars }));
      if (result.truncated) parts.push(`[the output passed ${o.maxOutputBytes} bytes; the rest was not captured]`);
      switch (result.killed) {
        case undefined:
          parts.push(`[exit code: ${result.exitCode ?? "none (killed by a signal)"}]`);
          break;
        case "timeout":
          parts.push(`[the command was killed after ${Math.round(o.timeoutMs / 1000)} seconds; run long tasks in smaller pieces or with a shorter scope]`);
          break;
        case "cancelled":
          parts.push("[the command was cancelled]");
          break;
        default:
          parts.push(`[the command was killed: ${result.killed} limit reached]`);
      }
      // A non-zero exit is information (a failing test), not a failed call.
      return { output: parts.join("\n"), commandMs: result.durationMs };
    },
  };
}
