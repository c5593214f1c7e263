import Foundation
import XCTest

@testable import PayCode

/// Runs on a Mac with `swift test` (see ios/README.md) against the macOS slice of the
/// XCFramework: the same Rust library the phones get.
final class PayCodeTests: XCTestCase {
    private func vectors() throws -> [[String: Any]] {
        // ios/Tests/PayCodeTests → repository root → docs/test-vectors.json
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/test-vectors.json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        return try XCTUnwrap(root?["vectors"] as? [[String: Any]])
    }

    func testParseAndFormatAgreeWithTheVectors() throws {
        let vectors = try vectors()
        XCTAssertGreaterThanOrEqual(vectors.count, 24)
        for vector in vectors {
            let code = try XCTUnwrap(vector["code"] as? String)
            let display = try XCTUnwrap(vector["display"] as? String)
            let parsed = try parseCode(text: code)
            XCTAssertEqual(parsed.digits, code)
            XCTAssertEqual(parsed.display, display)
            XCTAssertEqual(try formatCode(text: display), display)
        }
    }

    func testMalformedCodesThrowTypedErrors() {
        XCTAssertThrowsError(try parseCode(text: "12345")) { error in
            guard case CodeError.WrongLength(let found) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(found, 5)
            XCTAssertTrue(error.localizedDescription.contains("18 digits"), error.localizedDescription)
        }
    }

    func testAnUnprovisionedWalletAsksForLoginAndStreamsIt() async throws {
        let wallet = PayCodeWallet(wallet: Wallet(
            config: WalletConfig(policy: .offlineFirst, namespace: "swift-test-\(UUID())", platform: "swift test"),
            store: MemoryStore(),
            backend: OfflineBackend()
        ))
        XCTAssertEqual(wallet.current(), .needsLogin)
        var iterator = wallet.states().makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first, .needsLogin)
        do {
            try await wallet.provision(loginToken: "token")
            XCTFail("provisioned without a network")
        } catch WalletError.Offline {
            // expected: the async Backend's error crossed Swift → Rust → Swift
        }
    }
}

final class MemoryStore: SecretStore, @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: Data] = [:]

    func put(name: String, value: Data) throws {
        lock.lock(); defer { lock.unlock() }
        entries[name] = value
    }

    func get(name: String) throws -> Data? {
        lock.lock(); defer { lock.unlock() }
        return entries[name]
    }

    func delete(name: String) throws {
        lock.lock(); defer { lock.unlock() }
        entries[name] = nil
    }
}

final class OfflineBackend: Backend {
    func send(request: BackendRequest) async throws -> BackendResponse {
        throw BackendError.Offline
    }
}
