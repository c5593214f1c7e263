#!/usr/bin/env bash
# Build the AAR on a machine with the Android SDK + NDK and Gradle 8.9+:
#   1. the .so per ABI (build-android-libs.sh), 2. the Kotlin bindings (scripts/gen-bindings.sh),
#   3. `gradle :paycode:assembleRelease` → android/paycode/build/outputs/aar/paycode-release.aar
#
# Usage: android/scripts/build-aar.sh [ABI...]
# Env: GRADLE (default: ./gradlew if present, else gradle), ANDROID_NDK_HOME, ANDROID_HOME
set -euo pipefail
cd "$(dirname "$0")/../.."
android/scripts/build-android-libs.sh "$@"
scripts/gen-bindings.sh
cd android
GRADLE="${GRADLE:-$([[ -x ./gradlew ]] && echo ./gradlew || echo gradle)}"
"$GRADLE" :paycode:assembleRelease
ls -l paycode/build/outputs/aar/
