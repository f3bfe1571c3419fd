#!/bin/sh
# Chooses the process role from the container command: web, worker or all (default).
set -e
role="${1:-all}"
# The HEALTHCHECK runs in a separate process; it reads the role from here.
echo "$role" > /tmp/iquest-role
case "$role" in
  web) exec node dist/src/main/web.js ;;
  worker) exec node dist/src/main/worker.js ;;
  all) exec node dist/src/main/all.js ;;
  *) exec "$@" ;;
esac
