#!/usr/bin/env bash
# Fresh Debian 12 + Node.js 20 or 22 → the demo line running: run-time packages, npm dependencies, build, start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci   # the CPU provider is bundled; never download CUDA binaries (also in .npmrc)
fi
npm run build
exec npm start
