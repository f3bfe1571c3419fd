import { CronExpressionParser } from "cron-parser";
import { LineCounter, parseDocument, isMap, isScalar, type Node } from "yaml";
import { z } from "zod";

/**
 * The schema of `.github/iquest.yml`. It is read from the default branch only (never from a PR
 * head), validated here, and every key has a safe default: no file means the defaults.
 *
 * A file that fails validation never stops the bot. Each bad key is reported with its line and
 * falls back to its default; the keys that are valid are kept.
 */

const budgetShape = (steps: number, minutes: number, tokens: number) =>
  z
    .object({
      maxSteps: z.number().int().min(1).max(1000).default(steps),
      maxMinutes: z.number().min(1).max(24 * 60).default(minutes),
      maxTokens: z.number().int().min(1000).max(100_000_000).default(tokens),
    })
    .strict()
    .prefault({});

const cron = z.string().refine(
  (value) => {
    try {
      CronExpressionParser.parse(value);
      return value.trim().split(/\s+/).length === 5;
    } catch {
      return false;
    }
  },
  { message: "must be a 5-field cron expression, e.g. \"0 3 * * 1\"" },
);

export const DEFAULT_REVIEW_IGNORE = [
  "**/package-lock.json",
  "**/yarn.lock",
  "**/pnpm-lock.yaml",
  "**/poetry.lock",
  "**/Cargo.lock",
  "**/go.sum",
  "**/*.min.js",
  "**/*.map",
  "**/dist/**",
  "**/vendor/**",
  "**/node_modules/**",
  "**/*.generated.*",
];

/** Review finding severities, least severe first. */
export const REVIEW_SEVERITIES = ["nit", "minor", "major", "critical"] as const;
export type ReviewSeverity = (typeof REVIEW_SEVERITIES)[number];

const profileName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be a profile name, not a URL");

export const repoConfigSchema = z
  .object({
    fix: z
      .object({
        label: z.string().min(1).max(50).default("iquest:fix"),
        /** Per attempt. */
        budget: budgetShape(100, 60, 2_000_000),
        /**
         * Agent runs per job: a fresh conversation after one that fails verification (tests
         * regress, the reproduction still fails, no change, a budget hit). Within `totalBudget`.
         */
        attempts: z.number().int().min(1).max(5).default(2),
        /** The profile for attempts after the first (e.g. Instruct first, then Thinking). */
        escalateTo: profileName.optional(),
        /** Run every attempt even after one passes; the smallest passing diff wins. */
        tryAll: z.boolean().default(false),
        /** All attempts together: no attempt starts past these, and each is cut to what is left. */
        totalBudget: z
          .object({
            maxMinutes: z.number().min(1).max(24 * 60).default(120),
            maxTokens: z.number().int().min(1000).max(100_000_000).default(4_000_000),
          })
          .strict()
          .prefault({}),
        /** With a test command: the agent writes a failing test first (the `reproduce` tool). */
        reproduce: z.boolean().default(true),
        /**
         * When no attempt passes verification: `false` (default) pushes nothing and the card says
         * why; `true` publishes the last attempt's change, titled unverified, as `onTestsFailing` says.
         */
        openOnFailure: z.boolean().default(false),
        /** With `openOnFailure`: a draft PR titled unverified, or only the branch and a comment. */
        onTestsFailing: z.enum(["draft-pr", "branch"]).default("draft-pr"),
        /** Attempts to repair a failing check on the bot's PR before stopping. */
        maxCheckFixes: z.number().int().min(0).max(10).default(2),
        profile: profileName.optional(),
      })
      .strict()
      .prefault({}),
    review: z
      .object({
        enabled: z.boolean().default(true),
        paths: z.array(z.string().min(1)).max(100).default([]),
        ignore: z.array(z.string().min(1)).max(100).default(DEFAULT_REVIEW_IGNORE),
        budget: budgetShape(40, 20, 1_000_000),
        profile: profileName.optional(),
        /** Findings posted per review (inline and in the summary); the most severe are kept. */
        maxFindings: z.number().int().min(1).max(50).default(10),
        /** Findings below this severity are not posted. */
        minSeverity: z.enum(REVIEW_SEVERITIES).default("minor"),
        /**
         * A second, separate model call per finding that tries to disprove it against the code;
         * refuted findings are dropped (and counted in the summary). `maxTokens` bounds the whole
         * pass; findings left when it is spent are posted as found.
         */
        refute: z
          .object({ enabled: z.boolean().default(true), maxTokens: z.number().int().min(1000).max(1_000_000).default(60_000) })
          .strict()
          .prefault({}),
        /** Extra instructions for the reviewer (read from the default branch, like the rest of this file). */
        instructions: z.string().trim().min(1).max(4000).optional(),
        /** The reviewer may run the tests on PRs from this repository's own branches. */
        runTests: z.boolean().default(true),
        /** ...and on PRs from forks (untrusted code; always without network). */
        forkTests: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    upgrade: z
      .object({
        enabled: z.boolean().default(true),
        schedule: cron.optional(),
        /** Per repair (one agent run per group that the upgrade broke). */
        budget: budgetShape(60, 45, 1_500_000),
        profile: profileName.optional(),
        /** Versions published more recently than this are not proposed yet. */
        minimumAgeDays: z.number().min(0).max(365).default(3),
        /** `name`, `name-pattern*` or `name@range`: dependencies or versions never proposed. */
        ignore: z.array(z.string().trim().min(1).max(300)).max(200).default([]),
        /** Extra groups by name pattern (default: all non-major together, each major alone). */
        groups: z
          .array(
            z
              .object({
                name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,39}$/, "lower-case letters, digits, '.', '_' and '-' (it names the branch)"),
                match: z.array(z.string().trim().min(1).max(214)).min(1).max(50),
                /** Put the matching dependencies' major updates in this group too. */
                majors: z.boolean().default(false),
              })
              .strict(),
          )
          .max(20)
          .default([]),
        /**
         * Which ecosystems are upgraded (each on unless turned off): `npm` covers npm, pnpm and yarn
         * (one registry, one set of manifests); `go` Go modules; `python` requirements files;
         * `cargo` Cargo.toml.
         */
        ecosystems: z
          .object({ npm: z.boolean().default(true), go: z.boolean().default(true), python: z.boolean().default(true), cargo: z.boolean().default(true) })
          .strict()
          .prefault({}),
        /** Open upgrade PRs at most, counting those from earlier runs. */
        maxOpenPRs: z.number().int().min(0).max(100).default(5),
        /** New upgrade PRs one run may open (updating an open one does not count). */
        maxNewPRsPerRun: z.number().int().min(0).max(100).default(2),
        /** A dependency dashboard issue, updated each run. */
        dashboard: z.boolean().default(false),
        /** A group whose tests still fail after the agent: a draft PR marked failing, or no PR. */
        onRepairFailure: z.enum(["draft-pr", "skip"]).default("draft-pr"),
      })
      .strict()
      .prefault({}),
    /** Override test discovery (src/workspace/test-detect.ts): shell commands run in the sandbox. */
    tests: z
      .object({
        setup: z.string().trim().min(1).max(2000).optional(),
        command: z.string().trim().min(1).max(2000).optional(),
        /**
         * Network during the setup command (dependency install), through the worker's egress
         * proxy to the allowed registries only; never for PRs from forks. `false` turns it off.
         */
        setupNetwork: z.boolean().default(true),
        /**
         * When setup fails (a registry it cannot reach, a broken install), a fix stops and says
         * why; `true` lets the agent work on without tests, and the PR is marked untested.
         */
        allowUntested: z.boolean().default(false),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RepoConfig = z.infer<typeof repoConfigSchema>;

export interface ConfigProblem {
  /** Dotted key path, e.g. "review.enabled"; "" for the whole file. */
  key: string;
  /** 1-based line in the file, where known. */
  line?: number;
  /** 1-based column on that line, where known. */
  column?: number;
  message: string;
}

export interface LoadedRepoConfig {
  config: RepoConfig;
  problems: ConfigProblem[];
  /** "file" when .github/iquest.yml existed, "default" when it did not. */
  source: "file" | "default";
  /** The file could not be read this time (GitHub error): defaults apply, and nothing should cache this. */
  transient?: boolean;
}

export const CONFIG_PATH = ".github/iquest.yml";

export function defaultRepoConfig(): RepoConfig {
  return repoConfigSchema.parse({});
}

/** Parse and validate the text of `.github/iquest.yml`. `undefined` text means no file. Pure. */
export function parseRepoConfig(text: string | undefined): LoadedRepoConfig {
  if (text === undefined) return { config: defaultRepoConfig(), problems: [], source: "default" };
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      key: "",
      line: e.linePos?.[0]?.line,
      ...(e.linePos?.[0]?.col ? { column: e.linePos[0].col } : {}),
      message: `YAML syntax: ${e.message.split("\n")[0]}`,
    }));
    return { config: defaultRepoConfig(), problems, source: "file" };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return {
      config: defaultRepoConfig(),
      problems: [{ key: "", message: `unusable YAML: ${(err as Error).message}` }],
      source: "file",
    };
  }
  if (data === null || data === undefined) data = {};
  if (!isPlainObject(data)) {
    return {
      config: defaultRepoConfig(),
      problems: [{ key: "", line: 1, message: "the file must be a mapping of keys (fix, review, upgrade, tests)" }],
      source: "file",
    };
  }

  const positionOf = (path: PropertyKey[], key?: string): { line?: number; column?: number } => {
    const node = doc.getIn(path as unknown[], true) as Node | undefined;
    let offset: number | undefined;
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      offset = (pair?.key as Node | undefined)?.range?.[0];
    }
    offset ??= node?.range?.[0];
    if (offset === undefined && path.length > 0) return positionOf(path.slice(0, -1));
    if (offset === undefined) return {};
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };

  const problems: ConfigProblem[] = [];
  // Drop each offending key and validate again, so valid siblings survive. Bounded: each pass
  // removes at least one key.
  for (let pass = 0; pass < 50; pass++) {
    const result = repoConfigSchema.safeParse(data);
    if (result.success) return { config: result.data, problems, source: "file" };
    for (const issue of result.error.issues) {
      const path = issue.path as PropertyKey[];
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          problems.push({
            key: [...path, key].join("."),
            ...positionOf(path, key),
            message: `unknown key "${key}"`,
          });
          deletePath(data, [...path, key]);
        }
      } else {
        problems.push({ key: path.join("."), ...positionOf(path), message: issue.message });
        if (path.length === 0) return { config: defaultRepoConfig(), problems, source: "file" };
        deletePath(data, path);
      }
    }
  }
  return { config: defaultRepoConfig(), problems, source: "file" };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function deletePath(root: unknown, path: PropertyKey[]): void {
  let node = root as Record<PropertyKey, unknown> | undefined;
  for (const key of path.slice(0, -1)) {
    node = node?.[key] as Record<PropertyKey, unknown> | undefined;
    if (!node || typeof node !== "object") return;
  }
  const last = path[path.length - 1];
  if (node && last !== undefined) {
    // Inside a list or an exotic value (a YAML !!binary becomes a Uint8Array): drop the whole
    // value. A half-valid list is worse than the default.
    if (!isPlainObject(node) && path.length >= 2) {
      deletePath(root, path.slice(0, -1));
      return;
    }
    delete node[last];
  }
}

/** Render problems for a comment or check run, one line each. */
export function describeProblems(problems: ConfigProblem[]): string {
  return problems
    .map((p) => `- \`${p.key || CONFIG_PATH}\`${p.line ? ` (line ${p.line})` : ""}: ${p.message}; using the default`)
    .join("\n");
}
