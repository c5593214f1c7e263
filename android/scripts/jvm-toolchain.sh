#!/usr/bin/env bash
# Install (if missing) the JVM-side toolchain used to test paycode's Kotlin bindings on a
# plain Linux box without the Android SDK or Gradle:
#   - kotlinc (npm package `kotlin-compiler`; ships kotlin-stdlib, kotlin-test, kotlin-test-junit)
#   - JNA, JUnit 4 + hamcrest-core, kotlinx-coroutines-core-jvm  (Maven Central, via mvn)
#   - org.robolectric:android-all (the real Android framework jar, for compile checks)
#   - optionally (--robolectric / PAYCODE_ROBOLECTRIC=1) Robolectric + its runtime deps and the
#     pre-instrumented android-all it loads at run time, for offline Robolectric tests.
#
# Usage: android/scripts/jvm-toolchain.sh [--robolectric] [--quiet]
# Env:
#   PAYCODE_CACHE        cache root (default: <repo>/target/toolchain)
#   PAYCODE_ROBOLECTRIC  1 = same as --robolectric
#   PAYCODE_MVN          maven command (default: mvn); its local repo is $PAYCODE_CACHE/m2
#   version pins (override only deliberately): PAYCODE_KOTLIN_VERSION, PAYCODE_JNA_VERSION,
#   PAYCODE_COROUTINES_VERSION, PAYCODE_JUNIT_VERSION, PAYCODE_HAMCREST_VERSION,
#   PAYCODE_ANDROID_ALL_VERSION, PAYCODE_ROBOLECTRIC_VERSION, PAYCODE_ROBOLECTRIC_SDK_JAR,
#   PAYCODE_ROBOLECTRIC_SDK
# Output: `export NAME=value` lines on stdout (so `eval "$(jvm-toolchain.sh)"` works), the same
#   lines in $PAYCODE_CACHE/jvm.env (`source` it); progress goes to stderr. Variables:
#   KOTLIN_HOME KOTLINC KOTLIN_VERSION KOTLIN_STDLIB_JAR KOTLIN_TEST_JARS JNA_JAR JUNIT_JARS
#   COROUTINES_JAR ANDROID_ALL_JAR ANDROID_ALL_API PAYCODE_JVM_TEST_CLASSPATH
#   and with --robolectric: ROBOLECTRIC_VERSION ROBOLECTRIC_CLASSPATH ROBOLECTRIC_DEPS_DIR
#   ROBOLECTRIC_SDK (API level) ROBOLECTRIC_SDK_JAR (the pre-instrumented android-all it runs)
#   (multi-jar values are ':'-separated classpaths).
# Re-runs with everything cached do no network access (checked against a stamp of the pins).
set -euo pipefail
trap 'echo "jvm-toolchain: failed (line $LINENO)" >&2' ERR

KOTLIN_VERSION="${PAYCODE_KOTLIN_VERSION:-2.4.20}"
JNA_VERSION="${PAYCODE_JNA_VERSION:-5.17.0}"
COROUTINES_VERSION="${PAYCODE_COROUTINES_VERSION:-1.11.0}"
JUNIT_VERSION="${PAYCODE_JUNIT_VERSION:-4.13.2}"
HAMCREST_VERSION="${PAYCODE_HAMCREST_VERSION:-1.3}"
# API 36 (Android 16) framework jar for compile checks.
ANDROID_ALL_VERSION="${PAYCODE_ANDROID_ALL_VERSION:-16-robolectric-13921718}"
ROBOLECTRIC_VERSION="${PAYCODE_ROBOLECTRIC_VERSION:-4.16.1}"
# Robolectric 4.16.1 maps SDK 35 -> android-all-instrumented 15-robolectric-13954326-i7 (needs
# Java 17); SDK 36 needs Java 21, which this machine kind does not have.
ROBOLECTRIC_SDK="${PAYCODE_ROBOLECTRIC_SDK:-35}"
ROBOLECTRIC_SDK_JAR="${PAYCODE_ROBOLECTRIC_SDK_JAR:-15-robolectric-13954326-i7}"

WANT_ROBOLECTRIC="${PAYCODE_ROBOLECTRIC:-0}"
QUIET=0
for arg in "$@"; do
  case "$arg" in
    --robolectric) WANT_ROBOLECTRIC=1 ;;
    --quiet | -q) QUIET=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "jvm-toolchain: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="${PAYCODE_CACHE:-$REPO/target/toolchain}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
M2="$CACHE/m2"
MVN="${PAYCODE_MVN:-mvn}"

log() { [[ "$QUIET" == 1 ]] || echo "jvm-toolchain: $*" >&2; }
die() { echo "jvm-toolchain: error: $*" >&2; exit 1; }

command -v java >/dev/null || die "java not found (JDK 17+ required)"
JAVA_MAJOR="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
[[ "${JAVA_MAJOR%%.*}" -ge 17 ]] 2>/dev/null || die "JDK 17+ required (found: ${JAVA_MAJOR:-unknown})"

# Serialize concurrent installs into the same cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.jvm-toolchain.lock"
  flock 9
fi

# ---------------------------------------------------------------- kotlinc (npm)
KOTLIN_HOME="$CACHE/kotlinc-$KOTLIN_VERSION"
if [[ ! -f "$KOTLIN_HOME/.paycode-ok" ]]; then
  command -v npm >/dev/null || die "npm not found (needed to fetch kotlin-compiler)"
  log "installing kotlin-compiler@$KOTLIN_VERSION from npm into $KOTLIN_HOME"
  tmp="$(mktemp -d "$CACHE/.kotlinc-tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # npm verifies the tarball's integrity against the registry metadata.
  (cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
  tar -xzf "$tmp/kotlin-compiler-$KOTLIN_VERSION.tgz" -C "$tmp"
  [[ "$(cat "$tmp/package/build.txt")" == "$KOTLIN_VERSION" ]] || die "unexpected kotlin-compiler build.txt"
  chmod +x "$tmp"/package/bin/*
  rm -rf "$KOTLIN_HOME"
  mv "$tmp/package" "$KOTLIN_HOME"
  rm -rf "$tmp"
  trap - EXIT
  for j in kotlin-stdlib kotlin-test kotlin-test-junit; do
    [[ -f "$KOTLIN_HOME/lib/$j.jar" ]] || die "kotlin-compiler package lacks lib/$j.jar"
  done
  touch "$KOTLIN_HOME/.paycode-ok"
fi
KOTLINC="$KOTLIN_HOME/bin/kotlinc"

# ---------------------------------------------------------------- Maven artifacts
# path of g:a:v[:classifier] (type jar) in the cache's local repository
m2_jar() {
  local g="$1" a="$2" v="$3" c="${4:-}"
  echo "$M2/${g//.//}/$a/$v/$a-$v${c:+-$c}.jar"
}

# write_pom FILE EXCLUDE_TRANSITIVE(0/1) g:a:v...
write_pom() {
  local file="$1" excl="$2" id
  id="$(basename "$file" .xml)"
  shift 2
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0">'
    echo '  <modelVersion>4.0.0</modelVersion>'
    echo "  <groupId>paycode.toolchain</groupId><artifactId>$id</artifactId>"
    echo '  <version>0</version><packaging>pom</packaging>'
    echo '  <dependencies>'
    local coord g a v
    for coord in "$@"; do
      IFS=: read -r g a v <<<"$coord"
      echo "    <dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version>"
      if [[ "$excl" == 1 ]]; then
        echo '      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>'
      fi
      echo '    </dependency>'
    done
    echo '  </dependencies>'
    echo '</project>'
  } >"$file"
}

# resolve NAME EXCLUDE_TRANSITIVE g:a:v... : downloads into $M2 and writes $CACHE/maven/NAME.classpath
resolve() {
  local name="$1" excl="$2"
  shift 2
  command -v "$MVN" >/dev/null || die "maven ('$MVN') not found"
  mkdir -p "$CACHE/maven"
  local pom="$CACHE/maven/$name.xml"
  write_pom "$pom" "$excl" "$@"
  log "resolving $name from Maven Central: $*"
  if ! "$MVN" -B -ntp -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$M2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
    -Dmdep.outputFile="$CACHE/maven/$name.classpath" -Dmdep.includeScope=runtime \
    >"$CACHE/maven/$name.log" 2>&1; then
    tail -n 40 "$CACHE/maven/$name.log" >&2
    die "maven could not resolve $name (log: $CACHE/maven/$name.log)"
  fi
}

JVM_COORDS=(
  "net.java.dev.jna:jna:$JNA_VERSION"
  "junit:junit:$JUNIT_VERSION"
  "org.hamcrest:hamcrest-core:$HAMCREST_VERSION"
  "org.jetbrains.kotlinx:kotlinx-coroutines-core-jvm:$COROUTINES_VERSION"
  "org.robolectric:android-all:$ANDROID_ALL_VERSION"
)
JNA_JAR="$(m2_jar net.java.dev.jna jna "$JNA_VERSION")"
JUNIT_JAR="$(m2_jar junit junit "$JUNIT_VERSION")"
HAMCREST_JAR="$(m2_jar org.hamcrest hamcrest-core "$HAMCREST_VERSION")"
COROUTINES_JAR="$(m2_jar org.jetbrains.kotlinx kotlinx-coroutines-core-jvm "$COROUTINES_VERSION")"
ANDROID_ALL_JAR="$(m2_jar org.robolectric android-all "$ANDROID_ALL_VERSION")"

JVM_STAMP="$CACHE/maven/jvm.stamp"
jvm_key="${JVM_COORDS[*]}"
if [[ ! -f "$JVM_STAMP" || "$(cat "$JVM_STAMP")" != "$jvm_key" ]] ||
  ! ls "$JNA_JAR" "$JUNIT_JAR" "$HAMCREST_JAR" "$COROUTINES_JAR" "$ANDROID_ALL_JAR" >/dev/null 2>&1; then
  # Transitive deps excluded on purpose: the only ones are kotlin-stdlib (we use kotlinc's own)
  # and hamcrest (listed explicitly).
  resolve jvm 1 "${JVM_COORDS[@]}"
  for j in "$JNA_JAR" "$JUNIT_JAR" "$HAMCREST_JAR" "$COROUTINES_JAR" "$ANDROID_ALL_JAR"; do
    [[ -s "$j" ]] || die "missing after resolve: $j"
  done
  echo "$jvm_key" >"$JVM_STAMP"
fi

ANDROID_ALL_API="$(unzip -p "$ANDROID_ALL_JAR" build.prop 2>/dev/null | sed -n 's/^ro.build.version.sdk=//p' | head -n1 || true)"

# ---------------------------------------------------------------- Robolectric (optional)
ROBO_LINES=()
if [[ "$WANT_ROBOLECTRIC" == 1 ]]; then
  ROBO_DIR="$CACHE/robolectric-$ROBOLECTRIC_VERSION"
  ROBO_STAMP="$ROBO_DIR/.paycode-ok"
  robo_key="robolectric:$ROBOLECTRIC_VERSION sdkjar:$ROBOLECTRIC_SDK_JAR junit:$JUNIT_VERSION"
  if [[ ! -f "$ROBO_STAMP" || "$(cat "$ROBO_STAMP")" != "$robo_key" ]]; then
    resolve "robolectric-$ROBOLECTRIC_VERSION" 0 \
      "org.robolectric:robolectric:$ROBOLECTRIC_VERSION" \
      "junit:junit:$JUNIT_VERSION"
    resolve "robolectric-sdk-$ROBOLECTRIC_SDK_JAR" 1 \
      "org.robolectric:android-all-instrumented:$ROBOLECTRIC_SDK_JAR"
    rm -rf "$ROBO_DIR"
    mkdir -p "$ROBO_DIR/aar" "$ROBO_DIR/deps"
    # Robolectric's deps include AARs (androidx.test:monitor, espresso-idling-resource):
    # put their classes.jar on the classpath instead.
    cp_out=()
    IFS=: read -r -a entries <"$CACHE/maven/robolectric-$ROBOLECTRIC_VERSION.classpath" || true # no trailing newline
    for e in "${entries[@]}"; do
      if [[ "$e" == *.aar ]]; then
        out="$ROBO_DIR/aar/$(basename "$e" .aar).jar"
        unzip -p "$e" classes.jar >"$out"
        cp_out+=("$out")
      else
        cp_out+=("$e")
      fi
    done
    (IFS=:; echo "${cp_out[*]}") >"$ROBO_DIR/classpath"
    # Offline mode looks up <artifactId>-<version>.jar in robolectric.dependency.dir.
    sdk_jar="$(m2_jar org.robolectric android-all-instrumented "$ROBOLECTRIC_SDK_JAR")"
    [[ -s "$sdk_jar" ]] || die "missing $sdk_jar"
    ln -s "$sdk_jar" "$ROBO_DIR/deps/$(basename "$sdk_jar")"
    echo "$robo_key" >"$ROBO_STAMP"
  fi
  ROBO_LINES=(
    "ROBOLECTRIC_VERSION=$ROBOLECTRIC_VERSION"
    "ROBOLECTRIC_CLASSPATH=$(cat "$ROBO_DIR/classpath")"
    "ROBOLECTRIC_DEPS_DIR=$ROBO_DIR/deps"
    "ROBOLECTRIC_SDK=$ROBOLECTRIC_SDK"
    "ROBOLECTRIC_SDK_JAR=$(m2_jar org.robolectric android-all-instrumented "$ROBOLECTRIC_SDK_JAR")"
  )
fi

# ---------------------------------------------------------------- output
KOTLIN_STDLIB_JAR="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
KOTLIN_TEST_JARS="$KOTLIN_HOME/lib/kotlin-test.jar:$KOTLIN_HOME/lib/kotlin-test-junit.jar"
JUNIT_JARS="$JUNIT_JAR:$HAMCREST_JAR"
LINES=(
  "PAYCODE_CACHE=$CACHE"
  "KOTLIN_HOME=$KOTLIN_HOME"
  "KOTLINC=$KOTLINC"
  "KOTLIN_VERSION=$KOTLIN_VERSION"
  "KOTLIN_STDLIB_JAR=$KOTLIN_STDLIB_JAR"
  "KOTLIN_TEST_JARS=$KOTLIN_TEST_JARS"
  "JNA_JAR=$JNA_JAR"
  "JUNIT_JARS=$JUNIT_JARS"
  "COROUTINES_JAR=$COROUTINES_JAR"
  "ANDROID_ALL_JAR=$ANDROID_ALL_JAR"
  "ANDROID_ALL_API=$ANDROID_ALL_API"
  # everything a host (non-Android) JVM test needs besides the code under test
  "PAYCODE_JVM_TEST_CLASSPATH=$KOTLIN_STDLIB_JAR:$KOTLIN_TEST_JARS:$JNA_JAR:$JUNIT_JARS:$COROUTINES_JAR"
  ${ROBO_LINES[@]+"${ROBO_LINES[@]}"}
)
env_tmp="$CACHE/jvm.env.tmp.$$"
for l in "${LINES[@]}"; do
  printf 'export %s=%q\n' "${l%%=*}" "${l#*=}"
done >"$env_tmp"
mv "$env_tmp" "$CACHE/jvm.env"
cat "$CACHE/jvm.env"
