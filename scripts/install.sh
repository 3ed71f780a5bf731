#!/usr/bin/env bash
# Installs, upgrades or rolls back linesight as a systemd service on one line's box
# (Debian/Ubuntu x86-64, or a Jetson with JetPack 6). Run it as root from a
# linesight source tree or unpacked release; see docs/operations.md.
#
#   scripts/install.sh [--config FILE] [--prebuilt] [--onnxruntime DIR] [--no-start] [--no-wait]
#   scripts/install.sh --rollback
#
# Layout (versioned releases, one symlink switched atomically):
#   /opt/linesight/releases/<version>-<commit>-<UTC time>/   one complete, read-only release
#   /opt/linesight/current  -> releases/…                   what the service runs
#   /opt/linesight/previous -> releases/…                   what --rollback returns to
#   /opt/linesight/models/                                  ONNX models, kept across releases
#   /etc/linesight/line.yaml, linesight.env                 configuration and secrets (kept)
#   /var/lib/linesight/                                     database, engine cache, backups (kept)
#
# Idempotent: the user, groups, configuration and secrets are created only when
# missing; every run installs a fresh release and switches to it only after the
# configuration validated with the new code; a failed start switches back.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Overridable for tests and unusual layouts; the unit file is rewritten to match.
PREFIX=${LINESIGHT_PREFIX:-/opt/linesight}
ETC=${LINESIGHT_ETC:-/etc/linesight}
UNIT_DIR=${LINESIGHT_UNIT_DIR:-/etc/systemd/system}
STATE_DIR=${LINESIGHT_STATE_DIR:-/var/lib/linesight}
SVC_USER=${LINESIGHT_USER:-linesight}
NODE=${LINESIGHT_NODE:-/usr/bin/node}
UNIT=linesight.service

mode=install
config_src=""
ort_dir=""
prebuilt=0
start=1
wait_ready=1
use_systemd=1
manage_user=1
backup=1
keep=3

log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --config FILE       install FILE as /etc/linesight/line.yaml (the old one is kept as line.yaml.bak-…)
  --prebuilt          copy this tree's dist/ and node_modules/ as they are instead of running npm ci
                      (offline installs; build them on the same OS/arch, then npm prune --omit=dev)
  --onnxruntime DIR   replace onnxruntime-node/-common with DIR/node and DIR/common (the TensorRT/CUDA
                      build from Dockerfile.jetson: docker build --target ort-js --output DIR -f Dockerfile.jetson .)
  --no-start          install and enable, but do not (re)start the service
  --no-wait           restart without waiting for READY=1 (and without automatic switch-back)
  --no-backup         skip the pre-upgrade online backup of the database
  --keep N            releases kept besides current and previous (default 3)
  --no-systemd        do not touch systemd (no daemon-reload, enable or start): images, tests
  --no-user           do not create the service user or change its groups
  --rollback          switch current and previous, restart
EOF
}

while (($#)); do
  case "$1" in
    --config) config_src=${2:?--config needs a file}; shift ;;
    --onnxruntime) ort_dir=${2:?--onnxruntime needs a directory}; shift ;;
    --prebuilt) prebuilt=1 ;;
    --no-start) start=0 ;;
    --no-wait) wait_ready=0 ;;
    --no-backup) backup=0 ;;
    --keep) keep=${2:?--keep needs a number}; shift ;;
    --no-systemd) use_systemd=0; start=0 ;;
    --no-user) manage_user=0 ;;
    --rollback) mode=rollback ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

[[ $(id -u) -eq 0 ]] || die "run as root (it creates a system user and writes to $PREFIX, $ETC and $UNIT_DIR)"
[[ $keep =~ ^[0-9]+$ ]] || die "--keep expects a number, got $keep"

# --- checks ------------------------------------------------------------------

check_prerequisites() {
  [[ -x $NODE ]] || die "expected Node.js 20+ at $NODE (the unit runs it from there); install nodejs or set LINESIGHT_NODE"
  local major
  major=$("$NODE" -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "expected Node.js 20 or newer at $NODE, found $("$NODE" --version)"
  command -v ffmpeg >/dev/null || die "ffmpeg is missing (Debian/Ubuntu: apt-get install ffmpeg; Jetson: NVIDIA's build, docs/operations.md)"
  command -v runuser >/dev/null || die "runuser (util-linux) is missing"
  command -v setpriv >/dev/null || log "warning: setpriv (util-linux) is missing: ffmpeg children will not die with the service"
  if ((use_systemd)); then
    command -v systemctl >/dev/null || die "systemctl not found: this script installs a systemd service (use --no-systemd to only lay out files)"
    # Type=notify: without systemd-notify READY=1 never arrives and every start times out.
    command -v systemd-notify >/dev/null || die "systemd-notify is missing (apt-get install systemd)"
  fi
  if [[ $mode == install && $prebuilt -eq 0 ]]; then
    command -v npm >/dev/null || die "npm is missing (it comes with Node.js); or build elsewhere and use --prebuilt"
  fi
}

# --- user, groups, directories -----------------------------------------------

ensure_user() {
  ((manage_user)) || return 0
  if ! getent passwd "$SVC_USER" >/dev/null; then
    log "creating system user $SVC_USER (home $STATE_DIR, no login)"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "linesight defect detection" "$SVC_USER"
  fi
  # GPU/NVDEC nodes (/dev/nvhost-*, /dev/nvmap, /dev/nvgpu/*) belong to video on
  # Jetson; VA-API render nodes to render. systemd applies these groups at start.
  local g
  for g in video render; do
    if getent group "$g" >/dev/null && ! id -nG "$SVC_USER" | tr ' ' '\n' | grep -qx "$g"; then
      log "adding $SVC_USER to group $g"
      usermod -aG "$g" "$SVC_USER"
    fi
  done
}

ensure_dirs() {
  install -d -m 0755 -o root -g root "$PREFIX" "$PREFIX/releases" "$PREFIX/models"
  # Config and secrets: root writes, the service group reads, nobody else.
  install -d -m 0750 -o root -g "$SVC_USER" "$ETC"
  # systemd creates and chowns the state directory itself (StateDirectory=); this
  # is for the pre-upgrade backup and for --no-systemd layouts.
  install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" "$STATE_DIR"
}

# --- building a release --------------------------------------------------------

release_name() {
  local version sha stamp name n=1
  version=$("$NODE" -p "require('$SRC/package.json').version")
  sha=$(git -C "$SRC" rev-parse --short=10 HEAD 2>/dev/null || true)
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  name="$version${sha:+-$sha}-$stamp"
  while [[ -e $PREFIX/releases/$name ]]; do name="$version${sha:+-$sha}-$stamp-$((++n))"; done
  printf '%s' "$name"
}

stage_release() {
  local name=$1 staging="$PREFIX/releases/.staging-$1" item
  rm -rf "$staging"
  mkdir -p "$staging"
  for item in package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json bin src web models config docs systemd scripts; do
    if [[ -e $SRC/$item ]]; then cp -a "$SRC/$item" "$staging/"; fi
  done
  if ((prebuilt)); then
    # Taken as they are, without running npm (offline installs): prepare them with
    # npm ci && npm run build && npm prune --omit=dev on the same OS and architecture.
    [[ -f $SRC/dist/cli.js && -d $SRC/node_modules ]] \
      || die "--prebuilt expects $SRC/dist/cli.js and $SRC/node_modules (npm ci && npm run build && npm prune --omit=dev first)"
    log "copying the prebuilt dist/ and node_modules/"
    cp -a "$SRC/dist" "$SRC/node_modules" "$staging/"
  else
    log "npm ci (builds dist/ through the prepare script); needs the npm registry"
    (cd "$staging" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund)
    # Runtime only: no compiler, test runner or browser in the installed release.
    # --ignore-scripts: pruning must never rebuild native modules (npm ci just built them).
    (cd "$staging" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund)
  fi
  if [[ -n $ort_dir ]]; then
    [[ -f $ort_dir/node/package.json && -f $ort_dir/common/package.json ]] \
      || die "--onnxruntime expects DIR/node and DIR/common (onnxruntime-node and onnxruntime-common packages)"
    log "installing onnxruntime from $ort_dir ($("$NODE" -p "require('$ort_dir/node/package.json').version"))"
    # JS and native binding must come from the same onnxruntime build, so both
    # packages are replaced whole rather than just the .node file.
    rm -rf "$staging/node_modules/onnxruntime-node" "$staging/node_modules/onnxruntime-common"
    cp -a "$ort_dir/node" "$staging/node_modules/onnxruntime-node"
    cp -a "$ort_dir/common" "$staging/node_modules/onnxruntime-common"
  fi
  [[ -f $staging/dist/cli.js ]] || die "the build produced no dist/cli.js"
  # Code is root's: the service can read and run it, never modify it.
  chown -R root:root "$staging"
  chmod -R u+rwX,go+rX,go-w "$staging"
  mv -T "$staging" "$PREFIX/releases/$name"
}

# --- configuration ---------------------------------------------------------------

config_is_template=0

install_config() {
  local target="$ETC/line.yaml"
  if [[ -n $config_src ]]; then
    [[ -f $config_src ]] || die "--config: no such file $config_src"
    if [[ -e $target ]] && ! cmp -s "$config_src" "$target"; then
      cp -a "$target" "$target.bak-$(date -u +%Y%m%dT%H%M%SZ)"
      log "previous configuration kept as $target.bak-…"
    fi
    install -m 0640 -o root -g "$SVC_USER" "$config_src" "$target"
  elif [[ ! -e $target ]]; then
    install -m 0640 -o root -g "$SVC_USER" "$SRC/systemd/line.example.yaml" "$target"
    config_is_template=1
    log "no configuration yet: installed the template $target — edit it, then run this script again"
  fi
  if [[ ! -e $ETC/linesight.env ]]; then
    install -m 0640 -o root -g "$SVC_USER" "$SRC/systemd/linesight.env.example" "$ETC/linesight.env"
  fi
}

validate_config() {
  local rel=$1
  log "validating $ETC/line.yaml with the new release, as $SVC_USER"
  if ! runuser -u "$SVC_USER" -- "$NODE" "$rel/dist/cli.js" check-config "$ETC/line.yaml"; then
    rm -rf "$rel"
    die "the configuration does not validate with the new release (nothing was switched; the running service is untouched)"
  fi
}

# Online backup through SQLite's backup API (better-sqlite3's db.backup()): safe
# while the service writes; copying a live WAL database with cp is not.
backup_database() {
  local rel=$1 dest
  ((backup)) || return 0
  [[ -L $PREFIX/current ]] || return 0 # first install: nothing to protect
  install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" "$STATE_DIR/backups"
  dest="$STATE_DIR/backups/pre-upgrade-$(basename "$(readlink "$PREFIX/current")")-$(date -u +%Y%m%dT%H%M%SZ).db"
  log "backing up the database before switching releases"
  # shellcheck disable=SC2016 # the single-quoted text is JavaScript, not shell
  runuser -u "$SVC_USER" -- "$NODE" --input-type=module -e '
    import { createRequire } from "node:module";
    import { existsSync } from "node:fs";
    const [rel, configFile, dest] = process.argv.slice(1);
    const { loadConfig } = await import(`${rel}/dist/config/load.js`);
    const db = loadConfig(configFile).store.path;
    if (!existsSync(db)) { console.log(`install: no database at ${db} yet; nothing to back up`); process.exit(0); }
    const Database = createRequire(`${rel}/package.json`)("better-sqlite3");
    const conn = new Database(db, { fileMustExist: true });
    await conn.backup(dest);
    conn.close();
    console.log(`install: ${db} backed up to ${dest}`);
  ' "$rel" "$ETC/line.yaml" "$dest" || die "database backup failed (use --no-backup to upgrade anyway)"
  # Keep the five most recent pre-upgrade backups.
  find "$STATE_DIR/backups" -maxdepth 1 -name 'pre-upgrade-*.db' -printf '%T@ %p\n' | sort -rn | tail -n +6 | cut -d' ' -f2- | xargs -r rm -f --
}

# --- switching -------------------------------------------------------------------

# Atomic symlink replacement: rename(2) over the old link, never a window without one.
set_link() {
  ln -sfn "$2" "$PREFIX/.$1.new"
  mv -Tf "$PREFIX/.$1.new" "$PREFIX/$1"
}

link_target() { if [[ -L $PREFIX/$1 ]]; then readlink "$PREFIX/$1"; fi; }

install_unit() {
  local rel=$1
  install -d -m 0755 "$UNIT_DIR"
  # The unit names the default paths; rewrite them when this install uses others.
  sed -e "s#/opt/linesight#$PREFIX#g" -e "s#/etc/linesight#$ETC#g" -e "s#^User=linesight\$#User=$SVC_USER#" \
    -e "s#^Group=linesight\$#Group=$SVC_USER#" -e "s#^ExecStart=/usr/bin/node #ExecStart=$NODE #" \
    "$rel/systemd/$UNIT" >"$UNIT_DIR/.$UNIT.new"
  chmod 0644 "$UNIT_DIR/.$UNIT.new"
  mv -f "$UNIT_DIR/.$UNIT.new" "$UNIT_DIR/$UNIT"
  if ((use_systemd)); then systemctl daemon-reload; fi
}

restart_service() {
  ((use_systemd)) || return 0
  systemctl enable "$UNIT" >/dev/null
  if ((!start)); then
    log "installed and enabled; not started (--no-start)"
    return 0
  fi
  if ((!wait_ready)); then
    systemctl restart --no-block "$UNIT"
    log "restart requested (not waiting for READY=1): journalctl -u linesight -f"
    return 0
  fi
  log "restarting and waiting for READY=1 (the first start on a Jetson builds the TensorRT engine: minutes)"
  systemctl restart "$UNIT"
}

prune_releases() {
  local cur prev dir n=0
  cur=$(link_target current)
  prev=$(link_target previous)
  while IFS= read -r dir; do
    [[ -n $dir ]] || continue
    if [[ releases/$(basename "$dir") == "$cur" || releases/$(basename "$dir") == "$prev" ]]; then continue; fi
    if ((++n > keep)); then
      log "removing old release $(basename "$dir")"
      rm -rf -- "$dir"
    fi
  done < <(find "$PREFIX/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.staging-*' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
}

# --- modes -----------------------------------------------------------------------

do_install() {
  check_prerequisites
  ensure_user
  ensure_dirs
  install_config
  local name rel old
  name=$(release_name)
  rel="$PREFIX/releases/$name"
  log "building release $name"
  stage_release "$name"
  if ((config_is_template)); then
    set_link current "releases/$name"
    install_unit "$rel"
    if ((use_systemd)); then systemctl enable "$UNIT" >/dev/null; fi
    log "release $name installed; the service is enabled but not started until $ETC/line.yaml is edited"
    log "next: edit $ETC/line.yaml and $ETC/linesight.env, put the model in $PREFIX/models/, run: $0"
    return 0
  fi
  validate_config "$rel"
  backup_database "$rel"
  old=$(link_target current)
  set_link current "releases/$name"
  if [[ -n $old && $old != "releases/$name" ]]; then set_link previous "$old"; fi
  install_unit "$rel"
  if ! restart_service; then
    if [[ -n $old ]]; then
      log "the new release did not start; switching back to $old"
      set_link current "$old"
      set_link previous "releases/$name"
      install_unit "$PREFIX/$old"
      systemctl restart "$UNIT" || true
      die "upgrade to $name failed and was rolled back to $old; see journalctl -u linesight -b"
    fi
    die "linesight did not start; see journalctl -u linesight -b and systemctl status linesight"
  fi
  prune_releases
  log "linesight $name is current${old:+ (previous: ${old#releases/})}"
}

do_rollback() {
  local cur prev
  cur=$(link_target current)
  prev=$(link_target previous)
  [[ -n $prev && -d $PREFIX/$prev ]] || die "no previous release to roll back to"
  log "rolling back from ${cur#releases/} to ${prev#releases/}"
  set_link current "$prev"
  if [[ -n $cur ]]; then set_link previous "$cur"; fi
  install_unit "$PREFIX/$prev"
  restart_service || die "the previous release did not start either; see journalctl -u linesight -b"
  log "current: ${prev#releases/}. If the newer release migrated the database, restore the pre-upgrade backup from $STATE_DIR/backups (docs/operations.md)"
}

case $mode in
  install) do_install ;;
  rollback) do_rollback ;;
esac
