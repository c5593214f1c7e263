#!/usr/bin/env bash
# Build ios/build/PayCodeFFI.xcframework on a Mac (Xcode 16+, rustup): static libraries for
# iOS devices (arm64), the iOS simulator (arm64 + x86_64) and macOS (arm64 + x86_64, so that
# `swift build` works on the Mac itself), each with the C header and module map,
# plus the generated Swift in Sources/PayCodeBindings.
#
# Usage: ios/scripts/build-xcframework.sh [--profile NAME]   (default release-mobile)
set -euo pipefail
cd "$(dirname "$0")/../.."
PROFILE=release-mobile
[[ "${1:-}" == "--profile" ]] && PROFILE="${2:?}"
[[ "$(uname)" == Darwin ]] || { echo "build-xcframework: needs macOS with Xcode" >&2; exit 2; }
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
TARGETS=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)

rustup target add "${TARGETS[@]}"
for target in "${TARGETS[@]}"; do
  cargo rustc -p paycode-ffi --lib --profile "$PROFILE" --target "$target" --crate-type staticlib
done
# The Swift API and the C header come from the host build (library mode reads its metadata).
cargo build -p paycode-ffi --lib
scripts/gen-bindings.sh --lib "$TARGET_DIR/debug/libpaycode_ffi.dylib"

OUT=ios/build
rm -rf "$OUT"
mkdir -p "$OUT/headers" "$OUT/ios-sim" "$OUT/macos"
cp ios/Generated/PayCodeFFI/PayCodeFFI.h ios/Generated/PayCodeFFI/module.modulemap "$OUT/headers/"
lib() { echo "$TARGET_DIR/$1/$PROFILE/libpaycode_ffi.a"; }
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$OUT/ios-sim/libpaycode_ffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$OUT/macos/libpaycode_ffi.a"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$OUT/headers" \
  -library "$OUT/ios-sim/libpaycode_ffi.a" -headers "$OUT/headers" \
  -library "$OUT/macos/libpaycode_ffi.a" -headers "$OUT/headers" \
  -output "$OUT/PayCodeFFI.xcframework"
echo "build-xcframework: $OUT/PayCodeFFI.xcframework"
