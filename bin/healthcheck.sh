#!/bin/sh
# Container health: web and all must answer /healthz with 200; a worker must be running.
if [ "$(cat /tmp/iquest-role 2>/dev/null)" = "worker" ]; then
  kill -0 1
else
  node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
fi
