// swift-tools-version:6.0
// PayCode for Swift: the Rust core (paycode-ffi), the uniffi-generated Swift API and a thin
// hand-written layer (Keychain store, platform signals, AsyncStream facade, readable errors).
//
// One manifest for both worlds (the manifest is compiled for the machine that builds):
// * Apple platforms: the core is the XCFramework `build/PayCodeFFI.xcframework`
//   (ios/scripts/build-xcframework.sh, on a Mac).
// * Linux: the core is the host `libpaycode_ffi.so`, seen through a system-library target (the
//   C header and a module map that links `paycode_ffi`, written by scripts/gen-bindings.sh);
//   pass its directory to the linker: `swift build -Xlinker -L<dir> -Xlinker -rpath -Xlinker <dir>`
//   (scripts/test-swift.sh does).
//
// Language modes (docs/adr/009-swift-package-and-readable-errors.md): the generated bindings are
// their own target in Swift 5 mode, because Swift 6.0.3 crashes compiling them in Swift 6 mode;
// the hand-written layer and the tests are Swift 6 mode (complete strict concurrency checking).
import PackageDescription

#if os(Linux)
let ffi: Target = .systemLibrary(name: "PayCodeFFI", path: "Generated/PayCodeFFILinux")
#else
let ffi: Target = .binaryTarget(name: "PayCodeFFI", path: "build/PayCodeFFI.xcframework")
#endif

let package = Package(
    name: "PayCode",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "PayCode", targets: ["PayCode"]),
    ],
    targets: [
        ffi,
        // uniffi's Swift (scripts/gen-bindings.sh writes Sources/PayCodeBindings/PayCode.swift).
        .target(
            name: "PayCodeBindings",
            dependencies: ["PayCodeFFI"],
            path: "Sources/PayCodeBindings",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The hand-written layer; re-exports PayCodeBindings, so apps `import PayCode` only.
        .target(
            name: "PayCode",
            dependencies: ["PayCodeBindings"],
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
