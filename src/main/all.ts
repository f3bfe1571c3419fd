import { run } from "probot";
import { StartupError } from "../shared/errors.js";
import { startLocalRedis, type LocalRedis } from "./local-redis.js";
import { loadRuntime, onShutdown, runMain } from "./runtime.js";
import { startWeb } from "./start-web.js";
import { startWorker } from "./start-worker.js";

/**
 * `npm start`: web and worker in one process, for one machine. Without REDIS_URL it runs its own
 * redis-server under .data/. Without APP_ID it serves Probot's setup page, which registers the
 * GitHub App from app.yml and writes the credentials to .env; restart afterwards.
 */
runMain(async () => {
  const { env, log, redact, models, network } = loadRuntime("iquest-bot");
  if (!env.APP_ID) {
    if (env.NODE_ENV === "production") {
      throw new StartupError("APP_ID is not set. In production, register the app first and set APP_ID, PRIVATE_KEY(_PATH) and WEBHOOK_SECRET.");
    }
    log.warn(
      { port: env.PORT },
      `No APP_ID: setup mode. Open http://${env.HOST}:${env.PORT}/ to register the GitHub App from app.yml, then restart.`,
    );
    await run(() => {}, { env: { ...process.env, NO_SMEE_SETUP: process.env.NO_SMEE_SETUP ?? "true" } });
    return;
  }
  let local: LocalRedis | undefined;
  const redis = env.redis ?? (local = await startLocalRedis(env.DATA_DIR, log)).url;
  try {
    const worker = await startWorker({ env, log, redact, models, network, redis });
    const web = await startWeb({ env, log, models, redact, redis });
    onShutdown(log, async () => {
      await web.close(); // stop intake first
      await worker.close();
      await local?.stop();
    });
  } catch (err) {
    await local?.stop();
    throw err;
  }
});
