#!/usr/bin/env bash
# Build libpaycode_ffi.so for each Android ABI with the NDK (via cargo-ndk) into
# android/paycode/src/main/jniLibs/<abi>/, 16 KB page-aligned (required by Google Play for
# Android 15+ devices), with the size profile.
#
# Usage: android/scripts/build-android-libs.sh [ABI...]   (default: arm64-v8a armeabi-v7a x86_64)
# Needs: ANDROID_NDK_HOME (NDK r27+; r28+ aligns to 16 KB by default), rustup, cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
ABIS=("$@")
[[ ${#ABIS[@]} -gt 0 ]] || ABIS=(arm64-v8a armeabi-v7a x86_64)
[[ -n "${ANDROID_NDK_HOME:-}" ]] || { echo "build-android-libs: set ANDROID_NDK_HOME to an NDK (r27+)" >&2; exit 2; }

declare -A RUST_TARGET=(
  [arm64-v8a]=aarch64-linux-android
  [armeabi-v7a]=armv7-linux-androideabi
  [x86_64]=x86_64-linux-android
  [x86]=i686-linux-android
)
command -v cargo-ndk >/dev/null || cargo install --locked cargo-ndk
ARGS=()
for abi in "${ABIS[@]}"; do
  target="${RUST_TARGET[$abi]:?unknown ABI $abi}"
  rustup target add "$target"
  ARGS+=(-t "$abi")
done
# 16 KB pages: ELF segments aligned to 16 KiB so the library loads on 16 KB-page kernels.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,common-page-size=16384"
cargo ndk "${ARGS[@]}" --platform 24 -o android/paycode/src/main/jniLibs \
  build -p paycode-ffi --lib --profile release-mobile
ls -l android/paycode/src/main/jniLibs/*/libpaycode_ffi.so
