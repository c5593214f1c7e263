#!/usr/bin/env bash
# Syntax-check hand-written Swift with tree-sitter-swift (no Swift compiler on Linux CI).
#
# Usage: ios/scripts/check-swift-syntax.sh [--exclude DIRNAME]... [--allow-empty] [-q] PATH...
#   PATH: .swift files (always checked) or directories (every *.swift below them, skipping
#         directories named Generated / generated / generated-bindings / generated_bindings /
#         .build / .swiftpm / DerivedData / Pods, plus any --exclude DIRNAME, case-insensitive).
# Env:
#   PAYCODE_CACHE   cache root (default: <repo>/target/toolchain); the venv lives in
#                   $PAYCODE_CACHE/swift-syntax-venv-<pins>
#   PAYCODE_PYTHON  interpreter used to create the venv (default: python3)
# Output: "ok    FILE" per clean file (unless -q), "FAIL  FILE" followed by
#   "FILE:LINE:COL: error: ..." for each ERROR/MISSING node, then a summary line.
# Exit: 0 clean, 1 syntax errors, 2 usage error / path missing / no .swift found.
#
# Note: the grammar reports false errors on some valid *generated* uniffi code
# (e.g. `@_documentation(visibility: private)` before `#endif`); use it on hand-written Swift.
set -euo pipefail

TREE_SITTER_VERSION=0.26.1
TREE_SITTER_SWIFT_VERSION=0.7.4

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="${PAYCODE_CACHE:-$REPO/target/toolchain}"
PY="${PAYCODE_PYTHON:-python3}"
VENV="$CACHE/swift-syntax-venv-ts${TREE_SITTER_VERSION}-swift${TREE_SITTER_SWIFT_VERSION}"
STAMP="$VENV/.paycode-ok"

venv_ok() {
  [[ -f "$STAMP" && -x "$VENV/bin/python" ]] &&
    "$VENV/bin/python" -c 'import tree_sitter, tree_sitter_swift' >/dev/null 2>&1
}

if ! venv_ok; then
  echo "check-swift-syntax: installing tree-sitter $TREE_SITTER_VERSION + tree-sitter-swift $TREE_SITTER_SWIFT_VERSION into $VENV" >&2
  mkdir -p "$CACHE"
  rm -rf "$VENV"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's system python needs python3-venv for ensurepip.
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
      rm -rf "$VENV"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; }
      "$PY" -m venv "$VENV"
    else
      echo "check-swift-syntax: '$PY -m venv' failed (install python3-venv)" >&2
      exit 2
    fi
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    "tree-sitter==$TREE_SITTER_VERSION" "tree-sitter-swift==$TREE_SITTER_SWIFT_VERSION" >&2
  "$VENV/bin/python" -c 'import tree_sitter, tree_sitter_swift'
  touch "$STAMP"
fi

if [[ $# -eq 0 ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi

exec "$VENV/bin/python" "$SCRIPT_DIR/swift_syntax_check.py" "$@"
