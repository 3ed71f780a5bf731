#!/usr/bin/env bash
# The whole check, as CI runs it: Debian packages the tests use (skipped when
# present), npm dependencies when missing or stale, the type check (tests
# included), the linter, then the test suite. Extra arguments go to vitest
# (e.g. scripts/test.sh test/unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci   # the CPU provider is bundled; never download CUDA binaries (also in .npmrc)
fi
npm run typecheck
npm run lint
npx vitest run "$@"
