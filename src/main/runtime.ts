import { existsSync } from "node:fs";
import { loadEnv, secretsOf, type Env } from "../config/env.js";
import { StartupError } from "../shared/errors.js";
import { createLogger, type Logger } from "../shared/log.js";
import { createRedactor, type Redact } from "../shared/redact.js";

/** What every process role shares: the validated env, the redactor and the logger. */
export interface Runtime {
  env: Env;
  redact: Redact;
  log: Logger;
}

/**
 * Read `.env` (written by Probot's setup page) without overriding real environment variables,
 * then validate. This and the other files in src/main are the only readers of process.env.
 */
export function loadRuntime(name: string): Runtime {
  if (existsSync(".env")) process.loadEnvFile(".env");
  const env = loadEnv(process.env);
  const redact = createRedactor(secretsOf(env));
  const log = createLogger({ level: env.LOG_LEVEL, redact, name });
  return { env, redact, log };
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
