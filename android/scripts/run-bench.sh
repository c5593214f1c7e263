#!/usr/bin/env bash
# Kotlin benchmark: median cost of `wallet.current()` vs a no-op uniffi call, through JNA on the
# host JVM, against the size-profile library built with the test issuer (to have a provisioned
# wallet without a server). Figures go to docs/PERFORMANCE.md.
#
# Usage: android/scripts/run-bench.sh [CALLS_PER_KIND]   (default 200000)
# Env: PAYCODE_CACHE (toolchain cache, see jvm-toolchain.sh), CARGO_TARGET_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
BENCH_TARGET="${CARGO_TARGET_DIR:-$REPO/target}/bench"
eval "$(android/scripts/jvm-toolchain.sh --quiet)"

# Same profile as shipped (opt-level z, LTO), plus the test issuer; its own target dir so the
# shipped build is not overwritten.
CARGO_TARGET_DIR="$BENCH_TARGET" cargo build -q -p paycode-ffi --lib --profile release-mobile --features test-issuer
LIB_DIR="$BENCH_TARGET/release-mobile"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/paycode-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# The metadata-bearing debug build gives the bindings (same interface as LIB_DIR's library).
scripts/gen-bindings.sh --jvm-tests "$WORK/src" >/dev/null
JAVA_OPTS="${KOTLINC_JAVA_OPTS:--Xmx2g -Xss4m}" "$KOTLINC" -nowarn -jvm-target 17 -no-reflect \
  -cp "$PAYCODE_JVM_TEST_CLASSPATH" -d "$WORK/classes" "$WORK/src" android/bench/kotlin
java -Djna.library.path="$LIB_DIR" -Djna.nosys=true -cp "$WORK/classes:$PAYCODE_JVM_TEST_CLASSPATH" \
  io.paycode.bench.CurrentBenchKt "${1:-200000}"
