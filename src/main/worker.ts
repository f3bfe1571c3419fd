import { spawnSync } from "node:child_process";
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
  if (env.WORKER_CPU_POLICY === "idle") {
    // Every thread of this process; what it spawns later inherits the policy.
    const r = spawnSync("chrt", ["--idle", "--all-tasks", "--pid", "0", String(process.pid)], { encoding: "utf8" });
    if (r.status !== 0) log.warn({ stderr: r.stderr?.trim() ?? String(r.error) }, "WORKER_CPU_POLICY=idle could not be applied (chrt); staying at WORKER_NICENESS");
    else log.info("worker runs under SCHED_IDLE: jobs use only the CPU nothing else wants");
  }
  const worker = await startWorker({ env, log, redact, models, network, redis: env.redis });
  onShutdown(log, () => worker.close());
});
