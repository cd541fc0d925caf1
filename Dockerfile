# syntax=docker/dockerfile:1
# OpenFed: build once, run as a non-root user on a slim Node LTS image.
#   docker build -t openfed .
#   docker run -p 8080:8080 -v openfed-data:/var/lib/openfed --stop-timeout 20 \
#     -e OPENFED_CONFIG=/etc/openfed/openfed.yaml -v /etc/openfed:/etc/openfed:ro \
#     -e OPENFED_LDAP_BIND_PASSWORD -e OPENFED_REDIS_URL -e OPENFED_CSRF_SECRET openfed
# With Redis configured the container runs one worker per CPU it may use (server.workers: auto);
# under `--cpus` quotas set server.workers to match, as Node counts cores, not quota.
# --stop-timeout: SIGTERM lets the workers finish requests for server.shutdownGraceMs (10 s by
# default) before they exit; Docker's own default of 10 s would SIGKILL them at the same moment.

FROM node:22-bookworm-slim AS build
# The optional kerberos addon (Windows Integrated Authentication) compiles against MIT GSSAPI:
# headers, a C++ toolchain and node-gyp's python here; only the shared library in the final image.
RUN apt-get update && apt-get install -y --no-install-recommends libkrb5-dev g++ make python3 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own prepare script (npm run build) would run here, before src is
# copied in; the build runs explicitly below instead. The one runtime dependency with an install
# script, kerberos, is built on its own, and must load: npm would let an optional build fail quietly.
RUN npm ci --ignore-scripts && npm rebuild kerberos && node -e "require('kerberos')"
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
# tini as PID 1 reaps zombies and forwards SIGTERM, so graceful shutdown works under any runtime.
# libgssapi-krb5-2: the MIT Kerberos library the kerberos addon loads (a few MB with its deps).
RUN apt-get update && apt-get install -y --no-install-recommends tini libgssapi-krb5-2 \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY views ./views
RUN mkdir -p /var/lib/openfed && chown node:node /var/lib/openfed
# dataDir holds the generated signing key and secrets: mount a volume so they survive restarts.
ENV OPENFED_DATA_DIR=/var/lib/openfed
VOLUME ["/var/lib/openfed"]
USER node
EXPOSE 8080
# /healthz on the public port is answered by a worker: healthy means at least one worker serves.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini signals only its child, the cluster primary, which alone tells every worker to drain and stop
# (and restarts a worker that dies); a signal to the whole group would race the two.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
