#!/usr/bin/env bash
# Generate the Kotlin and Swift bindings of paycode-ffi with uniffi-bindgen (library mode).
# Generated code is never edited by hand and not committed (docs/adr/003-generated-bindings.md).
#
# Usage: scripts/gen-bindings.sh [--lib PATH] [--jvm-tests OUT_DIR | --swift-tests]
#   (default)          builds the host debug library (no test features: the shipped interface;
#                      the stripped size-profile library has no uniffi metadata left to read)
#                      and writes the shipped bindings:
#                        android/paycode/src/main/generated/kotlin/io/paycode/paycode.kt
#                        ios/Sources/PayCodeBindings/PayCode.swift
#                        ios/Generated/PayCodeFFI/{PayCodeFFI.h,module.modulemap} (the C side,
#                        packed into the XCFramework's Headers by ios/scripts/build-xcframework.sh)
#                        ios/Generated/PayCodeFFILinux/{PayCodeFFI.h,module.modulemap} (the same
#                        header for Linux's system-library target; its module map links
#                        libpaycode_ffi)
#   --lib PATH         generate from this already-built host library instead of building one
#   --jvm-tests DIR    instead: build the host debug library WITH the `test-issuer` feature and
#                      write desktop-JVM Kotlin bindings (java.lang.ref.Cleaner instead of the
#                      Android cleaner) into DIR; prints the library's directory on stdout.
#   --swift-tests      instead: build the host debug library WITH the `test-issuer` feature and
#                      write the Swift side (the three ios/ paths above) from it, for
#                      `swift test` on Linux (scripts/test-swift.sh); prints the library's
#                      directory on stdout. The Kotlin bindings are not touched.
# Kotlin errors: uniffi 0.32 makes an error's `message` its fields ("found=5") and only
# `toString()` the Rust Display text; every error here exports Display, so the generated
# `message` getters are rewritten to return that text (docs/adr/009-swift-package-and-readable-errors.md).
# Env: CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"

LIB="" JVM_OUT="" SWIFT_TESTS=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lib) LIB="${2:?--lib needs a path}"; shift ;;
    --jvm-tests) JVM_OUT="${2:?--jvm-tests needs a directory}"; shift ;;
    --swift-tests) SWIFT_TESTS=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gen-bindings: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "gen-bindings: $*" >&2; }

# Kotlin: make each error's `message` the Rust Display text (its `toString()`), in the sealed
# error classes that carry the Display override; fail if the generator's shape changed.
kotlin_error_messages() {
  local file="$1"
  perl -0777 -i -pe '
    BEGIN { $main::n = 0 }
    s{(sealed class \w+: kotlin\.Exception\(\).*?companion object ErrorHandler)}{
      my $block = $1;
      if ($block =~ /The local Rust `Display`/) {
        $main::n += ($block =~ s/override val message\n(\s+)get\(\) = "[^\n]*"/override val message\n$1get() = toString()/g);
      }
      $block
    }gse;
    END { print STDERR "gen-bindings: $main::n Kotlin error messages now carry the Display text\n" }
  ' "$file"
  if grep -q 'override val message$' "$file" && grep -A1 'override val message$' "$file" | grep -q 'get() = "'; then
    echo "gen-bindings: an error message in $file is still uniffi's field list" >&2
    exit 1
  fi
}

# Swift: the generated API goes to its own target (Swift 5 mode); the C header goes to the
# XCFramework's Headers (Apple) and to the Linux system-library target.
write_swift() {
  local lib="$1" tmp
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/paycode-swift.XXXXXX")"
  "$BINDGEN" generate --library "$lib" --crate paycode_ffi --language swift --no-format --out-dir "$tmp" >&2
  printf 'module PayCodeFFI {\n    header "PayCodeFFI.h"\n    link "paycode_ffi"\n    export *\n}\n' \
    >"$tmp/linux.modulemap"
  rm -rf ios/Sources/PayCode/Generated
  mkdir -p ios/Sources/PayCodeBindings ios/Generated/PayCodeFFI ios/Generated/PayCodeFFILinux
  # Unchanged files keep their timestamps, so that SwiftPM does not recompile them.
  put() { cmp -s "$1" "$2" || cp "$1" "$2"; }
  local f
  for f in "$tmp"/*.swift; do put "$f" "ios/Sources/PayCodeBindings/${f##*/}"; done
  put "$tmp"/PayCodeFFI.h ios/Generated/PayCodeFFI/PayCodeFFI.h
  put "$tmp"/PayCodeFFI.modulemap ios/Generated/PayCodeFFI/module.modulemap
  put "$tmp"/PayCodeFFI.h ios/Generated/PayCodeFFILinux/PayCodeFFI.h
  put "$tmp"/linux.modulemap ios/Generated/PayCodeFFILinux/module.modulemap
  rm -rf "$tmp"
}

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
  kotlin_error_messages "$JVM_OUT/io/paycode/paycode.kt"
  log "JVM test bindings in $JVM_OUT (from $LIB)"
  dirname "$LIB"
  exit 0
fi

if [[ "$SWIFT_TESTS" == 1 ]]; then
  cargo build -q -p paycode-ffi --features test-issuer --lib >&2
  LIB="$TARGET_DIR/debug/libpaycode_ffi.so"
  write_swift "$LIB"
  log "Swift test bindings in ios/Sources/PayCodeBindings, ios/Generated (from $LIB)"
  dirname "$LIB"
  exit 0
fi

if [[ -z "$LIB" ]]; then
  cargo build -q -p paycode-ffi --lib >&2
  LIB="$TARGET_DIR/debug/libpaycode_ffi.so"
fi
[[ -f "$LIB" ]] || { echo "gen-bindings: no library at $LIB" >&2; exit 1; }

KOTLIN_OUT=android/paycode/src/main/generated/kotlin
rm -rf "$KOTLIN_OUT"
mkdir -p "$KOTLIN_OUT"
"$BINDGEN" generate --library "$LIB" --crate paycode_ffi --language kotlin --no-format --out-dir "$KOTLIN_OUT" >&2
kotlin_error_messages "$KOTLIN_OUT/io/paycode/paycode.kt"
write_swift "$LIB"
log "Kotlin: $KOTLIN_OUT; Swift: ios/Sources/PayCodeBindings, ios/Generated (from $LIB)"
