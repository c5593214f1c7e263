#!/usr/bin/env bash
# Everything of the mobile libraries that can be built or run on a Linux machine without the
# Android SDK or Xcode. Installs what it needs (rustup targets, kotlinc/JNA/JUnit/Robolectric/
# android-all via android/scripts/jvm-toolchain.sh). Exits non-zero on any failure. The Swift
# package is compiled and tested by scripts/test-swift.sh (a real Swift compiler).
#
#   1. Rust: the foreign-trait contract tests of paycode-ffi (with the test issuer)
#   2. Kotlin/JVM: the generated bindings + PayCodeWallet facade + tests, against the REAL
#      host-built library through JNA (provisioning via the in-process test issuer, vectors,
#      every event, errors, threads, listeners)
#   3. Kotlin/Robolectric: lifecycle, screenshot/recording guard and keystore-store wiring
#   4. Android sources (hand-written + generated) compiled against android-all
#   5. Static libraries for aarch64-linux-android and aarch64-apple-ios (platform-gated code
#      compiles; linking a phone cdylib needs the NDK/Xcode, see docs/INTEGRATION.md)
#
# Usage: scripts/test-mobile.sh
# Env: PAYCODE_CACHE (toolchain cache, default target/toolchain), CARGO_TARGET_DIR,
#      PAYCODE_CROSS_PROFILE (profile of the static libraries, default release-mobile: what
#      ships, and shared with scripts/build-mobile.sh, which reports the sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
WORK="$TARGET_DIR/mobile-tests"
CROSS_PROFILE="${PAYCODE_CROSS_PROFILE:-release-mobile}"
STARTED=$SECONDS

step() { printf '\n==> [%ss] %s\n' "$((SECONDS - STARTED))" "$*"; }
rm -rf "$WORK"
mkdir -p "$WORK"

step "Rust: paycode-ffi contract tests (foreign traits implemented in Rust, test issuer)"
cargo test -p paycode-ffi --features test-issuer

step "Kotlin/JVM: bindings + facade + tests against the host library (JNA)"
LIB_DIR="$(scripts/gen-bindings.sh --jvm-tests "$WORK/jvm-src")"
# The facade is plain Kotlin (no android.*): tested here with the desktop-flavoured bindings.
cp android/paycode/src/main/kotlin/io/paycode/*.kt "$WORK/jvm-src/io/paycode/"
PAYCODE_JVM_OPTS="${PAYCODE_JVM_OPTS:-} -Dpaycode.vectors=$REPO/docs/test-vectors.json" \
  RUST_BACKTRACE=0 android/scripts/run-jvm-tests.sh "$WORK/jvm-src" android/paycode/src/test/kotlin "$LIB_DIR"

step "Shipped bindings (Kotlin for Android, Swift for iOS)"
scripts/gen-bindings.sh

step "Kotlin/Robolectric: Android wiring (lifecycle, capture guard, keystore store)"
mkdir -p "$WORK/android-src"
cp -r android/paycode/src/main/generated/kotlin/. android/paycode/src/main/kotlin/. \
  android/scripts/compile-stubs/. "$WORK/android-src/"
android/scripts/run-jvm-tests.sh --robolectric "$WORK/android-src" android/paycode/src/testRobolectric/kotlin "$LIB_DIR"

step "Android sources compiled against android-all"
android/scripts/compile-android-sources.sh android/paycode/src/main/kotlin \
  android/paycode/src/main/generated/kotlin android/scripts/compile-stubs

step "Static libraries: aarch64-linux-android, aarch64-apple-ios (profile $CROSS_PROFILE)"
for target in aarch64-linux-android aarch64-apple-ios; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  cargo rustc -q -p paycode-ffi --lib --profile "$CROSS_PROFILE" --target "$target" --crate-type staticlib
  profile_dir="$CROSS_PROFILE"
  [[ "$CROSS_PROFILE" == dev ]] && profile_dir=debug
  ls -l "$TARGET_DIR/$target/$profile_dir/libpaycode_ffi.a"
done

step "Mobile: all passed in $((SECONDS - STARTED)) s"
