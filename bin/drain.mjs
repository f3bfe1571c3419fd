// Kubernetes preStop hook of the worker: stop taking jobs now and wait until the running ones
// finish, so that the SIGTERM the kubelet sends after this hook finds nothing left to hand back.
// Bounded: after DRAIN_SECONDS (argv[2], default 3600) it returns anyway, and the worker's own
// SIGTERM handling aborts what is left and hands it back to the queue within SHUTDOWN_GRACE_MS.
const port = process.env.WORKER_PORT || "9464";
const url = `http://127.0.0.1:${port}/drain`;
const until = Date.now() + Number(process.argv[2] || 3600) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
try {
  await fetch(url, { method: "POST", signal: AbortSignal.timeout(5000) });
} catch {
  process.exit(0); // no worker port: nothing to drain here; SIGTERM does the rest
}
while (Date.now() < until) {
  const state = await fetch(url, { signal: AbortSignal.timeout(5000) })
    .then((r) => r.json())
    .catch(() => ({ done: true }));
  if (state.done) break;
  await sleep(5000);
}
