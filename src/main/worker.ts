import { setPriority } from "node:os";
import { StartupError } from "../shared/errors.js";
import { loadRuntime, onShutdown, runMain } from "./runtime.js";
import { startWorker } from "./start-worker.js";

/** `npm run start:worker`: job workers alone. SIGTERM drains within SHUTDOWN_GRACE_MS. */
runMain(async () => {
  const { env, log, redact, models, network } = loadRuntime("iquest-worker");
  if (!env.redis) throw new StartupError("start:worker needs REDIS_URL or REDIS_CLUSTER_NODES");
  if (!env.APP_ID) throw new StartupError("start:worker needs APP_ID and PRIVATE_KEY(_PATH)");
  try {
    // The main thread, which runs the jobs' JavaScript and spawns their processes.
    setPriority(env.WORKER_NICENESS);
  } catch (err) {
    log.warn({ err, niceness: env.WORKER_NICENESS }, "could not lower the worker's priority; jobs compete with the web process as equals");
  }
  const worker = await startWorker({ env, log, redact, models, network, redis: env.redis });
  onShutdown(log, () => worker.close());
});
