# syntax=docker/dockerfile:1
# One image for every role: `docker run IMAGE web|worker|all` (bin/docker-entrypoint.sh).
#   build:   TypeScript → dist/ (needs the dev dependencies)
#   deps:    production dependencies only
#   runtime: Node 20 slim + git, bubblewrap, ripgrep; no compiler, no dev dependencies; non-root
#   full (the default target): runtime + the toolchains repositories' tests need (python3 with
#            pip, venv and poetry; go; cargo and rustc; a JDK with Maven and Gradle; make and a C
#            compiler and Python headers for native extensions; corepack's yarn and pnpm). `--target runtime` builds
#            the Node-only image. docs/DEPLOY.md "Toolchains" lists what each costs.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# git: checkouts and publishing; bubblewrap: the agent's sandbox (needs user namespaces, see
# docs/DEPLOY.md); ripgrep: code search for the agent; tini: PID 1 that forwards SIGTERM so the
# worker can drain; ca-certificates: HTTPS to GitHub and the registries.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap ripgrep ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 WORKER_PORT=9464 DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json app.yml ./
COPY bin/docker-entrypoint.sh /usr/local/bin/iquest-entrypoint
COPY bin/healthcheck.sh bin/drain.mjs ./bin/
# Volumes mounted on these paths inherit their owner, so the non-root user can write there.
RUN mkdir -p /data/runs /data/workspaces && chown -R node:node /data
USER node
VOLUME ["/data"]
# 3000: webhooks, /healthz, /metrics, pages (web, all); 9464: the worker's /healthz and /metrics.
EXPOSE 3000 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/bin/sh", "/app/bin/healthcheck.sh"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/iquest-entrypoint"]
CMD ["all"]

FROM runtime AS full
USER root
# Debian's packages (bookworm): what the sandbox sees under /usr. corepack enable: yarn and pnpm
# shims for repositories that do not pin a version (a pinned one is fetched by corepack at setup).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-pip python3-venv python3-dev python3-poetry \
      golang-go \
      cargo rustc \
      default-jdk-headless maven gradle \
      make gcc g++ libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && corepack enable
USER node
