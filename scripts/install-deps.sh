#!/usr/bin/env bash
# Installs the Debian 12 packages linesight needs at run time (the demo included).
# What the tests and the benchmark need besides is in scripts/install-test-deps.sh.
# Idempotent: packages already present are skipped, and apt-get runs only when
# something is missing, so it is cheap to run before every start. Packages named
# as arguments are installed too (scripts/install-test-deps.sh passes its own).
set -euo pipefail

packages=(
  ffmpeg                                  # camera decode (ingest)
  util-linux                              # setpriv: ties ffmpeg children to the service; chrt: SCHED_BATCH decoders
  systemd                                 # systemd-notify (Type=notify)
  build-essential python3                 # node-gyp builds better-sqlite3 when no prebuilt binary fits
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all Debian packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
