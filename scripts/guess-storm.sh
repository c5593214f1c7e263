#!/usr/bin/env bash
# The guess storm, long form (docs/STORMS.md): 1,000,000 random codes from 100 merchant keys on
# 2,000 connections against an issuer with 100,000 devices while 8 honest merchants pay 25 times
# a second each; reports zero accepted, the lockouts, and the honest p50/p99 before, during and after.
# Exits non-zero if a guess was accepted, the lockouts did not engage, or an honest payment was
# refused.
#
#   scripts/guess-storm.sh [paycode-guessstorm flags]
#   scripts/guess-storm.sh                               # SQLite, the defaults above
#   scripts/guess-storm.sh --nice 19                     # attacker thread at nice 19
#   scripts/guess-storm.sh --delay 0 --connections 32    # no tarpit: the attacker as fast as it can
#   scripts/guess-storm.sh --engine postgres             # starts a throwaway PostgreSQL if needed
#   scripts/guess-storm.sh --guesses 5000000 --devices 1000000
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p paycode-server --bin paycode-guessstorm
# Two file descriptors per attacker connection (its socket and the issuer's), all in one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ " $* " == *" --engine postgres "* ]] && [ -z "${PAYCODE_TEST_POSTGRES_URL:-}" ]; then
  export PAYCODE_PG_STATE="${PAYCODE_PG_STATE:-/tmp/paycode-storm-postgres.env}"
  PAYCODE_TEST_POSTGRES_URL="$(scripts/postgres-for-tests.sh start)"
  export PAYCODE_TEST_POSTGRES_URL
  trap 'scripts/postgres-for-tests.sh stop >/dev/null 2>&1 || true' EXIT
fi

echo "== guess storm, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
exec target/release/paycode-guessstorm "$@"
