# syntax=docker/dockerfile:1
# just-one-init: a Lease-elected container entrypoint.
#   docker build -t ghcr.io/example/just-one-init:0.1.0 .
# The image holds one file, /usr/local/bin/just-one-init (also at /just-one-init, the
# original tool's path): a single executable with Node, the program, the PID-1 reaper and
# child-init inside. Use this image as a base (ENTRYPOINT runs your CMD as the elected child),
# or copy the file into any glibc image (2.28 or newer, with libstdc++):
#   COPY --from=ghcr.io/example/just-one-init:0.1.0 /usr/local/bin/just-one-init /just-one-init

FROM node:24-bookworm-slim AS build
WORKDIR /src
# python3, make and g++: node-gyp builds the PID-1 reaper addon and child-init in `npm ci`
# (g++ brings libc6-dev, whose libc.a links child-init statically, and binutils, whose strip
# takes Node's debug information out of the executable).
# Unpinned on purpose: they only build two C files, and Debian's point versions rotate.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
# Build against the image's own Node headers when present instead of downloading them.
# The install script swallows a failed native build, so check that both were built.
RUN if [ -f /usr/local/include/node/common.gypi ]; then export npm_config_nodedir=/usr/local; fi \
 && npm ci --no-audit --no-fund \
 && test -f build/Release/reaper.node \
 && test -x build/Release/child-init
COPY scripts/bundle.mjs scripts/build-binary.mjs ./scripts/
COPY scripts/shims ./scripts/shims
COPY src ./src
# The executable is built from the Node that package-lock.json pins (the `node` package),
# not the image's own: the same binary the tests ran.
RUN npm run build:binary && ./dist/just-one-init --version

# Runtime: debian:bookworm-slim, the build stage's Debian (glibc 2.36, libstdc++), so the
# executable runs as tested. Not distroless/cc: this image's ENTRYPOINT runs your command
# as its child, and children want /bin/sh and the usual tools (distroless has no shell,
# and could not run the RUN below). Copied into another image, the file needs none of it.
FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="just-one-init" \
      org.opencontainers.image.description="Run exactly one replica's command, elected through a Kubernetes Lease" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/example/just-one-init"
COPY --from=build /src/dist/just-one-init /usr/local/bin/just-one-init
# A symlink costs nothing (a hard link made here would copy the file into a new layer), and
# COPY --from=<this image> /just-one-init copies the file it points to.
RUN ln -s /usr/local/bin/just-one-init /just-one-init \
 && just-one-init --version
# By number, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 5047
# No tini: just-one-init handles SIGTERM/SIGINT, forwards other signals and reaps orphans itself.
ENTRYPOINT ["/usr/local/bin/just-one-init", "--"]
# A demo child that the image has (perl-base is part of every Debian); replace it with your command.
CMD ["perl", "-MIO::Socket::INET", "-e", "$s = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1) or die qq(listen: $!\\n); while ($c = $s->accept) { <$c>; print $c qq(HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nleader $ENV{POD_NAME}\\n); close $c }"]
