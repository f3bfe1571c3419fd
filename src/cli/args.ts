import { parseArgs } from "node:util";
import { z } from "zod";
import { parseBaseUrls } from "../agent/model/options.js";

/** Wrong or missing arguments: print the message and the usage, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const USAGE = `Usage:
  iquest-bot check --repo PATH [--model-url URL] [--json]   (start here; see iquest-bot check --help)
  iquest-bot fix --repo PATH (--issue FILE | --issue-text TEXT) [options]
  iquest-bot review --repo PATH [--base REF] [--fail-on SEVERITY] [--json]   (see iquest-bot review --help)
  iquest-bot upgrade --repo PATH --dry-run [--json] [--registry URL]   (see iquest-bot upgrade --help)
  iquest-bot runs view FILE [--port N] [--diff FILE]   (see iquest-bot runs --help)
  iquest-bot eval --tasks DIR [--profile NAMES] [--attempts N] [--json]   (see iquest-bot eval --help)
  iquest-bot help

Runs the agent on a local checkout to fix the issue, with no GitHub and no Redis. The agent's
commands run in a bubblewrap sandbox over a copy of HEAD: no network, none of your files,
environment or /tmp. Its change is then applied to your checkout's files (or put on a new
branch with --branch); your own uncommitted changes stay as they are.

Options:
  --repo PATH            the git checkout to work on
  --sandbox bwrap|none   bwrap (default): the sandbox above. none: the agent's commands run in
                         the checkout itself, as you, with your files and network (a warning is
                         printed)
  --branch NAME          commit the result on this new local branch instead of applying it
  --no-setup             skip installing dependencies (setup runs first, with network through
                         an egress proxy that reaches only package registries)
  --issue FILE           read the task from FILE ("-" for standard input)
  --issue-text TEXT      the task as text
  --model-url URLS       OpenAI base URL(s) with /v1, comma-separated (default: $MODEL_BASE_URL
                         or http://127.0.0.1:8000/v1)
  --profile NAME         model profile: thinking, instruct, loop, or one from $MODEL_PROFILES_FILE
                         (default: the profile mapped to fix jobs, normally thinking)
  --model NAME           model name, overriding the profile's (default: the profile's; for
                         thinking, $MODEL_NAME or IQuestLab/IQuest-Coder-V1-40B-Thinking)
  --protocol native|text tool-call protocol (default: $MODEL_TOOL_PROTOCOL or native)
  --max-steps N          most model turns (default 50), per attempt
  --attempts N           verify the change and retry: run the tests first (the baseline), ask
                         the agent for a failing test first (the reproduction), and after each
                         attempt check that the reproduction passes and no test regressed; a
                         failed attempt is undone and the next one is told why, up to N (1-5).
                         The smallest passing change is applied; when none passes, nothing is
                         applied (the last change is saved as a patch) and the exit code is 6.
                         Needs the sandbox. Without --attempts the agent runs once, unverified.
  --trajectory FILE      write the run's trajectory (JSON lines) to FILE
  --json                 print one JSON object with the result on stdout
  --events               instead, stream JSON lines on stdout: each phase and step as it
                         happens ({"type":"phase"|"step",...}), then {"type":"result",...}

Environment: EGRESS_ALLOW and NPM_REGISTRY (what setup may reach, as for the worker),
MODEL_BASE_URL, MODEL_NAME, MODEL_API_KEY, MODEL_TOOL_PROTOCOL, MODEL_TEMPERATURE,
MODEL_TOP_P, MODEL_TOP_K, MODEL_MAX_TOKENS, MODEL_TIMEOUT_MS, MODEL_CONTEXT_WINDOW (these shape the
thinking profile), MODEL_PROFILES_FILE, MODEL_PROFILE_FIX.

Progress goes to stderr: one live line on a terminal, one line per step in a pipe. The result
(outcome, diff, summary) goes to stdout.

Exit codes:
  0    submitted
  1    error
  2    bad arguments or configuration
  3    budget exhausted (steps, tokens or time)
  4    model unreachable
  5    model refused the request (API key, model name)
  6    no attempt passed verification (--attempts)
  130  interrupted
`;

const fixArgsSchema = z
  .object({
    repo: z.string({ error: "--repo PATH is required" }).min(1, "--repo PATH is required"),
    issue: z.string().min(1).optional(),
    "issue-text": z.string().optional(),
    "model-url": z
      .string()
      .transform((v) => parseBaseUrls(v))
      .pipe(z.array(z.string().regex(/^https?:\/\/\S+$/, "--model-url takes http(s) URLs such as http://127.0.0.1:8000/v1")).min(1, "--model-url is empty"))
      .optional(),
    model: z.string().min(1).optional(),
    profile: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "--profile takes a profile name such as thinking or instruct").optional(),
    protocol: z.enum(["native", "text"], { error: "--protocol is native or text" }).optional(),
    "max-steps": z
      .string()
      .regex(/^\d+$/, "--max-steps takes a positive whole number")
      .transform(Number)
      .pipe(z.number().int().min(1, "--max-steps takes a positive whole number"))
      .optional(),
    attempts: z
      .string()
      .regex(/^[1-5]$/, "--attempts takes a whole number from 1 to 5")
      .transform(Number)
      .optional(),
    trajectory: z.string().min(1).optional(),
    json: z.boolean().default(false),
    events: z.boolean().default(false),
    sandbox: z.enum(["bwrap", "none"], { error: "--sandbox is bwrap or none" }).default("bwrap"),
    branch: z.string().min(1, "--branch takes a branch name").optional(),
    "no-setup": z.boolean().default(false),
  })
  .refine((a) => !(a.json && a.events), { error: "give one of --json (one document at the end) or --events (JSON lines as it goes)" })
  .refine((a) => !(a.branch && a.sandbox === "none"), { error: "--branch needs the sandbox (with --sandbox none the agent edits your checkout directly)" })
  .refine((a) => !(a.attempts && a.sandbox === "none"), { error: "--attempts needs the sandbox (an attempt is undone before the next; with --sandbox none that would be your checkout)" })
  .refine((a) => (a.issue === undefined) !== (a["issue-text"] === undefined), {
    error: "give the task with exactly one of --issue FILE or --issue-text TEXT",
  });

export interface FixArgs {
  repo: string;
  issueFile?: string;
  issueText?: string;
  modelUrls?: string[];
  model?: string;
  profile?: string;
  protocol?: "native" | "text";
  maxSteps?: number;
  /** --attempts N: verify and retry (src/jobs/fix/attempt-loop.ts). */
  attempts?: number;
  trajectory?: string;
  json: boolean;
  /** JSON lines on stdout: each phase and step, then the result. */
  events: boolean;
  sandbox: "bwrap" | "none";
  branch?: string;
  setup: boolean;
}

export function parseFixArgs(argv: readonly string[]): FixArgs {
  const values = parseFlags(argv, {
    repo: { type: "string" },
    issue: { type: "string" },
    "issue-text": { type: "string" },
    "model-url": { type: "string" },
    model: { type: "string" },
    profile: { type: "string" },
    protocol: { type: "string" },
    "max-steps": { type: "string" },
    attempts: { type: "string" },
    trajectory: { type: "string" },
    json: { type: "boolean" },
    events: { type: "boolean" },
    sandbox: { type: "string" },
    branch: { type: "string" },
    "no-setup": { type: "boolean" },
  });
  const parsed = fixArgsSchema.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join("; "));
  const a = parsed.data;
  return {
    repo: a.repo,
    ...(a.issue !== undefined ? { issueFile: a.issue } : {}),
    ...(a["issue-text"] !== undefined ? { issueText: a["issue-text"] } : {}),
    ...(a["model-url"] ? { modelUrls: a["model-url"] } : {}),
    ...(a.model ? { model: a.model } : {}),
    ...(a.profile ? { profile: a.profile } : {}),
    ...(a.protocol ? { protocol: a.protocol } : {}),
    ...(a["max-steps"] ? { maxSteps: a["max-steps"] } : {}),
    ...(a.attempts ? { attempts: a.attempts } : {}),
    ...(a.trajectory ? { trajectory: a.trajectory } : {}),
    json: a.json,
    events: a.events,
    sandbox: a.sandbox,
    ...(a.branch ? { branch: a.branch } : {}),
    setup: !a["no-setup"],
  };
}

/** The model flags `check`, `review` and `upgrade` share with `fix`. */
export const MODEL_FLAG_OPTIONS = {
  "model-url": { type: "string" },
  model: { type: "string" },
  profile: { type: "string" },
  protocol: { type: "string" },
} as const;

export type ModelFlags = Pick<FixArgs, "modelUrls" | "model" | "profile" | "protocol">;

type FlagOptions = Record<string, { type: "string" | "boolean" }>;

/** node's parseArgs, strict, no positionals; its errors become UsageErrors (exit 2). */
export function parseFlags(argv: readonly string[], options: FlagOptions): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
}

/** The model flags from parsed values, checked as `fix` checks them. */
export function modelFlags(values: Record<string, string | boolean | undefined>): ModelFlags {
  const raw = values["model-url"];
  const urls = typeof raw === "string" ? parseBaseUrls(raw) : undefined;
  if (urls && (urls.length === 0 || urls.some((u) => !/^https?:\/\/\S+$/.test(u)))) throw new UsageError("--model-url takes http(s) URLs such as http://127.0.0.1:8000/v1");
  const protocol = values.protocol;
  if (protocol !== undefined && protocol !== "native" && protocol !== "text") throw new UsageError("--protocol is native or text");
  if (values.profile !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(String(values.profile))) throw new UsageError("--profile takes a profile name such as thinking or instruct");
  return {
    ...(urls ? { modelUrls: urls } : {}),
    ...(typeof values.model === "string" && values.model ? { model: values.model } : {}),
    ...(typeof values.profile === "string" ? { profile: values.profile } : {}),
    ...(protocol ? { protocol } : {}),
  };
}

