#!/usr/bin/env bash
# docs/openapi.yaml says exactly what the issuer accepts: schemathesis (from PyPI, into
# .cache/schemathesis) generates requests from the spec and sends them to the real
# paycode-server on loopback. It fails on any 5xx, on a schema-valid request that is refused
# (400/413/415/422: positive_data_acceptance), on a schema-invalid one that is accepted
# (negative_data_rejection), and on an answer that the spec does not describe (status code or
# body schema).
#
#   scripts/test-openapi.sh [EXAMPLES]     EXAMPLES per operation and run (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-40}"
version=4.32.5
venv="$PWD/.cache/schemathesis"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi

# PAYCODE_SERVER_BIN: an already built paycode-server to test instead of building one.
server="${PAYCODE_SERVER_BIN:-}"
if [ -z "$server" ]; then
  cargo build -q -p paycode-server --bin paycode-server
  server="$PWD/target/debug/paycode-server"
fi
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
admin="admin-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
export PAYCODE_LISTEN="127.0.0.1:$port"
export PAYCODE_DATABASE_URL="sqlite:$work/issuer.db"
export PAYCODE_ISSUER_SECRET_FILE="$work/issuer.keys"
export PAYCODE_ADMIN_TOKEN="$admin"
export PAYCODE_OPEN_REGISTRATION=true
export PAYCODE_REFUSAL_DELAY_MS=0
export RUST_LOG=warn
merchant_key="$("$server" create-merchant "openapi test shop" | sed -n 's/^api_key=//p')"
"$server" serve 2>"$work/issuer.log" &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v1/health', timeout=1)" 2>/dev/null && break
  sleep 0.1
done

# One worker: with two, hypothesis 6.170's lambda-source cache raced ("AST constructor recursion
# depth mismatch") and schemathesis reported it as an error of the run.
st() { # st LABEL ARGS...: one schemathesis run against the issuer
  local label="$1"; shift
  echo "--- schemathesis: $label"
  "$venv/bin/schemathesis" run docs/openapi.yaml --url "http://127.0.0.1:$port" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection \
    --phases examples,coverage,fuzzing --max-examples "$examples" --seed 20261203 \
    --workers 1 --generation-database none --no-color --suppress-health-check all "$@"
}
status=0
# Users, login, devices and health with no credentials (device requests cannot be signed by a
# fuzzer: their bodies are checked before the signature, so the spec's body rules are tested).
st "public and device operations" --exclude-path-regex '^/v1/(payments|admin)' || status=1
# The merchant's operations with a real merchant key, the admin's with the admin token.
st "payments (merchant key)" --include-path-regex '^/v1/payments' -H "Authorization: Bearer $merchant_key" || status=1
st "admin (admin token)" --include-path-regex '^/v1/admin' -H "Authorization: Bearer $admin" || status=1
if grep -q " ERROR " "$work/issuer.log"; then
  echo "the issuer logged errors:"; grep " ERROR " "$work/issuer.log"; status=1
fi
exit "$status"
