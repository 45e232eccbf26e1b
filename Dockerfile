# syntax=docker/dockerfile:1
# just-one-init: a Lease-elected container entrypoint.
# Build: docker build -t just-one-init .   The image carries Node 24 and the bundle;
# copy /usr/local/bin/just-one-init and /usr/local/lib/just-one-init into your own
# Node 24 image, or use this one as a base.

FROM node:24-bookworm-slim AS build
WORKDIR /src
# python3, make and g++ build the small PID-1 reaper addon during `npm ci`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY native ./native
COPY binding.gyp ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Slim rather than distroless: the launcher below is a shell script, and users'
# exec probes (the original README's curl check) expect a shell in the image.
FROM node:24-bookworm-slim
LABEL org.opencontainers.image.title="just-one-init" \
      org.opencontainers.image.description="Run exactly one replica's command, elected through a Kubernetes Lease" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /src/dist/ /usr/local/lib/just-one-init/
# One path for this image and one for the original README, which copies /just-one-init.
RUN printf '#!/bin/sh\nexec node /usr/local/lib/just-one-init/just-one-init.mjs "$@"\n' > /usr/local/bin/just-one-init \
 && chmod 0755 /usr/local/bin/just-one-init \
 && ln -s /usr/local/bin/just-one-init /just-one-init
USER node
EXPOSE 5047
# No tini: just-one-init handles SIGTERM/SIGINT, forwards the rest and reaps orphans itself.
ENTRYPOINT ["/usr/local/bin/just-one-init", "--"]
CMD ["node", "-e", "setInterval(() => console.log('leader at', new Date().toISOString()), 5000)"]
