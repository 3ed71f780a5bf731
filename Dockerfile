# syntax=docker/dockerfile:1.7
# linesight for x86-64 (or arm64) CPU boxes: Debian 12, Node.js 22 LTS, Debian's ffmpeg
# (software decode, or VA-API on Intel/AMD GPUs), onnxruntime-node's CPU provider.
# For Jetson (CUDA/TensorRT, NVDEC) use Dockerfile.jetson.
#
#   docker build -t linesight .
#   docker run -d --name linesight --restart unless-stopped --network host \
#     -v /etc/linesight:/etc/linesight:ro -v linesight-data:/var/lib/linesight linesight
#   # VA-API decode (cameras[].hwaccel: vaapi): add --device /dev/dri
#   # the bundled demo instead of /etc/linesight/line.yaml:
#   docker run --rm -p 8080:8080 linesight run --config /opt/linesight/config/default.yaml

# Debian 12 (bookworm) with Node.js 22 LTS from the official Node.js images; pin a
# digest (node:22-bookworm-slim@sha256:…) for byte-for-byte reproducible builds.
ARG NODE_IMAGE=node:22-bookworm-slim

###############################################################################
FROM ${NODE_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
# Toolchain for node-gyp, in case better-sqlite3 has no prebuilt binary for this Node/arch.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# onnxruntime-node: CPU provider only; never download the Linux x64 CUDA/TensorRT
# provider libraries (they need an NVIDIA driver this image does not have).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# Dependencies in their own cached layer; --ignore-scripts because the root
# `prepare` (tsc) needs the source, copied next.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY web ./web
COPY config ./config
COPY models ./models
COPY docs ./docs
COPY systemd ./systemd
COPY test/fixtures/models ./test/fixtures/models
# Dependencies' install scripts (better-sqlite3, sharp), the build, then runtime deps only.
# The TypeScript sources go once built, except the bench's Python scripts, which
# `linesight bench` runs from src/bench (dist/bench resolves them as ../../src/bench/*.py).
RUN npm rebuild \
 && npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -f tsconfig.json tsconfig.build.json \
 && find src -type f ! -path 'src/bench/*.py' -delete \
 && find src -type d -empty -delete
RUN node -e "require('better-sqlite3')(':memory:').close(); require('onnxruntime-node'); console.log('native modules load')"

###############################################################################
FROM ${NODE_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
# VA-API user-space drivers for `hwaccel: vaapi` (Intel: iHD; AMD: radeonsi);
# build with --build-arg VAAPI_DRIVERS= to leave them out.
ARG VAAPI_DRIVERS="intel-media-va-driver mesa-va-drivers"
# ffmpeg decodes the cameras; setpriv (util-linux) ties each ffmpeg to the service
# (bin/ffmpeg-tethered); tini is PID 1 (forwards SIGTERM, reaps orphans).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg util-linux tini ca-certificates ${VAAPI_DRIVERS} \
 && rm -rf /var/lib/apt/lists/* \
 && ffmpeg -hide_banner -version | head -n1
# Non-root service user; video/render own /dev/dri when it is passed in.
RUN groupadd --system --gid 10001 linesight \
 && useradd --system --uid 10001 --gid linesight --groups "video$(getent group render >/dev/null && echo ,render)" \
      --home-dir /var/lib/linesight --no-create-home --shell /usr/sbin/nologin linesight \
 && install -d -m 0750 -o linesight -g linesight /var/lib/linesight \
 && install -d -m 0755 /etc/linesight
COPY --from=build /app /opt/linesight
# A copy of the template; mount the real /etc/linesight over it (read-only).
COPY systemd/line.example.yaml /etc/linesight/line.yaml
ENV NODE_ENV=production \
    HOME=/var/lib/linesight
WORKDIR /var/lib/linesight
USER linesight
# Database, outbox, sync batches.
VOLUME ["/var/lib/linesight"]
# line.yaml and the model; secrets as environment variables (LINESIGHT_MQTT_PASSWORD, …).
VOLUME ["/etc/linesight"]
# Overlay (/healthz, /metrics, operator page); embedded MQTT broker when no mqtt.url is set.
EXPOSE 8080 1883
# 200 while the pipeline is alive, 503 otherwise; LINESIGHT_HEALTH_URL if the overlay
# listens elsewhere than the default 0.0.0.0:8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
  CMD ["node", "-e", "fetch(process.env.LINESIGHT_HEALTH_URL || 'http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/linesight/dist/cli.js"]
CMD ["run", "--config", "/etc/linesight/line.yaml"]
