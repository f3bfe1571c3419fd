import { readFileSync } from "node:fs";
import { loadModelProfiles, type ModelUse } from "../config/model-profiles.js";
import { modelClientOptionsSchema, type ModelClientInput } from "../agent/model/options.js";
import { clientOptionsFor } from "../jobs/model-for-job.js";
import { StartupError } from "../shared/errors.js";
import type { FixArgs } from "./args.js";
import { UsageError } from "./args.js";

/**
 * The CLI's model: a model profile (the same profiles the app uses: built-in thinking and
 * instruct, MODEL_* shaping thinking, MODEL_PROFILES_FILE adding more), then --model-url,
 * --model and --protocol on top. src/main/cli.ts hands over the environment; nothing here
 * reads process.env.
 */
export type CliModelEnv = Readonly<Record<string, string | undefined>>;

export interface CliModel {
  input: ModelClientInput;
  profile: string;
}

/** `use`: which job's profile applies when --profile is not given (the app's MODEL_PROFILE_<JOB> mapping). */
export function modelOptionsFrom(env: CliModelEnv, args: Pick<FixArgs, "modelUrls" | "model" | "profile" | "protocol">, use: ModelUse = "fix"): CliModel {
  let profiles;
  try {
    const path = env.MODEL_PROFILES_FILE?.trim();
    const file = path ? { path, text: readFileSync(path, "utf8") } : undefined;
    profiles = loadModelProfiles(env, file);
  } catch (err) {
    // A bad profile file or MODEL_* value is a configuration error: exit 2, with the details.
    throw new UsageError(err instanceof StartupError ? err.message : `MODEL_PROFILES_FILE: ${(err as Error).message}`);
  }
  const name = args.profile ?? profiles.jobs[use];
  const profile = profiles.profiles.get(name);
  if (!profile) {
    throw new UsageError(`--profile ${name}: no such profile (available: ${[...profiles.profiles.keys()].join(", ")})`);
  }
  const apiKey = profile.apiKeyEnv ? env[profile.apiKeyEnv] : undefined;
  if (profile.apiKeyEnv && !apiKey) throw new UsageError(`profile ${name} takes its API key from ${profile.apiKeyEnv}, which is not set`);
  // The same profile → client mapping the app's jobs use; the command line may override a few fields.
  const input: ModelClientInput = {
    ...clientOptionsFor({ profiles, apiKeys: new Map(apiKey ? [[name, apiKey]] : []) }, profile),
    ...(args.modelUrls ? { baseUrls: args.modelUrls } : {}),
    ...(args.model ? { model: args.model } : {}),
    ...(args.protocol ? { protocol: args.protocol } : {}),
  };
  // Validate here, so a bad value is a usage error (exit 2) rather than a failure mid-run.
  const check = modelClientOptionsSchema.safeParse(input);
  if (!check.success) {
    throw new UsageError(`model settings: ${check.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return { input, profile: name };
}
