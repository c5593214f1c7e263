#!/usr/bin/env bash
# Compile-check Kotlin Android-adapter sources (plus the uniffi-generated bindings they use)
# against the real Android framework jar (org.robolectric:android-all), kotlinx-coroutines and
# JNA. Compile only: nothing is run, no APK/AAR is built (no Android SDK/Gradle on this machine).
#
# Usage: android/scripts/compile-android-sources.sh [options] SRC_DIR...
#   SRC_DIR      directories (or single .kt files) to compile together, e.g. the adapter's
#                src/main/kotlin and the generated-bindings directory
# Options:
#   --classpath CP     extra ':'-separated jars for the compile classpath
#   --out DIR          keep the .class output in DIR (default: temp dir, deleted)
#   --jvm-target N     kotlinc -jvm-target (default 17, what AGP 8 projects use)
#   --warnings         show kotlinc warnings (default: -nowarn)
# Env: PAYCODE_CACHE, PAYCODE_KOTLINC_FLAGS (extra kotlinc flags, word-split),
#      KOTLINC_JAVA_OPTS (default -Xmx2g -Xss4m) - see jvm-toolchain.sh / run-jvm-tests.sh
# Output: kotlinc diagnostics, then "compile-android-sources: OK (N files, android-all API X)".
# Exit: 0 compiled, 1 compile error, 2 usage error.
#
# Caveats: android-all is the framework *implementation* jar, so @hide/@SystemApi members that
# the public android.jar stub would reject still compile here. androidx/Google Maven libraries
# are not reachable from this machine kind, so sources must not depend on them here.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

EXTRA_CP="" OUT="" TARGET=17 WARN=0 SRCS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --classpath) EXTRA_CP="${2:?}"; shift ;;
    --out) OUT="${2:?}"; shift ;;
    --jvm-target) TARGET="${2:?}"; shift ;;
    --warnings) WARN=1 ;;
    -h | --help) usage ;;
    -*) echo "compile-android-sources: unknown option $1" >&2; usage ;;
    *) SRCS+=("$1") ;;
  esac
  shift
done
[[ ${#SRCS[@]} -gt 0 ]] || usage
for s in "${SRCS[@]}"; do [[ -e "$s" ]] || { echo "compile-android-sources: no such path: $s" >&2; exit 2; }; done

TOOLCHAIN_ENV="$("$SCRIPT_DIR/jvm-toolchain.sh" --quiet)" # fails the script if the install fails
eval "$TOOLCHAIN_ENV"

mapfile -t FILES < <(find "${SRCS[@]}" -type f -name '*.kt' | sort -u)
[[ ${#FILES[@]} -gt 0 ]] || { echo "compile-android-sources: no .kt files found" >&2; exit 2; }

if [[ -z "$OUT" ]]; then
  OUT="$(mktemp -d "${TMPDIR:-/tmp}/paycode-android-compile.XXXXXX")"
  trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"

CP="$ANDROID_ALL_JAR:$COROUTINES_JAR:$JNA_JAR${EXTRA_CP:+:$EXTRA_CP}"
KFLAGS=(-jvm-target "$TARGET" -no-reflect)
[[ "$WARN" == 1 ]] || KFLAGS+=(-nowarn)
# shellcheck disable=SC2206
KFLAGS+=(${PAYCODE_KOTLINC_FLAGS:-})

echo "compile-android-sources: kotlinc $KOTLIN_VERSION: ${#FILES[@]} file(s) against android-all API ${ANDROID_ALL_API:-?}" >&2
if JAVA_OPTS="${KOTLINC_JAVA_OPTS:--Xmx2g -Xss4m}" "$KOTLINC" "${KFLAGS[@]}" -cp "$CP" -d "$OUT" "${FILES[@]}"; then
  echo "compile-android-sources: OK (${#FILES[@]} files, android-all API ${ANDROID_ALL_API:-?})"
else
  echo "compile-android-sources: FAILED" >&2
  exit 1
fi
