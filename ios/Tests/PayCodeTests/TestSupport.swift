import Foundation
import XCTest

@testable import PayCode

/// 2026-11-22T10:00:00Z: the wallet tests run on a test clock.
let t0Ms: Int64 = 1_795_341_600_000
let issuerSecret = Data((0..<32).map { UInt8(0x40 + $0) })

// The test-only errors of the test issuer read as their Rust messages too.
extension RedeemError: CustomStringConvertible {}
extension VectorError: CustomStringConvertible {}

/// docs/test-vectors.json, read generically: the `vectors` array of objects.
func testVectors() throws -> [[String: Any]] {
    // ios/Tests/PayCodeTests/TestSupport.swift → the repository root
    let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/test-vectors.json")
    let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
    return try XCTUnwrap(root?["vectors"] as? [[String: Any]], "no vectors array in \(url.path)")
}

/// A vector's field as an integer (JSON numbers, or decimal strings such as `identity_field`).
func integer(_ vector: [String: Any], _ key: String) throws -> Int64 {
    if let text = vector[key] as? String, let value = Int64(text) {
        return value
    }
    if let number = vector[key] as? NSNumber {
        return number.int64Value
    }
    throw VectorFieldError(description: "vector field \(key) is not an integer: \(String(describing: vector[key]))")
}

/// A malformed vector fails the test that reads it (never skips it).
struct VectorFieldError: Error, CustomStringConvertible {
    let description: String
}

func string(_ vector: [String: Any], _ key: String) throws -> String {
    try XCTUnwrap(vector[key] as? String, "vector field \(key) is not a string")
}

/// A SecretStore in a dictionary, with switches to fail like a locked or broken keystore.
final class MemoryStore: SecretStore, @unchecked Sendable {
    // @unchecked: every field is only touched under `lock`.
    private let lock = NSLock()
    private var entries: [String: Data] = [:]
    private var isLocked = false
    private var throwsUnexpected = false

    var locked: Bool {
        get { lock.withLock { isLocked } }
        set { lock.withLock { isLocked = newValue } }
    }

    var throwUnexpected: Bool {
        get { lock.withLock { throwsUnexpected } }
        set { lock.withLock { throwsUnexpected = newValue } }
    }

    var names: [String] { lock.withLock { Array(entries.keys).sorted() } }

    private func check() throws {
        if throwsUnexpected {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "keystore exploded"])
        }
        if isLocked {
            throw StoreError.Locked
        }
    }

    func put(name: String, value: Data) throws {
        try lock.withLock {
            try check()
            entries[name] = value
        }
    }

    func get(name: String) throws -> Data? {
        try lock.withLock {
            try check()
            return entries[name]
        }
    }

    func delete(name: String) throws {
        try lock.withLock {
            try check()
            entries[name] = nil
        }
    }
}

/// The app's HTTP stack, as a test: an async Swift `Backend` that routes the wallet's signed
/// requests to the in-process test issuer (as URLSession would POST them), and can simulate no
/// network, slowness per operation and failures.
final class IssuerBackend: Backend, @unchecked Sendable {
    // @unchecked: every var is only touched under `lock`.
    private let lock = NSLock()
    let issuer: TestIssuer
    private var isOffline = false
    private var delays: [PayCodeBindings.Operation: UInt64] = [:]
    private var failure: (any Error)?
    private var failing: Set<PayCodeBindings.Operation> = []
    private var seen: [BackendRequest] = []
    private var cancellations: [PayCodeBindings.Operation] = []

    init(issuer: TestIssuer) {
        self.issuer = issuer
    }

    var offline: Bool {
        get { lock.withLock { isOffline } }
        set { lock.withLock { isOffline = newValue } }
    }

    /// Throw this error from every request (nil: answer normally).
    var failWith: (any Error)? {
        get { lock.withLock { failure } }
        set { lock.withLock { failure = newValue } }
    }

    /// These operations fail with a transport error (a broken route).
    var failingOperations: Set<PayCodeBindings.Operation> {
        get { lock.withLock { failing } }
        set { lock.withLock { failing = newValue } }
    }

    func delay(_ operation: PayCodeBindings.Operation, ms: UInt64) {
        lock.withLock { delays[operation] = ms }
    }

    var requests: [BackendRequest] { lock.withLock { seen } }

    /// Operations whose in-flight call was cancelled (its Task saw the cancellation).
    var cancelled: [PayCodeBindings.Operation] { lock.withLock { cancellations } }

    func send(request: BackendRequest) async throws -> BackendResponse {
        let (delay, failure, offline, broken) = lock.withLock {
            seen.append(request)
            return (delays[request.operation] ?? 0, self.failure, isOffline, failing.contains(request.operation))
        }
        if delay > 0 {
            do {
                try await Task.sleep(nanoseconds: delay * 1_000_000)
            } catch {
                lock.withLock { cancellations.append(request.operation) }
                throw error
            }
        }
        if let failure {
            throw failure
        }
        if offline {
            throw BackendError.Offline
        }
        if broken {
            throw BackendError.Transport(reason: "route down for \(request.operation)")
        }
        return issuer.handle(request: request)
    }
}

/// Records pushed states.
final class RecordingListener: CodeListener, @unchecked Sendable {
    private let lock = NSLock()
    private var states: [PaymentCodeState] = []

    func onState(state: PaymentCodeState) {
        lock.withLock { states.append(state) }
    }

    var received: [PaymentCodeState] { lock.withLock { states } }
}

/// A wallet, its issuer, store, backend and clock.
final class Fixture: @unchecked Sendable {
    let clock = TestClock(unixMs: t0Ms)
    let issuer: TestIssuer
    let store = MemoryStore()
    let backend: IssuerBackend
    let wallet: Wallet

    init(policy: FallbackPolicy = .offlineFirst, onlineBudgetMs: UInt32 = 1_000, validityDays: UInt32 = 7) throws {
        issuer = try TestIssuer(issuerSecret: issuerSecret, prefix: 28, validityDays: validityDays, clock: clock)
        backend = IssuerBackend(issuer: issuer)
        wallet = Wallet.withTestClock(config: Fixture.config(policy, onlineBudgetMs), store: store, backend: backend, clock: clock)
    }

    static func config(_ policy: FallbackPolicy, _ onlineBudgetMs: UInt32 = 1_000) -> WalletConfig {
        WalletConfig(policy: policy, onlineBudgetMs: onlineBudgetMs, platform: "swift test")
    }

    @discardableResult
    func provision(_ token: String = "login-\(UUID())") throws -> Fixture {
        issuer.allowLogin(token: token)
        try wallet.provision(loginToken: token)
        return self
    }

    /// The same store and backend, as after a restart of the app.
    func reopened(policy: FallbackPolicy = .offlineFirst) -> Wallet {
        Wallet.withTestClock(config: Fixture.config(policy), store: store, backend: backend, clock: clock)
    }
}

func code(_ state: PaymentCodeState, file: StaticString = #filePath, line: UInt = #line) throws -> PaymentCode {
    guard case .code(let code) = state else {
        XCTFail("expected a code, got \(state)", file: file, line: line)
        throw CancellationError()
    }
    return code
}

/// Polls `condition` every 10 ms for up to `seconds`.
func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline {
            return false
        }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return true
}

/// `error` as the given type, or a test failure.
func expect<E: Error, T>(
    _ expected: E.Type, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) -> E? {
    do {
        let value = try body()
        XCTFail("expected \(E.self), got \(value)", file: file, line: line)
    } catch let error as E {
        return error
    } catch {
        XCTFail("expected \(E.self), got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

/// The first state of `stream` that satisfies `predicate`, within `seconds`; nil on timeout or
/// when the stream ends. (A stream has one consumer at a time: call this sequentially.)
func first(
    _ stream: AsyncStream<PaymentCodeState>,
    within seconds: Double = 5,
    where predicate: @escaping @Sendable (PaymentCodeState) -> Bool = { _ in true }
) async -> PaymentCodeState? {
    await withTaskGroup(of: PaymentCodeState?.self) { group in
        group.addTask {
            for await state in stream where predicate(state) {
                return state
            }
            return nil
        }
        group.addTask {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            return nil
        }
        let result = await group.next() ?? nil
        group.cancelAll()
        return result
    }
}

func isCode(_ state: PaymentCodeState) -> Bool {
    if case .code = state { return true }
    return false
}
