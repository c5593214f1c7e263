#!/usr/bin/env bash
# Compile uniffi-generated Kotlin bindings + Kotlin JUnit 4 tests with kotlinc and run them on
# the host JVM against the host-built Rust cdylib (loaded by JNA).
#
# Usage: android/scripts/run-jvm-tests.sh [options] BINDINGS_DIR TESTS_DIR LIB_DIR
#   BINDINGS_DIR  directory of generated Kotlin sources (e.g. uniffi-bindgen --out-dir)
#   TESTS_DIR     directory of Kotlin test sources (kotlin.test / org.junit JUnit 4 tests);
#                 non-source files in it (e.g. robolectric.properties) are copied as resources
#   LIB_DIR       directory holding the host cdylib (lib<name>.so), passed as -Djna.library.path
# Options:
#   --robolectric      also put Robolectric (+ android-all for compiling) on the classpath and run
#                      it offline against the cached pre-instrumented android-all jar; adds a
#                      default robolectric.properties (sdk=$ROBOLECTRIC_SDK) if TESTS_DIR has none
#   --test FQN         run only this test class (repeatable); default: every test class found
#   --classpath CP     extra ':'-separated jars/dirs for compiling and running
#   --work-dir DIR     keep compiled classes in DIR (default: a temp dir, deleted afterwards)
#   --warnings         show kotlinc warnings (default: -nowarn; generated code is noisy)
# Env:
#   PAYCODE_CACHE          toolchain cache (default <repo>/target/toolchain), see jvm-toolchain.sh
#   PAYCODE_KOTLINC_FLAGS  extra kotlinc flags (word-split)
#   PAYCODE_JVM_OPTS       extra flags for the test JVM (word-split), e.g. -Xmx2g
#   KOTLINC_JAVA_OPTS      JVM options for kotlinc itself (default: -Xmx2g -Xss4m)
# Output: kotlinc diagnostics, JUnit's TextListener report ("OK (N tests)" or "FAILURES!!!
#   Tests run: N,  Failures: M"), then a last line "N passed, M failed[, K skipped]".
# Exit: 0 all passed; 1 test failure / no test found; 2 usage error; 3 compile error.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

ROBO=0 WARN=0 WORK="" EXTRA_CP="" TESTS=() POS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --robolectric) ROBO=1 ;;
    --warnings) WARN=1 ;;
    --test) TESTS+=("${2:?--test needs a class name}"); shift ;;
    --classpath) EXTRA_CP="${2:?--classpath needs a value}"; shift ;;
    --work-dir) WORK="${2:?--work-dir needs a directory}"; shift ;;
    -h | --help) usage ;;
    --) shift; POS+=("$@"); break ;;
    -*) echo "run-jvm-tests: unknown option $1" >&2; usage ;;
    *) POS+=("$1") ;;
  esac
  shift
done
[[ ${#POS[@]} -eq 3 ]] || usage
BINDINGS_DIR="$(cd "${POS[0]}" && pwd)" || usage
TESTS_DIR="$(cd "${POS[1]}" && pwd)" || usage
LIB_DIR="$(cd "${POS[2]}" && pwd)" || usage
compgen -G "$LIB_DIR/*.so" >/dev/null || echo "run-jvm-tests: warning: no .so in $LIB_DIR" >&2

TC_ARGS=(--quiet)
[[ "$ROBO" == 1 ]] && TC_ARGS+=(--robolectric)
TOOLCHAIN_ENV="$("$SCRIPT_DIR/jvm-toolchain.sh" "${TC_ARGS[@]}")" # fails the script if the install fails
eval "$TOOLCHAIN_ENV"

if [[ -z "$WORK" ]]; then
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/paycode-jvm-tests.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
CLASSES="$WORK/classes"
rm -rf "$CLASSES"
mkdir -p "$CLASSES"

# The JUnit launcher (plain Java), compiled once per source version into the cache.
RUNNER_SRC="$SCRIPT_DIR/jvm/PaycodeJUnitRunner.java"
RUNNER_DIR="$PAYCODE_CACHE/junit-runner-$({ cat "$RUNNER_SRC"; echo "$JUNIT_JARS"; } | cksum | cut -d' ' -f1)"
if [[ ! -f "$RUNNER_DIR/PaycodeJUnitRunner.class" ]]; then
  runner_tmp="$(mktemp -d "$PAYCODE_CACHE/.junit-runner.XXXXXX")"
  javac -nowarn -d "$runner_tmp" -cp "$JUNIT_JARS" "$RUNNER_SRC"
  rm -rf "$RUNNER_DIR"
  mv "$runner_tmp" "$RUNNER_DIR"
fi

RUN_CP="$PAYCODE_JVM_TEST_CLASSPATH"
COMPILE_CP="$PAYCODE_JVM_TEST_CLASSPATH"
if [[ "$ROBO" == 1 ]]; then
  # android.* comes from android-all at compile time. At run time Robolectric's sandbox class
  # loader loads android.* from the instrumented jar in $ROBOLECTRIC_DEPS_DIR, but JUnit first
  # loads the test class in the app class loader, so android.* must resolve there too (AGP puts
  # android.jar on the unit-test runtime classpath for the same reason). That copy must be
  # Java-17 bytecode: android-all 16 (API 36) is class version 65 (Java 21), so the runtime
  # classpath gets the SDK-35 instrumented jar instead.
  COMPILE_CP="$COMPILE_CP:$ROBOLECTRIC_CLASSPATH:$ANDROID_ALL_JAR"
  RUN_CP="$RUN_CP:$ROBOLECTRIC_CLASSPATH:$ROBOLECTRIC_SDK_JAR"
fi
if [[ -n "$EXTRA_CP" ]]; then
  COMPILE_CP="$COMPILE_CP:$EXTRA_CP"
  RUN_CP="$RUN_CP:$EXTRA_CP"
fi

mapfile -t SOURCES < <(find "$BINDINGS_DIR" "$TESTS_DIR" -type f -name '*.kt' | sort -u)
[[ ${#SOURCES[@]} -gt 0 ]] || { echo "run-jvm-tests: no .kt sources found" >&2; exit 2; }

KFLAGS=(-jvm-target 17 -no-reflect)
[[ "$WARN" == 1 ]] || KFLAGS+=(-nowarn)
# shellcheck disable=SC2206
KFLAGS+=(${PAYCODE_KOTLINC_FLAGS:-})
echo "run-jvm-tests: kotlinc $KOTLIN_VERSION: compiling ${#SOURCES[@]} Kotlin file(s)" >&2
if ! JAVA_OPTS="${KOTLINC_JAVA_OPTS:--Xmx2g -Xss4m}" \
  "$KOTLINC" "${KFLAGS[@]}" -cp "$COMPILE_CP" -d "$CLASSES" "${SOURCES[@]}"; then
  echo "run-jvm-tests: compilation failed" >&2
  echo "0 passed, 1 failed"
  exit 3
fi

# Test resources: everything in TESTS_DIR that is not source code.
(cd "$TESTS_DIR" && find . -type f ! -name '*.kt' ! -name '*.java' -print0 |
  while IFS= read -r -d '' f; do mkdir -p "$CLASSES/$(dirname "$f")"; cp "$f" "$CLASSES/$f"; done)

JVM_FLAGS=(
  -Djna.library.path="$LIB_DIR"
  -Djna.nosys=true # never pick up a system libjnidispatch of another JNA version
  -Djava.awt.headless=true
)
if [[ "$ROBO" == 1 ]]; then
  [[ -f "$CLASSES/robolectric.properties" ]] || echo "sdk=$ROBOLECTRIC_SDK" >"$CLASSES/robolectric.properties"
  JVM_FLAGS+=(
    -Drobolectric.offline=true
    -Drobolectric.dependency.dir="$ROBOLECTRIC_DEPS_DIR"
    -Drobolectric.logging.enabled=false
  )
fi
# shellcheck disable=SC2206
JVM_FLAGS+=(${PAYCODE_JVM_OPTS:-})

set +e
java "${JVM_FLAGS[@]}" -cp "$RUNNER_DIR:$CLASSES:$RUN_CP" PaycodeJUnitRunner "$CLASSES" ${TESTS[@]+"${TESTS[@]}"}
rc=$?
set -e
exit "$rc"
