// swift-tools-version:6.0
// PayCode for iOS: the Rust core as an XCFramework (built by ios/scripts/build-xcframework.sh on a
// Mac), the uniffi-generated Swift API (Sources/PayCode/Generated, by scripts/gen-bindings.sh) and
// the thin hand-written layer (Keychain store, platform signals, AsyncStream facade).
// Swift 6 language mode: strict concurrency checking is on for the whole target.
import PackageDescription

let package = Package(
    name: "PayCode",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "PayCode", targets: ["PayCode"]),
    ],
    targets: [
        // Static libraries for iOS devices, the iOS simulator and macOS (for `swift test`), with
        // the C header and module map `PayCodeFFI` in each slice's Headers.
        .binaryTarget(name: "PayCodeFFI", path: "build/PayCodeFFI.xcframework"),
        .target(
            name: "PayCode",
            dependencies: ["PayCodeFFI"],
            path: "Sources/PayCode"
        ),
        .testTarget(
            name: "PayCodeTests",
            dependencies: ["PayCode"],
            path: "Tests/PayCodeTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
