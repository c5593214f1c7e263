#!/usr/bin/env bash
# Build paycode-ffi for phones with the size profile and report the sizes.
#
# Usage: scripts/build-mobile.sh [--host] [--static TARGET]... [--all]
#   --host            the host cdylib (x86_64 Linux here): target/release-mobile/libpaycode_ffi.so
#   --static TARGET   the static library for TARGET (rustup target added if missing), e.g.
#                     aarch64-linux-android, aarch64-apple-ios; no NDK/Xcode linker is needed
#   --all             --host + --static aarch64-linux-android + --static aarch64-apple-ios
#                     (the default)
# Output: one line per artefact: "size: <bytes> <KiB> <path>" (static libraries are also
#   measured after `strip --strip-debug`-equivalent: what an app links in is far smaller, since
#   the app's linker keeps only what is reachable — see docs/PERFORMANCE.md).
# Linking per-ABI .so files (cargo-ndk) is android/scripts/build-android-libs.sh; the
# XCFramework is ios/scripts/build-xcframework.sh (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
PROFILE=release-mobile

HOST=0 STATICS=()
[[ $# -eq 0 ]] && set -- --all
while [[ $# -gt 0 ]]; do
  case "$1" in
    --host) HOST=1 ;;
    --static) STATICS+=("${2:?--static needs a target}"); shift ;;
    --all) HOST=1; STATICS+=(aarch64-linux-android aarch64-apple-ios) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-mobile: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

report() {
  local bytes
  bytes="$(stat -c %s "$1")"
  printf 'size: %s bytes %s KiB %s\n' "$bytes" "$((bytes / 1024))" "${1#"$PWD"/}"
}

if [[ "$HOST" == 1 ]]; then
  cargo build -q -p paycode-ffi --lib --profile "$PROFILE"
  report "$TARGET_DIR/$PROFILE/libpaycode_ffi.so"
fi

for target in ${STATICS[@]+"${STATICS[@]}"}; do
  if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >&2
  fi
  # Only the static library: a cdylib for a phone needs the NDK / Xcode linker.
  cargo rustc -q -p paycode-ffi --lib --profile "$PROFILE" --target "$target" --crate-type staticlib
  report "$TARGET_DIR/$target/$PROFILE/libpaycode_ffi.a"
done
