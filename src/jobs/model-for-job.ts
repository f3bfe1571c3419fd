import { chooseProfile, type ModelProfile, type ModelProfiles, type ModelUse } from "../config/model-profiles.js";
import { checkModelEndpoint, type EndpointHealth } from "../agent/model/health.js";
import type { ModelClientInput } from "../agent/model/options.js";
import type { ModelGate } from "../agent/model/gate.js";
import type { VllmClientDeps } from "../agent/model/vllm-client.js";

/**
 * From an operator's model profile to the agent's model client options. API keys are resolved
 * by the composition root from the environment (profiles name the variable, never the key).
 */
export interface ModelSetup {
  profiles: ModelProfiles;
  /** Profile name → API key, for profiles that need one. */
  apiKeys: ReadonlyMap<string, string>;
  /** Admission for model calls, shared by every worker (src/capacity); absent in the CLI and
   * in tests that do not set it up. */
  gateFor?: (profile: ModelProfile) => ModelGate;
}

/** The model client's dependencies for a profile: `createVllmClient(clientOptionsFor(…), clientDepsFor(setup, profile))`. */
export function clientDepsFor(setup: ModelSetup, profile: ModelProfile): VllmClientDeps {
  const gate = setup.gateFor?.(profile);
  return gate ? { gate } : {};
}

export function clientOptionsFor(
  setup: ModelSetup,
  profile: ModelProfile,
  run: { sessionId?: string; cacheSalt?: string; seed?: number } = {},
): ModelClientInput {
  const apiKey = setup.apiKeys.get(profile.name);
  return {
    baseUrls: profile.baseUrls,
    model: profile.model,
    protocol: profile.protocol,
    sampling: profile.sampling,
    timeoutMs: profile.timeoutMs,
    maxRetries: profile.maxRetries,
    ...(apiKey ? { apiKey } : {}),
    ...(profile.enableThinking !== undefined ? { enableThinking: profile.enableThinking } : {}),
    ...(profile.contextWindow ? { contextWindow: profile.contextWindow } : {}),
    ...(run.sessionId ? { sessionId: run.sessionId } : {}),
    ...(run.cacheSalt ? { cacheSalt: run.cacheSalt } : {}),
    ...(run.seed !== undefined ? { seed: run.seed } : {}),
  };
}

export { chooseProfile };
export type { ModelUse };

export interface ProfileHealth {
  profile: string;
  model: string;
  ok: boolean;
  endpoints: EndpointHealth[];
}

/**
 * Check every profile's endpoints (`/v1/models` lists the model). A profile is up when at least
 * one of its URLs is (the client fails over between them).
 */
export async function checkProfiles(setup: ModelSetup, timeoutMs = 3000): Promise<ProfileHealth[]> {
  return Promise.all(
    [...setup.profiles.profiles.values()].map(async (p) => {
      const endpoints = await Promise.all(
        p.baseUrls.map((u) => checkModelEndpoint(u, p.model, { apiKey: setup.apiKeys.get(p.name), timeoutMs })),
      );
      return { profile: p.name, model: p.model, ok: endpoints.some((e) => e.ok), endpoints };
    }),
  );
}

/** The message a job card shows when its profile is down: names the profile and the model. */
export function unavailableMessage(profile: ModelProfile, detail: string): string {
  // Whether and when the job is retried is the queue's to say (run-job.ts adds it to the card).
  return `The model for this job is unavailable: profile \`${profile.name}\` (\`${profile.model}\` at ${profile.baseUrls.join(", ")}): ${detail.replace(/\.\s*$/, "")}. Nothing else was tried: iquest-bot never falls back to another model on its own. An operator can check the model server.`;
}
