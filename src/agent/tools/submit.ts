import { z } from "zod";
import type { Tool } from "./types.js";

/**
 * `submit` ends the run. IQuest was trained with an argument-less `submit()`, so the summary is
 * optional: a missing one must not turn a finished run into a malformed call.
 */
export function createSubmitTool(): Tool<{ summary?: string }> {
  return {
    spec: {
      name: "submit",
      description:
        "Finish the task. Call this once the work is done (or when you cannot go further), with a short summary of what you changed, why, and how you verified it.",
      parameters: {
        type: "object",
        properties: {
          summary: { type: "string", description: "What you changed, why, and how you checked it." },
        },
        required: [],
      },
    },
    schema: z.object({ summary: z.string().optional() }),
    describe: (args) => (args.summary ? firstLine(args.summary) : "(no summary)"),
    async run(args) {
      const summary = (args.summary ?? "").trim();
      return { output: "Submitted.", submitted: { summary } };
    },
  };
}

function firstLine(text: string): string {
  const line = text.trim().split("\n")[0] ?? "";
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
