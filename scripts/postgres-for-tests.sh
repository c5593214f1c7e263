#!/usr/bin/env bash
# A throwaway PostgreSQL for the issuer's tests and load bench: on loopback only, in a temp
# dir, on a free port, owned by the `postgres` user. Installs Debian's postgresql if missing.
#
#   scripts/postgres-for-tests.sh start   # prints the URL, e.g. postgres://postgres@127.0.0.1:43817/paycode
#   scripts/postgres-for-tests.sh stop    # stops the cluster and deletes its directory
#   scripts/postgres-for-tests.sh url     # prints the URL of the running cluster
#
# Typical use:
#   export PAYCODE_TEST_POSTGRES_URL="$(scripts/postgres-for-tests.sh start)"
#   cargo test -p paycode-server
#   scripts/postgres-for-tests.sh stop
#
# The cluster trusts loopback connections (it is for tests) and runs with
# synchronous_commit=off (a crash of the machine may lose the last commits, never corrupt;
# the same durability as the issuer's SQLite setting synchronous=NORMAL in WAL mode).
# Log lines go to stderr; only the URL goes to stdout.
set -euo pipefail

STATE="${PAYCODE_PG_STATE:-/tmp/paycode-test-postgres.env}"
log() { printf 'postgres-for-tests: %s\n' "$*" >&2; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_if_missing() {
  if [ -z "$(find_bin)" ] || [ ! -x "$(find_bin)/initdb" ]; then
    [ "$(id -u)" = 0 ] || { log "PostgreSQL is not installed and we are not root: apt-get install postgresql"; exit 1; }
    log "installing postgresql from the Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
  # Debian's package starts its own cluster on 5432; ours is separate and does not need it.
}

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( (RANDOM % 30000) + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  log "no free port found"
  exit 1
}

start() {
  if [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    . "$STATE"
    if as_postgres "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      echo "$URL"
      return
    fi
    rm -rf "$DIR" "$STATE"
  fi
  install_if_missing
  BIN="$(find_bin)"
  DIR="$(mktemp -d /tmp/paycode-pg.XXXXXX)"
  chmod 755 "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
  PORT="$(free_port)"
  as_postgres "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
  as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c synchronous_commit=off -c max_connections=300" \
    start >&2 || { cat "$DIR/server.log" >&2; exit 1; }
  as_postgres "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE paycode" >&2
  URL="postgres://postgres@127.0.0.1:$PORT/paycode"
  printf 'BIN=%q\nDIR=%q\nPORT=%q\nURL=%q\n' "$BIN" "$DIR" "$PORT" "$URL" >"$STATE"
  log "PostgreSQL running in $DIR on 127.0.0.1:$PORT"
  echo "$URL"
}

stop() {
  [ -f "$STATE" ] || { log "nothing to stop"; return; }
  # shellcheck disable=SC1090
  . "$STATE"
  as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
  rm -rf "$DIR" "$STATE"
  log "stopped and removed $DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) [ -f "$STATE" ] && { . "$STATE"; echo "$URL"; } ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
