import { existsSync, readFileSync } from "node:fs";
import { loadEnv, secretsOf, type Env } from "../config/env.js";
import { loadModelProfiles } from "../config/model-profiles.js";
import type { ModelSetup } from "../jobs/model-for-job.js";
import { StartupError } from "../shared/errors.js";
import { createLogger, type Logger } from "../shared/log.js";
import { createRedactor, type Redact } from "../shared/redact.js";
import { redactProxy } from "../shared/proxy.js";
import { setUpNetwork, type NetworkSetup } from "./network.js";

/** What every process role shares: the validated env, the redactor and the logger. */
export interface Runtime {
  env: Env;
  redact: Redact;
  log: Logger;
  models: ModelSetup;
  /** Proxy and CA settings, already applied to this process's fetch (network.ts). */
  network: NetworkSetup;
}

/**
 * Read `.env` (written by Probot's setup page) without overriding real environment variables,
 * then validate. This and the other files in src/main are the only readers of process.env.
 */
export function loadRuntime(name: string): Runtime {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const env = loadEnv(process.env);
  const models = loadModels(env, process.env);
  const redact = createRedactor([...secretsOf(env), ...models.apiKeys.values()]);
  const log = createLogger({ level: env.LOG_LEVEL, redact, name });
  const network = setUpNetwork(env);
  if (network.proxy.http || network.proxy.https) {
    log.info({ httpProxy: network.proxy.http && redactProxy(network.proxy.http), httpsProxy: network.proxy.https && redactProxy(network.proxy.https), noProxy: network.proxy.noProxy }, "outbound calls go through the proxy");
  }
  return { env, redact, log, models, network };
}

/** Model profiles from MODEL_* and MODEL_PROFILES_FILE, with each profile's key from its env variable. */
export function loadModels(env: Env, source: Record<string, string | undefined>): ModelSetup {
  let file: { path: string; text: string } | undefined;
  if (env.MODEL_PROFILES_FILE) {
    try {
      file = { path: env.MODEL_PROFILES_FILE, text: readFileSync(env.MODEL_PROFILES_FILE, "utf8") };
    } catch (err) {
      throw new StartupError(`MODEL_PROFILES_FILE=${env.MODEL_PROFILES_FILE} cannot be read: ${(err as Error).message}`);
    }
  }
  const profiles = loadModelProfiles(source, file);
  const apiKeys = new Map<string, string>();
  for (const p of profiles.profiles.values()) {
    if (!p.apiKeyEnv) continue;
    const key = source[p.apiKeyEnv];
    if (!key) throw new StartupError(`model profile "${p.name}" takes its API key from ${p.apiKeyEnv}, which is not set`);
    apiKeys.set(p.name, key);
  }
  return { profiles, apiKeys };
}

/** Run a process entry point: a StartupError prints its message and exits 1, without a stack. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err) => {
    if (err instanceof StartupError) {
      process.stderr.write(`iquest-bot: ${err.message}\n`);
    } else {
      process.stderr.write(`iquest-bot: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exit(1);
  });
}

/** Call `stop` once on SIGTERM or SIGINT, then exit. A second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}
