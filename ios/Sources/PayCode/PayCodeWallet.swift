import Foundation

extension PaymentCodeState {
    /// When the payment screen should ask for the state again (device clock, Unix ms), or nil
    /// when only an event or a pushed state can change it.
    public var refreshAtMs: Int64? {
        switch self {
        case .code(let code):
            return code.refreshAtMs
        case .loading(let untilMs):
            return untilMs
        case .exhausted(let retryAtMs):
            return retryAtMs
        default:
            return nil
        }
    }
}

/// Hands pushed states to every open stream. Called by the wallet on its worker threads.
final class StateFanOut: CodeListener, @unchecked Sendable {
    // @unchecked: `continuations` is only touched under `lock`.
    private let lock = NSLock()
    private var continuations: [UUID: AsyncStream<PaymentCodeState>.Continuation] = [:]

    func onState(state: PaymentCodeState) {
        lock.lock()
        let targets = Array(continuations.values)
        lock.unlock()
        for continuation in targets {
            continuation.yield(state)
        }
    }

    func add(_ id: UUID, _ continuation: AsyncStream<PaymentCodeState>.Continuation) {
        lock.lock()
        continuations[id] = continuation
        lock.unlock()
    }

    func remove(_ id: UUID) {
        lock.lock()
        continuations[id] = nil
        lock.unlock()
    }
}

/// The idiomatic Swift face of `Wallet`: an `AsyncStream` of states to draw, `async` functions
/// for the network operations (run off the caller's actor), thrown `WalletError`s.
///
/// Each stream from `states()` yields the current state, every state the wallet pushes (after
/// background work), every state returned by `handle(_:)`, and re-reads the state when the shown
/// one's `refreshAtMs` passes — a new code each step with no timer of your own.
public final class PayCodeWallet: Sendable {
    /// The underlying wallet, for calls not wrapped here.
    public let wallet: Wallet
    private let fanOut = StateFanOut()

    public init(wallet: Wallet) {
        self.wallet = wallet
        wallet.setListener(listener: fanOut)
    }

    /// A wallet over the Keychain and the app's `Backend`.
    public convenience init(backend: Backend, policy: FallbackPolicy = .offlineFirst, namespace: String = "paycode") {
        let config = WalletConfig(policy: policy, namespace: namespace, platform: "ios")
        self.init(wallet: Wallet(config: config, store: KeychainSecretStore(), backend: backend))
    }

    deinit {
        wallet.setListener(listener: nil)
    }

    /// States to draw, starting with the current one. Iterate it on the main actor.
    public func states() -> AsyncStream<PaymentCodeState> {
        let id = UUID()
        let wallet = self.wallet
        let fanOut = self.fanOut
        return AsyncStream { continuation in
            fanOut.add(id, continuation)
            let timer = Task.detached {
                var state = wallet.current()
                continuation.yield(state)
                // Re-read at each refresh time; pushes arrive through the fan-out meanwhile.
                while !Task.isCancelled {
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    let wait = max(0, (state.refreshAtMs ?? now + 1_000) - now)
                    try? await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000)
                    if Task.isCancelled { break }
                    let next = wallet.current()
                    if next != state {
                        state = next
                        continuation.yield(next)
                    }
                }
            }
            continuation.onTermination = { _ in
                timer.cancel()
                fanOut.remove(id)
            }
        }
    }

    /// What to show now (one boundary crossing; never blocks).
    public func current() -> PaymentCodeState { wallet.current() }

    /// Forwards a platform event; the new state also goes to every stream. Never blocks.
    @discardableResult
    public func handle(_ event: WalletEvent) -> PaymentCodeState {
        let state = wallet.handle(event: event)
        fanOut.onState(state: state)
        return state
    }

    /// Registers this device with a login token. Blocks a background thread, not the caller.
    public func provision(loginToken: String) async throws {
        let wallet = self.wallet
        try await Task.detached { try wallet.provision(loginToken: loginToken) }.value
    }

    /// Tops up / rotates credentials.
    public func sync() async throws {
        let wallet = self.wallet
        try await Task.detached { try wallet.sync() }.value
    }

    /// Wipes local secrets, then tells the issuer; true if it confirmed.
    @discardableResult
    public func logout() async throws -> Bool {
        let wallet = self.wallet
        return try await Task.detached { try wallet.logout() }.value
    }

    /// Pauses payment codes at the issuer.
    public func pause() async throws {
        let wallet = self.wallet
        try await Task.detached { try wallet.pause() }.value
    }

    /// Resumes payment codes.
    public func resume() async throws {
        let wallet = self.wallet
        try await Task.detached { try wallet.resume() }.value
    }
}
