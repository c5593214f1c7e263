// swift-tools-version:6.0
// The Swift cost of getting the code to show: `wallet.current()` beside the floor of a uniffi call
// (docs/PERFORMANCE.md). A package of its own so that the library package builds without the
// test issuer it needs. Run on Linux: `scripts/test-swift.sh --bench [CALLS]` (release mode).
import PackageDescription

let package = Package(
    name: "PayCodeBench",
    platforms: [.macOS(.v12)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "PayCodeBench",
            dependencies: [.product(name: "PayCode", package: "ios")],
            path: "Sources/PayCodeBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
