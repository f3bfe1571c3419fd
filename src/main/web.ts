import { StartupError } from "../shared/errors.js";
import { loadRuntime, onShutdown, runMain } from "./runtime.js";
import { startWeb } from "./start-web.js";

/** `npm run start:web`: the webhook receiver alone (scale it separately from workers). */
runMain(async () => {
  const { env, log, models, redact } = loadRuntime("iquest-web");
  if (!env.redis) throw new StartupError("start:web needs REDIS_URL or REDIS_CLUSTER_NODES (the all-in-one `npm start` can run its own Redis)");
  if (!env.APP_ID) throw new StartupError("start:web needs APP_ID, PRIVATE_KEY(_PATH) and WEBHOOK_SECRET; run `npm start` once to register the app");
  const web = await startWeb({ env, log, models, redact, redis: env.redis });
  onShutdown(log, () => web.close());
});
