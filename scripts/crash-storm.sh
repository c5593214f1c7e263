#!/usr/bin/env bash
# The crash storm, long form (docs/STORMS.md): kills the real issuer binary with SIGKILL at
# random moments during a payment storm, restarts it on the same database, and checks every
# client's records against the ledger. Exits non-zero if a payment was lost or doubled.
#
#   scripts/crash-storm.sh [KILLS] [sqlite|postgres|both] [extra paycode-crashstorm flags]
#   scripts/crash-storm.sh 50 both
#   scripts/crash-storm.sh 50 sqlite --seed 1234      # repeat a run's random choices
#
# PostgreSQL: uses PAYCODE_TEST_POSTGRES_URL if set, otherwise starts a throwaway server with
# scripts/postgres-for-tests.sh (state in PAYCODE_PG_STATE, default /tmp/paycode-storm-postgres.env)
# and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-50}"
engine="${2:-both}"
shift $(( $# < 2 ? $# : 2 ))

cargo build --release -q -p paycode-server --bin paycode-server --bin paycode-crashstorm

engines=("$engine")
[ "$engine" = both ] && engines=(sqlite postgres)
if [[ " ${engines[*]} " == *" postgres "* ]] && [ -z "${PAYCODE_TEST_POSTGRES_URL:-}" ]; then
  export PAYCODE_PG_STATE="${PAYCODE_PG_STATE:-/tmp/paycode-storm-postgres.env}"
  PAYCODE_TEST_POSTGRES_URL="$(scripts/postgres-for-tests.sh start)"
  export PAYCODE_TEST_POSTGRES_URL
  trap 'scripts/postgres-for-tests.sh stop >/dev/null 2>&1 || true' EXIT
fi

status=0
for e in "${engines[@]}"; do
  echo "== crash storm: $kills kills, $e, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
  target/release/paycode-crashstorm --kills "$kills" --engine "$e" --server target/release/paycode-server "$@" \
    || status=1
done
exit "$status"
