#!/usr/bin/env bash
# Runs every test of the project, on a fresh Debian machine as on a laptop. Installs what it
# needs (PostgreSQL from Debian, Kotlin/JNA/JUnit/android-all from npm and Maven Central, Rust
# targets with rustup, schemathesis from PyPI, Swift 6 from Debian trixie in a chroot under
# .cache/) into caches it reuses.
#
#   scripts/test.sh                 everything
#   PAYCODE_SKIP_MOBILE=1 scripts/test.sh    Rust only (no JVM, no Swift, no cross builds)
#
# Ends with "N passed, M failed" for the suites it ran.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PAYCODE_CACHE="${PAYCODE_CACHE:-$PWD/.cache/toolchain}"

passed=0
failed=0
step() { printf '\n==> %s\n' "$*"; }
run() { # run NAME COMMAND...: counts a suite as passed or failed, keeps going
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

step "Rust: format"
rustup component add rustfmt >/dev/null 2>&1 || true
run "cargo fmt" cargo fmt --all -- --check

step "PostgreSQL on loopback (for the issuer's tests)"
pg_url="$(scripts/postgres-for-tests.sh start)"
trap 'scripts/postgres-for-tests.sh stop >/dev/null 2>&1 || true' EXIT
export PAYCODE_TEST_POSTGRES_URL="$pg_url"
echo "PostgreSQL at ${pg_url%%@*}@…"

step "Rust: every crate's tests (SQLite always, PostgreSQL too), benches in test mode"
run "cargo test" cargo test --workspace --all-targets

step "Rust: test vectors are what the code generates"
check_vectors() {
  cargo run -q -p paycode-core --example gen_vectors | diff -u docs/test-vectors.json - \
    || { echo "docs/test-vectors.json is stale: regenerate it (docs/PROTOCOL.md §9)"; return 1; }
  cargo run -q -p paycode-core --example gen_vectors v2 | diff -u docs/test-vectors-v2.json - \
    || { echo "docs/test-vectors-v2.json is stale: regenerate it (docs/PROTOCOL.md §12.8)"; return 1; }
}
run "test vectors" check_vectors

step "Protocol: an implementation written from docs/PROTOCOL.md alone reproduces both vector files"
run "vectors from the spec" python3 scripts/spec-check/vectors_from_spec.py docs/test-vectors.json docs/test-vectors-v2.json

step "Fuzz smoke: each libFuzzer target 15 s from its seed corpus (docs/FUZZING.md)"
run "fuzz smoke" scripts/fuzz.sh 15

step "OpenAPI: schemathesis from docs/openapi.yaml against the real issuer (scripts/test-openapi.sh)"
run "schemathesis" env PAYCODE_SERVER_BIN=target/debug/paycode-server scripts/test-openapi.sh 20

step "The demo, scripted"
run "paycode demo --script" cargo run -q -p paycode-cli -- demo --script

if [ "${PAYCODE_SKIP_MOBILE:-0}" != 1 ]; then
  step "Mobile: Kotlin on the JVM against the real library, Android sources, cross builds"
  run "mobile" scripts/test-mobile.sh

  step "Swift: the iOS package built (Swift 6.0.3 on Linux) and its tests run against the real library"
  run "swift" scripts/test-swift.sh
fi

printf '\n%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
