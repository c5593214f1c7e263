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

/// One stream of `states()`: yields a state only when it differs from the last one yielded, and
/// re-reads the wallet when the last one's `refreshAtMs` passes.
final class StateStream: @unchecked Sendable {
    // @unchecked: every mutable field is only touched under `lock`.
    private let lock = NSLock()
    private let wallet: Wallet
    private let nowMs: @Sendable () -> Int64
    private let continuation: AsyncStream<PaymentCodeState>.Continuation
    private var last: PaymentCodeState?
    private var timer: Task<Void, Never>?
    private var finished = false

    init(wallet: Wallet, nowMs: @escaping @Sendable () -> Int64, continuation: AsyncStream<PaymentCodeState>.Continuation) {
        self.wallet = wallet
        self.nowMs = nowMs
        self.continuation = continuation
    }

    /// Yields `state` if it is new; `reread` marks a timer's re-read (which, when it finds the
    /// same state, waits at least a second before trying again rather than spinning).
    func offer(_ state: PaymentCodeState, reread: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        guard !finished else { return }
        let changed = state != last
        if changed {
            last = state
            continuation.yield(state)
        } else if !reread {
            return
        }
        timer?.cancel()
        timer = nil
        guard let at = state.refreshAtMs else { return }
        var waitMs = max(0, at - nowMs())
        if !changed && waitMs == 0 {
            waitMs = 1_000
        }
        let wallet = self.wallet
        timer = Task.detached { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(waitMs) * 1_000_000)
            if Task.isCancelled { return }
            self?.offer(wallet.current(), reread: true)
        }
    }

    /// Ends the stream (its iterator returns nil) and stops its timer.
    func finish() {
        lock.lock()
        finished = true
        timer?.cancel()
        timer = nil
        lock.unlock()
        continuation.finish()
    }
}

/// Hands states to every open stream. Called by the wallet on its worker threads and by
/// `PayCodeWallet.handle(_:)`.
final class StateFanOut: CodeListener, @unchecked Sendable {
    // @unchecked: `streams` and `closed` are only touched under `lock`.
    private let lock = NSLock()
    private var streams: [UUID: StateStream] = [:]
    private var closed = false

    func onState(state: PaymentCodeState) {
        lock.lock()
        let targets = Array(streams.values)
        lock.unlock()
        for stream in targets {
            stream.offer(state)
        }
    }

    /// Adds a stream; false once the fan-out is closed.
    func add(_ id: UUID, _ stream: StateStream) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return false }
        streams[id] = stream
        return true
    }

    func remove(_ id: UUID) {
        lock.lock()
        streams[id] = nil
        lock.unlock()
    }

    /// How many streams are open (for tests).
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return streams.count
    }

    /// Finishes every stream; later `add`s fail.
    func close() {
        lock.lock()
        closed = true
        let targets = Array(streams.values)
        streams.removeAll()
        lock.unlock()
        for stream in targets {
            stream.finish()
        }
    }
}

/// The idiomatic Swift face of `Wallet`: an `AsyncStream` of states to draw, `async` functions
/// for the network operations (run off the caller's actor), thrown `WalletError`s whose
/// `localizedDescription` is the library's message.
///
/// Each stream from `states()` yields the current state first, then every state the wallet
/// pushes (after background work), every state returned by `handle(_:)`, and the re-read state
/// when the shown one's `refreshAtMs` passes — a new code each step with no timer of your own.
/// Equal consecutive states are yielded once. A stream ends when its consumer stops iterating
/// (task cancelled) or when `close()` is called.
public final class PayCodeWallet: Sendable {
    /// The underlying wallet, for calls not wrapped here.
    public let wallet: Wallet
    private let fanOut = StateFanOut()
    private let nowMs: @Sendable () -> Int64

    /// - Parameters:
    ///   - wallet: the wallet; this facade becomes its listener.
    ///   - nowMs: the device clock in Unix ms, for the refresh timers (tests pass their clock).
    public init(
        wallet: Wallet,
        nowMs: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    ) {
        self.wallet = wallet
        self.nowMs = nowMs
        wallet.setListener(listener: fanOut)
    }

    #if canImport(Security)
    /// A wallet over the Keychain (`KeychainSecretStore`) and the app's `Backend` (Apple
    /// platforms only).
    public convenience init(backend: Backend, policy: FallbackPolicy = .offlineFirst, namespace: String = "paycode") {
        let config = WalletConfig(policy: policy, namespace: namespace, platform: "ios")
        self.init(wallet: Wallet(config: config, store: KeychainSecretStore(), backend: backend))
    }
    #endif

    deinit {
        close()
    }

    /// States to draw, starting with the current one. Iterate it on the main actor.
    public func states() -> AsyncStream<PaymentCodeState> {
        let id = UUID()
        let wallet = self.wallet
        let fanOut = self.fanOut
        let nowMs = self.nowMs
        return AsyncStream(bufferingPolicy: .bufferingNewest(64)) { continuation in
            let stream = StateStream(wallet: wallet, nowMs: nowMs, continuation: continuation)
            continuation.onTermination = { _ in
                stream.finish()
                fanOut.remove(id)
            }
            // Subscribe before reading the current state, so that no push in between is lost.
            guard fanOut.add(id, stream) else {
                continuation.finish()
                return
            }
            stream.offer(wallet.current())
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

    /// Whether a credential is loaded.
    public var isProvisioned: Bool { wallet.isProvisioned() }

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

    /// Ends every stream and stops listening to the wallet (the wallet itself stays usable).
    /// Also done when the facade is released.
    public func close() {
        wallet.setListener(listener: nil)
        fanOut.close()
    }

    /// How many `states()` streams are open (for tests).
    var openStreams: Int { fanOut.count }
}
