import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { StartupError } from "../shared/errors.js";

/**
 * Model profiles: named model endpoints an operator offers (Thinking, Instruct, Loop-Instruct,
 * or anything OpenAI-compatible), and which one each job kind uses.
 *
 * Sources, later ones winning: the two built-in profiles → MODEL_* environment variables (they
 * shape the default `thinking` profile, so a one-model deployment needs nothing else) → the
 * file named by MODEL_PROFILES_FILE (YAML or JSON). Validated once at start-up; a bad file stops
 * the process with every problem listed.
 *
 * A repository may pick an *existing* profile per job kind in .github/iquest.yml; it can never
 * supply a URL, a model name or a key.
 */

export const JOB_MODEL_USES = ["fix", "review", "upgrade", "condense"] as const;
export type ModelUse = (typeof JOB_MODEL_USES)[number];

const profileName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, '.', '_' and '-' (max 64)");
const baseUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

export const samplingSchema = z
  .object({
    temperature: z.number().min(0).max(2),
    top_p: z.number().gt(0).max(1),
    top_k: z.number().int().min(-1),
    max_tokens: z.number().int().min(16).max(1_000_000),
  })
  .strict();

export const modelProfileSchema = z
  .object({
    /** One or more OpenAI base URLs including /v1, spread round-robin with failover. */
    baseUrls: z.array(baseUrl).min(1),
    model: z.string().min(1),
    /** Name of the environment variable that holds this endpoint's API key (keys stay out of files). */
    apiKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
    protocol: z.enum(["native", "text"]),
    sampling: samplingSchema,
    /** Tokens; read from /v1/models (max_model_len) when not given. */
    contextWindow: z.number().int().min(1024).optional(),
    /** Sent as chat_template_kwargs.enable_thinking, for templates that read it. */
    enableThinking: z.boolean().optional(),
    /** Silence limit per call: the longest wait for the next streamed chunk (not the whole answer). */
    timeoutMs: z.number().int().min(1000).max(3_600_000),
    /** Retries for 429/5xx/connection errors, per call. */
    maxRetries: z.number().int().min(0).max(10),
  })
  .strict();

export type ModelProfile = z.infer<typeof modelProfileSchema> & { name: string };

/** What a profile file or env may set: every field optional, merged over the base profile. */
const profilePatchSchema = z
  .object({
    baseUrls: z
      .union([z.array(z.string()), z.string().transform((s) => s.split(",").map((u) => u.trim()))])
      .pipe(z.array(baseUrl).min(1))
      .optional(),
    model: z.string().min(1).optional(),
    apiKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
    protocol: z.enum(["native", "text"]).optional(),
    sampling: samplingSchema.partial().strict().optional(),
    contextWindow: z.number().int().min(1024).optional(),
    enableThinking: z.boolean().optional(),
    timeoutMs: z.number().int().min(1000).max(3_600_000).optional(),
    maxRetries: z.number().int().min(0).max(10).optional(),
    /** Start from another profile (default: `thinking`). */
    extends: profileName.optional(),
  })
  .strict();

export const profilesFileSchema = z
  .object({
    profiles: z.record(profileName, profilePatchSchema).default({}),
    jobs: z
      .object({ fix: profileName, review: profileName, upgrade: profileName, condense: profileName })
      .partial()
      .strict()
      .default({}),
  })
  .strict();

export interface ModelProfiles {
  profiles: Map<string, ModelProfile>;
  /** The operator's choice per use; every value names an existing profile. */
  jobs: Record<ModelUse, string>;
}

const DEFAULT_URL = "http://127.0.0.1:8000/v1";

export function builtInProfiles(): Record<string, Omit<ModelProfile, "name">> {
  // Sampling: IQuest publishes temperature 0.6, top_p 0.85, top_k 20 for Instruct; nothing for
  // Thinking, so the same values are the default there too, and every value is configurable.
  const sampling = { temperature: 0.6, top_p: 0.85, top_k: 20, max_tokens: 16_384 };
  return {
    thinking: {
      baseUrls: [DEFAULT_URL],
      model: "IQuestLab/IQuest-Coder-V1-40B-Thinking",
      protocol: "native",
      sampling,
      enableThinking: true,
      timeoutMs: 120_000,
      maxRetries: 3,
    },
    instruct: {
      baseUrls: [DEFAULT_URL],
      model: "IQuestLab/IQuest-Coder-V1-40B-Instruct",
      protocol: "native",
      sampling,
      enableThinking: false,
      timeoutMs: 120_000,
      maxRetries: 3,
    },
    // The looped-transformer variant of Instruct (its layers are applied more than once per
    // token: more compute per token, the same size on disk), an instruct chat template (no
    // thinking) and, as nothing else is published, Instruct's sampling. Calls stream, so more
    // compute per token needs no longer limit: the limit is on silence, not on the answer.
    loop: {
      baseUrls: [DEFAULT_URL],
      model: "IQuestLab/IQuest-Coder-V1-40B-Loop-Instruct",
      protocol: "native",
      sampling,
      enableThinking: false,
      timeoutMs: 120_000,
      maxRetries: 3,
    },
  };
}

/** The MODEL_* variables that shape the default profile, and the per-use mapping. */
export interface ModelEnv {
  MODEL_BASE_URL?: string;
  MODEL_NAME?: string;
  MODEL_API_KEY?: string;
  MODEL_TOOL_PROTOCOL?: string;
  MODEL_TEMPERATURE?: string;
  MODEL_TOP_P?: string;
  MODEL_TOP_K?: string;
  MODEL_MAX_TOKENS?: string;
  MODEL_CONTEXT_WINDOW?: string;
  MODEL_TIMEOUT_MS?: string;
  MODEL_PROFILE_FIX?: string;
  MODEL_PROFILE_REVIEW?: string;
  MODEL_PROFILE_UPGRADE?: string;
  MODEL_PROFILE_CONDENSE?: string;
}

/**
 * Build the operator's profiles. `fileText` is the content of MODEL_PROFILES_FILE (YAML or
 * JSON), if set. Throws StartupError listing every problem.
 */
export function loadModelProfiles(env: ModelEnv, fileText?: { path: string; text: string }): ModelProfiles {
  const problems: string[] = [];
  const base = builtInProfiles();

  // 1. Environment shapes the default (thinking) profile; a plain one-endpoint setup needs nothing else.
  const num = (name: keyof ModelEnv) => {
    const v = env[name];
    if (v === undefined || v.trim() === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) problems.push(`${name}: "${v}" is not a number`);
    return n;
  };
  const envSampling = Object.fromEntries(
    Object.entries({
      temperature: num("MODEL_TEMPERATURE"),
      top_p: num("MODEL_TOP_P"),
      top_k: num("MODEL_TOP_K"),
      max_tokens: num("MODEL_MAX_TOKENS"),
    }).filter(([, v]) => v !== undefined),
  );
  const envPatch = profilePatchSchema.safeParse({
    ...(env.MODEL_BASE_URL ? { baseUrls: env.MODEL_BASE_URL } : {}),
    ...(env.MODEL_NAME ? { model: env.MODEL_NAME } : {}),
    ...(env.MODEL_TOOL_PROTOCOL ? { protocol: env.MODEL_TOOL_PROTOCOL } : {}),
    ...(Object.keys(envSampling).length ? { sampling: envSampling } : {}),
    ...(num("MODEL_CONTEXT_WINDOW") !== undefined ? { contextWindow: num("MODEL_CONTEXT_WINDOW") } : {}),
    ...(num("MODEL_TIMEOUT_MS") !== undefined ? { timeoutMs: num("MODEL_TIMEOUT_MS") } : {}),
    ...(env.MODEL_API_KEY ? { apiKeyEnv: "MODEL_API_KEY" } : {}),
  });
  if (!envPatch.success) {
    for (const i of envPatch.error.issues) problems.push(`MODEL_* environment: ${i.path.join(".") || "value"}: ${i.message}`);
  } else {
    // The env's URL and key apply to every built-in (they usually share one vLLM router);
    // the model name and sampling only to the default profile.
    const { baseUrls, apiKeyEnv, ...rest } = envPatch.data;
    for (const name of Object.keys(base)) {
      base[name] = { ...base[name]!, ...(baseUrls ? { baseUrls } : {}), ...(apiKeyEnv ? { apiKeyEnv } : {}) };
    }
    base.thinking = merge(base.thinking!, rest);
  }

  // 2. The profiles file.
  let file: z.infer<typeof profilesFileSchema> = { profiles: {}, jobs: {} };
  if (fileText) {
    let data: unknown;
    try {
      data = fileText.path.endsWith(".json") ? JSON.parse(fileText.text) : parseYaml(fileText.text);
    } catch (err) {
      throw new StartupError(`MODEL_PROFILES_FILE ${fileText.path}: cannot be parsed: ${(err as Error).message}`);
    }
    const parsed = profilesFileSchema.safeParse(data ?? {});
    if (!parsed.success) {
      for (const i of parsed.error.issues) {
        const keys = i.code === "unrecognized_keys" ? ` (unknown: ${i.keys.join(", ")})` : "";
        problems.push(`${fileText.path}: ${i.path.join(".") || "(top level)"}: ${i.message}${keys}`);
      }
    } else file = parsed.data;
  }

  const profiles = new Map<string, ModelProfile>();
  for (const [name, p] of Object.entries(base)) profiles.set(name, { name, ...p });
  // Resolve `extends` in file order; a profile may extend a built-in or one defined earlier.
  for (const [name, patch] of Object.entries(file.profiles)) {
    const parentName = patch.extends ?? (profiles.has(name) ? name : "thinking");
    const parent = profiles.get(parentName);
    if (!parent) {
      problems.push(`profile "${name}": extends unknown profile "${parentName}"`);
      continue;
    }
    const { extends: _ignored, ...rest } = patch;
    const { name: _parentName, ...parentFields } = parent;
    const merged = modelProfileSchema.safeParse(merge(parentFields, rest));
    if (!merged.success) {
      for (const i of merged.error.issues) problems.push(`profile "${name}": ${i.path.join(".")}: ${i.message}`);
      continue;
    }
    profiles.set(name, { name, ...merged.data });
  }

  // 3. Which profile each use gets: file, then env, then thinking.
  const jobs = {} as Record<ModelUse, string>;
  const envJobs: Record<ModelUse, string | undefined> = {
    fix: env.MODEL_PROFILE_FIX,
    review: env.MODEL_PROFILE_REVIEW,
    upgrade: env.MODEL_PROFILE_UPGRADE,
    condense: env.MODEL_PROFILE_CONDENSE,
  };
  for (const use of JOB_MODEL_USES) {
    const chosen = envJobs[use]?.trim() || file.jobs[use] || "thinking";
    if (!profiles.has(chosen)) problems.push(`${use} is mapped to unknown profile "${chosen}" (known: ${[...profiles.keys()].join(", ")})`);
    jobs[use] = chosen;
  }
  if (problems.length > 0) throw new StartupError(`Invalid model profiles:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return { profiles, jobs };
}

function merge<T extends object>(parent: T, patch: object): T {
  const out = { ...parent } as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = k === "sampling" ? { ...(out.sampling as object), ...(v as object) } : v;
  }
  return out as T;
}

export interface ProfileChoice {
  profile: ModelProfile;
  /** Set when the repo asked for a profile that does not exist; shown on the job card. */
  problem?: string;
}

/**
 * The profile a job uses: the repo's choice if it names an existing profile, else the operator's
 * mapping. Never a silent fallback: an unknown name comes back with a problem to show.
 */
export function chooseProfile(profiles: ModelProfiles, use: ModelUse, repoChoice?: string): ProfileChoice {
  const operatorChoice = profiles.profiles.get(profiles.jobs[use])!;
  if (!repoChoice) return { profile: operatorChoice };
  const asked = profiles.profiles.get(repoChoice);
  if (asked) return { profile: asked };
  return {
    profile: operatorChoice,
    problem: `\`.github/iquest.yml\` asks for model profile "${repoChoice}", which this installation does not offer (available: ${[...profiles.profiles.keys()].join(", ")}); using "${operatorChoice.name}".`,
  };
}
