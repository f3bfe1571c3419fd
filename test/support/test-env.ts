import { loadEnv, type Env } from "../../src/config/env.js";
import { testPrivateKey } from "./keys.js";

export const WEBHOOK_SECRET = "webhook-secret-for-tests";

/** A validated Env for integration tests: real parsing, test values, a queue prefix per file. */
export function testEnv(overrides: Record<string, string> = {}): Env {
  return loadEnv({
    APP_ID: "1",
    PRIVATE_KEY: testPrivateKey(),
    WEBHOOK_SECRET,
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    QUEUE_PREFIX: `t${process.pid}${Math.floor(Math.random() * 1e6)}`,
    JOB_BACKOFF_MS: "50",
    ...overrides,
  });
}
