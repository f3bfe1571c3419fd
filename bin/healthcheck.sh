#!/bin/sh
# Container health (Docker's HEALTHCHECK; Kubernetes uses its own probes). The role is the last
# argument of PID 1 (tini -- iquest-entrypoint ROLE), so no file needs writing.
#   web:    /healthz on PORT answers 200 (it is 503 while Redis does not answer)
#   worker: /healthz on WORKER_PORT answers 200 (Redis answers, the queue workers run)
#   all:    both
role=$(tr '\0' '\n' < /proc/1/cmdline 2>/dev/null | tail -n 1)
check() {
  node -e "fetch('http://127.0.0.1:'+process.argv[1]+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$1"
}
case "$role" in
  web) check "${PORT:-3000}" ;;
  worker) check "${WORKER_PORT:-9464}" ;;
  *) check "${PORT:-3000}" && { [ -z "${WORKER_PORT}" ] || check "${WORKER_PORT}"; } ;;
esac
