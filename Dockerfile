# One image for every role: `docker run IMAGE web|worker|all`.
# Build stage: full dev dependencies to compile TypeScript; runtime stage: production deps only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# git: checkouts and publishing; bubblewrap: the agent's sandbox (needs user namespaces on the
# host, see docs/SECURITY.md); ripgrep: code search for the agent; tini: signal forwarding so
# SIGTERM reaches node and the worker can drain.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap ripgrep ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json app.yml ./
COPY bin/docker-entrypoint.sh /usr/local/bin/iquest-entrypoint
COPY bin/healthcheck.sh ./bin/healthcheck.sh
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# web and all answer /healthz (200 only while Redis answers); the worker role has no HTTP port,
# so for it the check is that the process is alive.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["/bin/sh", "/app/bin/healthcheck.sh"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/iquest-entrypoint"]
CMD ["all"]
