#!/bin/sh
# Chooses the process role from the container command: web, worker or all (default). Anything
# else runs as given (a shell, a one-off node script).
set -e
role="${1:-all}"
case "$role" in
  web) exec node dist/src/main/web.js ;;
  worker) exec node dist/src/main/worker.js ;;
  all) exec node dist/src/main/all.js ;;
  *) exec "$@" ;;
esac
