#!/usr/bin/env bash
# Swift 6.0.3 for Linux: Debian trixie's `swiftlang` in a chroot (the host is Debian bookworm,
# which has no Swift; trixie packages never enter the host system). Idempotent: reuses the chroot
# when its marker exists; after an interrupted set-up (no marker) it starts over.
#
# Usage: ios/scripts/swift-chroot.sh setup          create or reuse; prints the chroot path
#        ios/scripts/swift-chroot.sh run DIR CMD...  run CMD (bash -c string) inside the chroot
#                                                     with the host directory DIR bind-mounted at
#                                                     the same path and /proc mounted; both are
#                                                     unmounted on exit, even on failure
# Env: PAYCODE_SWIFT_CHROOT (default <repo>/.cache/swift-chroot), PAYCODE_DEBIAN_MIRROR (default:
#      the Debian URI apt already uses here). Needs root (debootstrap, mount, chroot).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROOT="${PAYCODE_SWIFT_CHROOT:-$REPO/.cache/swift-chroot}"
MARKER="$ROOT/.paycode-swiftlang-ok"
log() { echo "swift-chroot: $*" >&2; }

# Unmount everything below $ROOT (deepest first). Never delete a chroot with a mount inside:
# a bind-mounted repository would be deleted with it.
unmount_all() {
  local m
  [[ -d "$ROOT" ]] || return 0
  while read -r m; do
    [[ -n "$m" ]] && { umount "$m" 2>/dev/null || umount -l "$m"; }
  done < <(awk -v r="$(realpath "$ROOT")" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

mounts_below() {
  [[ -d "$ROOT" ]] || return 1
  awk -v r="$(realpath "$ROOT")" '$2 == r || index($2, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts
}

setup() {
  # (usr/bin/swift is an absolute symlink: test it as a link, not through the host root.)
  if [[ -f "$MARKER" ]] && [[ -L "$ROOT/usr/bin/swift" || -x "$ROOT/usr/bin/swift" ]]; then
    echo "$ROOT"
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || { log "needs root (debootstrap, mount, chroot)"; exit 2; }
  local started=$SECONDS mirror
  mirror="${PAYCODE_DEBIAN_MIRROR:-$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
  fi
  unmount_all
  if mounts_below; then
    log "something is still mounted below $ROOT: not deleting it"
    exit 1
  fi
  if [[ -e "$ROOT" ]]; then
    log "incomplete chroot at $ROOT (no marker): starting over"
    rm -rf --one-file-system "$ROOT"
  fi
  mkdir -p "$(dirname "$ROOT")"
  log "debootstrap trixie into $ROOT from $mirror"
  debootstrap --variant=minbase trixie "$ROOT" "$mirror" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -20 "$ROOT.debootstrap.log" >&2; exit 1; }
  rm -f "$ROOT.debootstrap.log"
  trap unmount_all EXIT
  trap 'exit 130' INT TERM
  mount -t proc proc "$ROOT/proc"
  log "apt-get install swiftlang (inside the chroot)"
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c 'apt-get update -q && apt-get install -y -q --no-install-recommends swiftlang libc6-dev && apt-get clean' \
    >"$ROOT.apt.log" 2>&1 || { tail -20 "$ROOT.apt.log" >&2; exit 1; }
  rm -f "$ROOT.apt.log"
  chroot "$ROOT" swift --version >&2
  unmount_all
  trap - EXIT
  touch "$MARKER"
  log "ready in $((SECONDS - started)) s"
  echo "$ROOT"
}

run() {
  local dir="${1:?run needs a directory}"; shift
  dir="$(realpath "$dir")"
  setup >/dev/null
  trap unmount_all EXIT
  trap 'exit 130' INT TERM
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mkdir -p "$ROOT$dir"
  mountpoint -q "$ROOT$dir" || mount --bind "$dir" "$ROOT$dir"
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    bash -c "$*"
}

case "${1:-}" in
  setup) setup ;;
  run) shift; run "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
