#!/usr/bin/env bash
# Runs every test of the project. Installs what it needs on a fresh Debian machine.
# Usage: scripts/test.sh            (from anywhere; CI calls it through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "Rust: format check"
rustup component add rustfmt >/dev/null 2>&1 || true
cargo fmt --all -- --check

step "Rust: workspace tests"
cargo test --workspace --all-targets

step "Rust: test vectors are what the code generates"
cargo run -q -p paycode-core --example gen_vectors | diff -u docs/test-vectors.json - \
  || { echo "docs/test-vectors.json is stale: regenerate it (see docs/PROTOCOL.md §9)"; exit 1; }

step "All tests passed"
