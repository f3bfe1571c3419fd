import { z } from "zod";
import { modelClientOptionsSchema, parseBaseUrls, type ModelClientInput } from "../agent/model/options.js";
import type { FixArgs } from "./args.js";
import { UsageError } from "./args.js";

/**
 * The model settings the CLI takes from the environment (src/main/cli.ts hands over the
 * variables; nothing here reads process.env). Command-line options win over the environment.
 */
const num = z.coerce.number();
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), schema.optional());

export const cliModelEnvSchema = z.object({
  MODEL_BASE_URL: optional(z.string()),
  MODEL_NAME: optional(z.string()),
  MODEL_API_KEY: optional(z.string()),
  MODEL_TOOL_PROTOCOL: optional(z.enum(["native", "text"])),
  MODEL_TEMPERATURE: optional(num),
  MODEL_TOP_P: optional(num),
  MODEL_TOP_K: optional(num.int()),
  MODEL_MAX_TOKENS: optional(num.int()),
  MODEL_TIMEOUT_MS: optional(num.int()),
  MODEL_CONTEXT_WINDOW: optional(num.int()),
});

export type CliModelEnv = Readonly<Record<string, string | undefined>>;

export function modelOptionsFrom(env: CliModelEnv, args: FixArgs): ModelClientInput {
  const parsed = cliModelEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  }
  const e = parsed.data;
  const sampling: Record<string, number> = {};
  if (e.MODEL_TEMPERATURE !== undefined) sampling.temperature = e.MODEL_TEMPERATURE;
  if (e.MODEL_TOP_P !== undefined) sampling.top_p = e.MODEL_TOP_P;
  if (e.MODEL_TOP_K !== undefined) sampling.top_k = e.MODEL_TOP_K;
  if (e.MODEL_MAX_TOKENS !== undefined) sampling.max_tokens = e.MODEL_MAX_TOKENS;
  const input: ModelClientInput = {
    baseUrls: args.modelUrls ?? parseBaseUrls(e.MODEL_BASE_URL ?? "http://127.0.0.1:8000/v1"),
    ...(args.model ?? e.MODEL_NAME ? { model: args.model ?? e.MODEL_NAME } : {}),
    ...(e.MODEL_API_KEY ? { apiKey: e.MODEL_API_KEY } : {}),
    protocol: args.protocol ?? e.MODEL_TOOL_PROTOCOL ?? "native",
    sampling,
    ...(e.MODEL_TIMEOUT_MS ? { timeoutMs: e.MODEL_TIMEOUT_MS } : {}),
    ...(e.MODEL_CONTEXT_WINDOW ? { contextWindow: e.MODEL_CONTEXT_WINDOW } : {}),
  };
  // Validate here, so a bad value is a usage error (exit 2) rather than a failure mid-run.
  const check = modelClientOptionsSchema.safeParse(input);
  if (!check.success) {
    throw new UsageError(`model settings: ${check.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return input;
}
