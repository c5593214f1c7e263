#!/usr/bin/env bash
# The Swift package, compiled and tested for real on Linux (docs/INTEGRATION.md, ios/README.md):
#   1. Swift 6.0.3 (Debian trixie's `swiftlang`) in a chroot under .cache/ — set up once, then
#      reused (ios/scripts/swift-chroot.sh; needs root, like the rest of this repository's test
#      command)
#   2. the host library WITH the test issuer, and its Swift bindings (scripts/gen-bindings.sh
#      --swift-tests)
#   3. `swift build` of the package (bindings in Swift 5 mode, the hand-written layer in Swift 6
#      mode) and of the tests, with every warning an error
#   4. `swift test` against the real library (XCTest prints its own summary)
# Fails on any compiler error, warning or crash and on any failed test.
#
# Usage: scripts/test-swift.sh [--bench [CALLS]]
#   --bench [CALLS]  instead of the tests: the release-mode benchmark of current() beside the
#                    no-op calls (ios/Bench built with `swift run -c release`, over the library in
#                    the size profile release-mobile with the test issuer; default 200000 calls
#                    per kind; docs/PERFORMANCE.md)
# Env: PAYCODE_SWIFT_CHROOT (default <repo>/.cache/swift-chroot), CARGO_TARGET_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
STARTED=$SECONDS
step() { printf '\n==> [%ss] %s\n' "$((SECONDS - STARTED))" "$*"; }

BENCH=0 CALLS=200000
MIN_TESTS=31 # the suite in ios/Tests/PayCodeTests; raise it when adding tests
case "${1:-}" in
  --bench) BENCH=1; CALLS="${2:-$CALLS}" ;;
  "") ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

step "Swift toolchain (Debian trixie chroot)"
ios/scripts/swift-chroot.sh setup >/dev/null

step "Rust: host library with the test issuer, Swift bindings"
LIB_DIR="$(scripts/gen-bindings.sh --swift-tests)"
# The library is copied next to the package, so that the chroot (which sees only the repository)
# finds it whatever CARGO_TARGET_DIR is.
FFI_LIB="$REPO/ios/.build/paycode-ffi-lib"
mkdir -p "$FFI_LIB"
cp "$LIB_DIR/libpaycode_ffi.so" "$FFI_LIB/"

LINK="-Xlinker -L$FFI_LIB -Xlinker -rpath -Xlinker $FFI_LIB"
swift_in_chroot() { # swift_in_chroot DIR ARGS...: `swift ARGS` in DIR inside the chroot
  local dir="$1"; shift
  ios/scripts/swift-chroot.sh run "$REPO" "cd '$dir' && swift $*"
}

if [[ "$BENCH" == 1 ]]; then
  step "Rust: the library in the size profile, with the test issuer"
  cargo build -q -p paycode-ffi --features test-issuer --lib --profile release-mobile
  cp "${CARGO_TARGET_DIR:-$REPO/target}/release-mobile/libpaycode_ffi.so" "$FFI_LIB/"
  step "Swift benchmark, release mode: $CALLS calls per kind"
  swift_in_chroot "$REPO/ios/Bench" run -c release $LINK PayCodeBench "$CALLS"
  exit 0
fi

# Every warning is an error, in the hand-written Swift and the tests (the generated bindings
# compile without warnings in Swift 5 mode too, so the flag applies to the whole package).
step "swift build (package and tests; warnings are errors)"
log="$(mktemp "${TMPDIR:-/tmp}/paycode-swift-build.XXXXXX")"
trap 'rm -f "$log"' EXIT
set +e
swift_in_chroot "$REPO/ios" build --build-tests -Xswiftc -warnings-as-errors $LINK 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [[ "$status" != 0 ]]; then
  grep -qE 'Stack dump|Assertion .* failed|signal [0-9]|crashed' "$log" && echo "test-swift: the Swift compiler CRASHED" >&2
  echo "test-swift: swift build failed ($status)" >&2
  exit 1
fi
if grep -q 'warning:' "$log"; then
  echo "test-swift: the build printed warnings" >&2
  exit 1
fi

step "swift test (XCTest, against the real library)"
set +e
swift_in_chroot "$REPO/ios" test --skip-build $LINK 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
[[ "$status" == 0 ]] || { echo "test-swift: swift test failed ($status)" >&2; exit 1; }
# A run that discovers no test also exits 0: check XCTest's own count.
executed="$(sed -n "s/^[[:space:]]*Executed \([0-9]*\) tests\{0,1\}, with 0 failures.*/\1/p" "$log" | tail -1)"
if [[ -z "$executed" || "$executed" -lt "$MIN_TESTS" ]]; then
  echo "test-swift: expected at least $MIN_TESTS tests with 0 failures, XCTest reported: ${executed:-none}" >&2
  exit 1
fi

step "Swift: all passed in $((SECONDS - STARTED)) s"
