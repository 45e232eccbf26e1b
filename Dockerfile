# syntax=docker/dockerfile:1
# just-one-init: a Lease-elected container entrypoint.
#   docker build -t ghcr.io/example/just-one-init:0.1.0 .
# Use this image as a base (ENTRYPOINT runs your CMD as the elected child), or copy
# /usr/local/lib/just-one-init/ into your own image with Node 24 and exec
# /usr/local/lib/just-one-init/just-one-init.mjs. Unlike the original Rust tool, the
# single file at /usr/local/bin/just-one-init is not enough on its own: it needs Node
# and the bundle beside it.

FROM node:24-bookworm-slim AS build
WORKDIR /src
# python3, make and g++: node-gyp builds the PID-1 reaper addon (dist/reaper.node) in `npm ci`.
# Unpinned on purpose: they only build one C file, and Debian's point versions rotate.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
# Build against the image's own Node headers when present instead of downloading them.
# The install script swallows a failed addon build, so check that it was built.
RUN if [ -f /usr/local/include/node/common.gypi ]; then export npm_config_nodedir=/usr/local; fi \
 && npm ci --no-audit --no-fund \
 && test -f build/Release/reaper.node
COPY tsconfig.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY scripts/shims ./scripts/shims
COPY src ./src
RUN npm run build && test -f dist/just-one-init.mjs && test -f dist/reaper.node

# Runtime: node:24-bookworm-slim rather than distroless nodejs24. Distroless has no
# /usr/bin/env and no shell, so the bundle's `#!/usr/bin/env node` entry could not be
# /usr/local/bin/just-one-init (nor /just-one-init, the path the original README uses),
# and images built FROM this one could not run shell children or debug with exec.
FROM node:24-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="just-one-init" \
      org.opencontainers.image.description="Run exactly one replica's command, elected through a Kubernetes Lease" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/example/just-one-init"
# All of dist/: the entry, the bundle it imports (main.mjs and its chunks) and the reaper addon.
COPY --from=build /src/dist/ /usr/local/lib/just-one-init/
# Symlinks, not a shell wrapper: the kernel runs env, env execs node, so node itself is
# PID 1 and gets the signals. Node resolves the link, so ./main.mjs is found beside the entry.
RUN ln -s /usr/local/lib/just-one-init/just-one-init.mjs /usr/local/bin/just-one-init \
 && ln -s /usr/local/lib/just-one-init/just-one-init.mjs /just-one-init \
 && just-one-init --version
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 5047
# No tini: just-one-init handles SIGTERM/SIGINT, forwards other signals and reaps orphans itself.
ENTRYPOINT ["/usr/local/bin/just-one-init", "--"]
# A demo child; replace it with your command.
CMD ["node", "-e", "require('node:http').createServer((q, s) => s.end('leader ' + process.env.POD_NAME + '\\n')).listen(8080)"]
