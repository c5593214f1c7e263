#!/usr/bin/env bash
# Generate the Kotlin and Swift bindings of paycode-ffi with uniffi-bindgen (library mode).
# Generated code is never edited by hand and not committed (docs/adr/003-generated-bindings.md).
#
# Usage: scripts/gen-bindings.sh [--lib PATH] [--jvm-tests OUT_DIR]
#   (default)          builds the host debug library (no test features: the shipped interface;
#                      the stripped size-profile library has no uniffi metadata left to read)
#                      and writes the shipped bindings:
#                        android/paycode/src/main/generated/kotlin/io/paycode/paycode.kt
#                        ios/Sources/PayCode/Generated/PayCode.swift
#                        ios/Generated/PayCodeFFI/{PayCodeFFI.h,module.modulemap} (the C side,
#                        packed into the XCFramework's Headers by ios/scripts/build-xcframework.sh)
#   --lib PATH         generate from this already-built host library instead of building one
#   --jvm-tests DIR    instead: build the host debug library WITH the `test-issuer` feature and
#                      write desktop-JVM Kotlin bindings (java.lang.ref.Cleaner instead of the
#                      Android cleaner) into DIR; prints the library's directory on stdout.
# Env: CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"

LIB="" JVM_OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lib) LIB="${2:?--lib needs a path}"; shift ;;
    --jvm-tests) JVM_OUT="${2:?--jvm-tests needs a directory}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gen-bindings: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "gen-bindings: $*" >&2; }

# The generator: a feature-gated binary of the same crate, so the mobile library never links it.
cargo build -q -p paycode-ffi --features cli --bin uniffi-bindgen --profile bindgen >&2
BINDGEN="$TARGET_DIR/bindgen/uniffi-bindgen"

if [[ -n "$JVM_OUT" ]]; then
  cargo build -q -p paycode-ffi --features test-issuer --lib >&2
  LIB="$TARGET_DIR/debug/libpaycode_ffi.so"
  # Desktop JVM: same bindings, but the Android cleaner (android.os.Build) is not available.
  CONFIG="$(mktemp "${TMPDIR:-/tmp}/paycode-uniffi.XXXXXX.toml")"
  trap 'rm -f "$CONFIG"' EXIT
  printf '[crates.paycode_ffi.bindings.kotlin]\nandroid = false\n' >"$CONFIG"
  rm -rf "$JVM_OUT"
  mkdir -p "$JVM_OUT"
  "$BINDGEN" generate --library "$LIB" --crate paycode_ffi --language kotlin --config "$CONFIG" \
    --no-format --out-dir "$JVM_OUT" >&2
  log "JVM test bindings in $JVM_OUT (from $LIB)"
  dirname "$LIB"
  exit 0
fi

if [[ -z "$LIB" ]]; then
  cargo build -q -p paycode-ffi --lib >&2
  LIB="$TARGET_DIR/debug/libpaycode_ffi.so"
fi
[[ -f "$LIB" ]] || { echo "gen-bindings: no library at $LIB" >&2; exit 1; }

KOTLIN_OUT=android/paycode/src/main/generated/kotlin
SWIFT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/paycode-swift.XXXXXX")"
trap 'rm -rf "$SWIFT_TMP"' EXIT
rm -rf "$KOTLIN_OUT"
mkdir -p "$KOTLIN_OUT"
"$BINDGEN" generate --library "$LIB" --crate paycode_ffi --language kotlin --no-format --out-dir "$KOTLIN_OUT" >&2
"$BINDGEN" generate --library "$LIB" --crate paycode_ffi --language swift --no-format --out-dir "$SWIFT_TMP" >&2

# SwiftPM layout: the Swift API joins the hand-written code in the PayCode target; the C header
# and module map go into the XCFramework (module PayCodeFFI), built on a Mac.
rm -rf ios/Sources/PayCode/Generated ios/Generated
mkdir -p ios/Sources/PayCode/Generated ios/Generated/PayCodeFFI
cp "$SWIFT_TMP"/*.swift ios/Sources/PayCode/Generated/
cp "$SWIFT_TMP"/PayCodeFFI.h ios/Generated/PayCodeFFI/
cp "$SWIFT_TMP"/PayCodeFFI.modulemap ios/Generated/PayCodeFFI/module.modulemap
log "Kotlin: $KOTLIN_OUT; Swift: ios/Sources/PayCode/Generated, ios/Generated/PayCodeFFI (from $LIB)"
