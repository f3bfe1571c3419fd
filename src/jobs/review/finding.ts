import { z } from "zod";
import { REVIEW_SEVERITIES, type ReviewSeverity } from "../../config/repo-config.js";

/**
 * A finding as the model reports it (one `report_finding` call): where, how bad, what, the code
 * it is about (copied from the file; the evidence gate checks it is there), and optionally a
 * replacement for those lines and the command output that shows the problem.
 */
export interface Finding {
  path: string;
  /** Last line of the range, new side (the PR's head). */
  line: number;
  /** First line, when the finding spans several. */
  startLine?: number;
  severity: ReviewSeverity;
  title: string;
  explanation: string;
  /** The code the finding is about, copied from the file. */
  quote: string;
  /** New text for the quoted code (a suggestion); "" deletes it. */
  replacement?: string;
  /** Output of a command or failing test, from this run, that shows the problem. */
  evidence?: string;
}

export { REVIEW_SEVERITIES, type ReviewSeverity };

export function severityRank(s: ReviewSeverity): number {
  return REVIEW_SEVERITIES.indexOf(s);
}

/** Models use many words for the same four levels; map the common ones rather than reject them. */
const SEVERITY_WORDS: Record<string, ReviewSeverity> = {
  critical: "critical",
  blocker: "critical",
  severe: "critical",
  security: "critical",
  high: "major",
  major: "major",
  error: "major",
  bug: "major",
  important: "major",
  medium: "minor",
  moderate: "minor",
  minor: "minor",
  warning: "minor",
  low: "nit",
  nit: "nit",
  nitpick: "nit",
  trivial: "nit",
  info: "nit",
  style: "nit",
  suggestion: "nit",
};

export function normalizeSeverity(value: unknown): unknown {
  if (typeof value !== "string") return value;
  return SEVERITY_WORDS[value.trim().toLowerCase()] ?? value;
}

const intFromText = (v: unknown) => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v);

/** The boundary where the model's finding is validated (text-protocol values arrive as strings). */
export const findingArgsSchema = z.object({
  path: z.string().trim().min(1).max(1000),
  line: z.preprocess(intFromText, z.number().int().min(1)),
  start_line: z.preprocess(intFromText, z.number().int().min(1)).optional(),
  severity: z.preprocess(normalizeSeverity, z.enum(REVIEW_SEVERITIES)),
  title: z.string().trim().min(1).max(200),
  explanation: z.string().trim().min(1).max(8000),
  quote: z.string().max(20_000),
  replacement: z.string().max(20_000).optional(),
  evidence: z.string().max(20_000).optional(),
});

export type FindingArgs = z.infer<typeof findingArgsSchema>;

/** Paths as the model may write them: "./src/a.ts", "/workspace/src/a.ts", "src/a.ts". */
export function normalizeFindingPath(path: string, workdir: string): string {
  let p = path.trim();
  const root = workdir.endsWith("/") ? workdir : `${workdir}/`;
  if (p.startsWith(root)) p = p.slice(root.length);
  while (p.startsWith("./")) p = p.slice(2);
  return p.replace(/^\/+/, "");
}

export function toFinding(args: FindingArgs, workdir: string): Finding {
  const startLine = args.start_line !== undefined && args.start_line < args.line ? args.start_line : undefined;
  return {
    path: normalizeFindingPath(args.path, workdir),
    line: args.line,
    ...(startLine !== undefined ? { startLine } : {}),
    severity: args.severity,
    title: args.title,
    explanation: args.explanation,
    quote: args.quote,
    ...(args.replacement !== undefined ? { replacement: args.replacement } : {}),
    ...(args.evidence !== undefined && args.evidence.trim() !== "" ? { evidence: args.evidence } : {}),
  };
}
