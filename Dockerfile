# syntax=docker/dockerfile:1
#
# faultline agent image: a release build of the faultline CLI with the Swift runtime linked in
# statically, on Debian 12 slim with only the C libraries it loads (libnl-3, libnl-route-3, libcap).
#
#   docker build -t ghcr.io/faultline/faultline:0.1.0 .
#
# Runs as root on purpose: the capabilities Kubernetes adds (NET_ADMIN, and SYS_ADMIN + SYS_PTRACE
# for the DaemonSet) reach only a UID 0 process, since Kubernetes sets no ambient capabilities.
# faultline drops every other capability at start. See deploy/kubernetes/README.md.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnl-3-dev libnl-route-3-dev libcap-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mount keeps fetched dependencies and object files between builds (BuildKit).
RUN --mount=type=cache,target=/src/.build \
    swift build -c release --product faultline --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/faultline" \
      /out/usr/local/bin/faultline \
 && strip /out/usr/local/bin/faultline

FROM ${RUNTIME_IMAGE}
# Only the C libraries faultline loads. No tzdata: time zones come from the ICU data that
# Foundation links into the binary (checked: `faultline validate` resolves Europe/Berlin with
# /usr/share/zoneinfo hidden). libstdc++6, libgcc-s1 and zlib1g are already in bookworm-slim.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnl-3-200 libnl-route-3-200 libcap2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
# hadolint ignore=DL3002
USER 0:0
ENTRYPOINT ["/usr/local/bin/faultline"]
CMD ["--help"]
