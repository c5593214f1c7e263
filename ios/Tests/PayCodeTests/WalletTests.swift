import Foundation
import XCTest

@testable import PayCode

/// The real wallet, provisioned through a Swift `Backend` by the in-process test issuer.
final class WalletTests: XCTestCase {
    func testAnUnprovisionedWalletAsksForLogin() throws {
        let f = try Fixture()
        XCTAssertEqual(f.wallet.current(), .needsLogin)
        XCTAssertFalse(f.wallet.isProvisioned())
        let e = expect(WalletError.self) { try f.wallet.sync() }
        XCTAssertEqual(e, .NotProvisioned)
        XCTAssertEqual(e?.localizedDescription, "this wallet is not provisioned: log in")
    }

    func testProvisioningThroughTheSwiftBackendGivesCodesTheIssuerAcceptsOnce() throws {
        let f = try Fixture().provision()
        XCTAssertTrue(f.wallet.isProvisioned())
        XCTAssertEqual(f.backend.requests.first?.operation, .provision)
        XCTAssertTrue(f.store.names.contains { $0.hasPrefix("paycode.") }, "\(f.store.names)")
        let shown = try code(f.wallet.current())
        XCTAssertEqual(shown.source, .offline)
        XCTAssertEqual(shown.display, try formatCode(text: shown.digits))
        XCTAssertTrue(shown.refreshAtMs > t0Ms && shown.expiresAtMs > shown.refreshAtMs)
        // One boundary crossing per code: asking again shows the same code.
        XCTAssertEqual(try code(f.wallet.current()), shown)

        let redeemed = try f.issuer.redeem(code: shown.digits)
        XCTAssertEqual(redeemed.counter, 0)
        let again = expect(RedeemError.self) { try f.issuer.redeem(code: shown.digits) }
        guard case .Rejected(let kind, _)? = again else { return XCTFail("accepted twice") }
        XCTAssertEqual(kind, "Replayed")
    }

    func testANewCodeEveryStep() throws {
        let f = try Fixture().provision()
        let first = try code(f.wallet.current())
        f.clock.advanceMs(deltaMs: first.refreshAtMs - f.clock.nowMs())
        let second = try code(f.wallet.handle(event: .tick))
        XCTAssertNotEqual(first.digits, second.digits)
        XCTAssertEqual(second.refreshAtMs, first.refreshAtMs + 60_000)
        _ = try f.issuer.redeem(code: second.digits)
    }

    func testScreenshotForegroundPaymentAndManualRefreshEachShowANeverShownCode() throws {
        let f = try Fixture().provision()
        var seen = [try code(f.wallet.current()).digits]
        for event: WalletEvent in [.screenshot, .foreground, .paymentCompleted, .manualRefresh] {
            let next = try code(f.wallet.handle(event: event))
            XCTAssertFalse(seen.contains(next.digits), "\(event) re-showed a code")
            seen.append(next.digits)
        }
        // The newest one pays; every older one is dead (voided by the screenshot's asynchronous
        // void if it has arrived, else superseded by the newer payment).
        _ = try f.issuer.redeem(code: seen.last!)
        let old = expect(RedeemError.self) { try f.issuer.redeem(code: seen.first!) }
        guard case .Rejected(let kind, _)? = old else { return XCTFail("an old code paid") }
        XCTAssertTrue(["Superseded", "Voided"].contains(kind), kind)
    }

    func testAScreenshotVoidsTheCapturedCodeAtTheIssuer() throws {
        let f = try Fixture().provision()
        let captured = try code(f.wallet.current())
        _ = try code(f.wallet.handle(event: .screenshot))
        XCTAssertTrue(eventually { f.issuer.operations().contains(.void) }, "no void sent: \(f.issuer.operations())")
        let e = expect(RedeemError.self) { try f.issuer.redeem(code: captured.digits) }
        guard case .Rejected(let kind, _)? = e else { return XCTFail("the captured code paid") }
        XCTAssertEqual(kind, "Voided")
    }

    func testBackgroundAndCaptureHideTheCodeAndShowingAgainNeverReShowsIt() throws {
        let f = try Fixture().provision()
        let before = try code(f.wallet.current())
        XCTAssertEqual(f.wallet.handle(event: .background), .hidden)
        XCTAssertEqual(f.wallet.current(), .hidden)
        let foreground = try code(f.wallet.handle(event: .foreground))
        XCTAssertNotEqual(before.digits, foreground.digits)
        XCTAssertEqual(f.wallet.handle(event: .screenCaptureStarted), .hidden)
        XCTAssertEqual(f.wallet.current(), .hidden)
        XCTAssertEqual(f.wallet.handle(event: .screenshot), .hidden) // still being captured
        let after = try code(f.wallet.handle(event: .screenCaptureStopped))
        XCTAssertNotEqual(foreground.digits, after.digits)
        _ = try code(f.wallet.handle(event: .networkAvailable(available: false)))
        _ = try code(f.wallet.handle(event: .networkAvailable(available: true)))
    }

    func testTenCodesPerStepThenExhaustedUntilTheNextStep() throws {
        let f = try Fixture(policy: .offlineOnly).provision()
        var state = f.wallet.current()
        _ = try code(state)
        for _ in 0..<9 {
            state = f.wallet.handle(event: .manualRefresh)
        }
        _ = try code(state)
        guard case .exhausted(let retryAtMs) = f.wallet.handle(event: .manualRefresh) else {
            return XCTFail("an 11th code in one step")
        }
        f.clock.advanceMs(deltaMs: retryAtMs - f.clock.nowMs())
        _ = try code(f.wallet.handle(event: .tick))
    }

    func testAProtocol1WalletMovesToProtocol2AtItsNextSyncMidWindow() throws {
        // Provisioned on protocol 1 (ten codes a step); a code shown before the switch, not paid yet.
        let f = try Fixture(policy: .offlineOnly).provision()
        let before = try code(f.wallet.current())
        f.issuer.switchToProtocol2()
        f.clock.advanceMs(deltaMs: 20_000) // the sync comes in the middle of the code's step
        try f.wallet.sync()
        let credEntries = f.store.names.filter { $0.contains(".cred.") }
        XCTAssertGreaterThan(credEntries.count, 1, "the ~87 KB protocol-2 bundle is stored in chunks: \(f.store.names)")
        // The code made before the sync still pays within its window; the next one is a
        // protocol-2 code (a protocol-1 code of a step after the sync would be refused).
        _ = try f.issuer.redeem(code: before.digits)
        f.clock.advanceMs(deltaMs: 60_000)
        let after = try code(f.wallet.handle(event: .tick))
        XCTAssertNotEqual(before.digits, after.digits)
        _ = try f.issuer.redeem(code: after.digits)
        // Protocol 2 has 4 codes a step (PROTOCOL.md §12.3): the 5th is exhausted.
        var state = f.wallet.current()
        for _ in 0..<3 {
            state = f.wallet.handle(event: .manualRefresh)
        }
        _ = try code(state)
        guard case .exhausted = f.wallet.handle(event: .manualRefresh) else {
            return XCTFail("a 5th protocol-2 code in one step")
        }
    }

    func testCodesKeepComingOfflineWithNoNetworkAtAll() throws {
        let f = try Fixture().provision()
        f.backend.offline = true
        _ = f.wallet.handle(event: .networkAvailable(available: false))
        for _ in 0..<5 {
            f.clock.advanceMs(deltaMs: 60_000)
            _ = try f.issuer.redeem(code: try code(f.wallet.handle(event: .tick)).digits)
        }
    }

    func testErrorsMapToTypedErrorsWithReadableMessages() throws {
        let f = try Fixture()
        let rejected = expect(WalletError.self) { try f.wallet.provision(loginToken: "nobody") }
        guard case .Rejected(let status, let errorCode, let reason)? = rejected else { return XCTFail("\(String(describing: rejected))") }
        XCTAssertEqual(status, 401)
        XCTAssertEqual(errorCode, "invalid_login")
        XCTAssertEqual(rejected?.localizedDescription, "the issuer refused (401 invalid_login): \(reason)")
        XCTAssertEqual(expect(WalletError.self) { try f.wallet.provision(loginToken: "") }.map { "\($0)" }.map { $0.hasPrefix("invalid input: ") }, true)

        f.issuer.allowLogin(token: "t")
        f.backend.offline = true
        XCTAssertEqual(expect(WalletError.self) { try f.wallet.provision(loginToken: "t") }, .Offline)
        f.backend.offline = false
        f.backend.failWith = BackendError.Transport(reason: "TLS handshake failed")
        let network = expect(WalletError.self) { try f.wallet.provision(loginToken: "t") }
        XCTAssertEqual(network, .Network(reason: "TLS handshake failed"))
        XCTAssertEqual(network?.localizedDescription, "network error: TLS handshake failed")
        // A Swift error the Backend did not declare still arrives as a network error.
        f.backend.failWith = CocoaError(.fileNoSuchFile)
        let unexpected = expect(WalletError.self) { try f.wallet.provision(loginToken: "t") }
        guard case .Network(let why)? = unexpected else { return XCTFail("\(String(describing: unexpected))") }
        XCTAssertTrue(why.contains("unexpected"), why)
        f.backend.failWith = nil
        f.store.locked = true
        XCTAssertEqual(expect(WalletError.self) { try f.wallet.provision(loginToken: "t") }, .Locked)
        f.store.locked = false
        f.store.throwUnexpected = true
        let store = expect(WalletError.self) { try f.wallet.provision(loginToken: "t") }
        guard case .Store(let storeReason)? = store else { return XCTFail("\(String(describing: store))") }
        XCTAssertEqual(store?.localizedDescription, storeReason)
        XCTAssertFalse(f.wallet.isProvisioned())
    }

    /// Policy table (docs/WALLET.md), credentials valid, network up: OnlineFirst shows an online
    /// code fetched through the Swift backend, and the issuer accepts it.
    func testOnlineFirstShowsAnOnlineCodeFromTheSwiftBackend() throws {
        let f = try Fixture(policy: .onlineFirst).provision()
        var state = f.wallet.current()
        if case .loading = state {
            XCTAssertTrue(eventually {
                state = f.wallet.current()
                if case .code = state { return true }
                return false
            }, "still \(state)")
        }
        let online = try code(state)
        XCTAssertEqual(online.source, .online)
        XCTAssertTrue(f.backend.requests.contains { $0.operation == .onlineCode })
        _ = try f.issuer.redeem(code: online.digits)
    }

    /// OnlineFirst on a slow network: Loading for at most the budget, then an offline code; the
    /// Swift Task of the request still in flight is cancelled when the wallet gives up on it.
    func testAnInFlightAsyncBackendCallIsCancelledAndTheWalletFallsBackOffline() throws {
        let f = try Fixture(policy: .onlineFirst, onlineBudgetMs: 300)
        f.backend.delay(.onlineCode, ms: 30_000)
        try f.provision()
        let state = f.wallet.current()
        guard case .loading(let untilMs) = state else { return XCTFail("expected Loading, got \(state)") }
        XCTAssertEqual(untilMs, f.clock.nowMs() + 300)
        f.clock.advanceMs(deltaMs: 300)
        let fallback = try code(f.wallet.current())
        XCTAssertEqual(fallback.source, .offline)
        _ = try f.issuer.redeem(code: fallback.digits)
        // The request's timeout is the budget (plus a short grace): the future is dropped and the
        // Swift task sleeping in `send` sees the cancellation, long before its 30 s.
        XCTAssertTrue(eventually(5) { f.backend.cancelled.contains(.onlineCode) }, "not cancelled: \(f.backend.cancelled)")
    }

    /// Policy table rows through the Swift backend: valid credentials and no network give an
    /// offline code even with OnlineFirst; with expired credentials and the network down the
    /// screen asks for the network, OfflineOnly asks for it with the network up too, and
    /// OfflineFirst asks the issuer for an online code when the network is up.
    func testThePolicyTableRowsThroughTheSwiftBackend() throws {
        let f = try Fixture(policy: .onlineFirst, validityDays: 2)
        // No top-up ever reaches the issuer (a background one racing the clock below could
        // otherwise renew the credential): it runs out after 2 days.
        f.backend.failingOperations = [.sync]
        try f.provision()
        f.backend.offline = true
        _ = f.wallet.handle(event: .networkAvailable(available: false))
        XCTAssertEqual(try code(f.wallet.handle(event: .manualRefresh)).source, .offline)

        // The credential runs out.
        f.clock.advanceMs(deltaMs: 3 * 86_400_000)
        XCTAssertEqual(f.wallet.handle(event: .tick), .needsNetwork)
        let offlineOnly = f.reopened(policy: .offlineOnly)
        XCTAssertEqual(offlineOnly.handle(event: .foreground), .needsNetwork)

        // Network up, but the top-up route is still down: the credential stays expired.
        f.backend.offline = false
        let offlineFirst = f.reopened(policy: .offlineFirst)
        _ = offlineFirst.handle(event: .networkAvailable(available: true))
        _ = offlineFirst.handle(event: .foreground)
        XCTAssertTrue(
            eventually { f.issuer.operations().contains(.onlineCode) },
            "OfflineFirst did not ask for an online code: \(f.issuer.operations())"
        )
    }

    func testALockedKeystoreShowsLocked() throws {
        let f = try Fixture().provision()
        f.store.locked = true
        let reopened = f.reopened()
        XCTAssertEqual(reopened.current(), .locked)
        f.store.locked = false
        _ = try code(reopened.handle(event: .foreground))
    }

    func testCredentialsSurviveARestartOfTheApp() throws {
        let f = try Fixture().provision()
        let shown = try code(f.wallet.current())
        let reopened = f.reopened()
        let next = try code(reopened.current())
        XCTAssertNotEqual(shown.digits, next.digits) // never re-shown, even across restarts
        _ = try f.issuer.redeem(code: next.digits)
    }

    func testSyncPauseResumeAndLogoutWhichWipesTheStore() throws {
        let f = try Fixture().provision()
        try f.wallet.sync()
        try f.wallet.pause()
        XCTAssertEqual(f.wallet.current(), .paused)
        try f.wallet.resume()
        _ = try code(f.wallet.current())
        XCTAssertFalse(f.store.names.isEmpty)
        XCTAssertTrue(try f.wallet.logout())
        XCTAssertEqual(f.wallet.current(), .needsLogin)
        XCTAssertEqual(f.store.names, [], "left in the store")
        XCTAssertEqual(
            f.issuer.operations().filter { $0 != .void && $0 != .onlineCode },
            [.provision, .sync, .pause, .resume, .logout]
        )
        // A restarted app finds nothing either.
        XCTAssertEqual(f.reopened().current(), .needsLogin)
    }

    func testARevokedDeviceIsToldToLogIn() throws {
        let f = try Fixture().provision()
        let id = try f.issuer.redeem(code: try code(f.wallet.current()).digits).deviceId
        f.issuer.revoke(deviceId: id)
        let e = expect(WalletError.self) { try f.wallet.sync() }
        guard case .Rejected(_, let errorCode, _)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(errorCode, "device_revoked")
        XCTAssertEqual(f.wallet.current(), .needsLogin)
    }

    func testTheListenerHearsPushedStates() throws {
        let f = try Fixture()
        let listener = RecordingListener()
        f.wallet.setListener(listener: listener)
        try f.provision()
        XCTAssertTrue(eventually { !listener.received.isEmpty })
        f.wallet.setListener(listener: nil)
    }

    func testManyTasksCallCurrentAtOnce() async throws {
        let f = try Fixture().provision()
        let wallet = f.wallet
        let results = await withTaskGroup(of: (codes: Set<String>, others: [PaymentCodeState]).self) { group in
            for t in 0..<16 {
                group.addTask {
                    var codes = Set<String>()
                    var others: [PaymentCodeState] = []
                    for i in 0..<200 {
                        let state: PaymentCodeState
                        switch (i + t) % 4 {
                        case 0, 1: state = wallet.current()
                        case 2: state = wallet.handle(event: .tick)
                        default: state = wallet.handle(event: .manualRefresh)
                        }
                        switch state {
                        case .code(let code): codes.insert(code.digits)
                        // Past the step's 10 codes: wait, or an online code is on its way.
                        case .exhausted, .loading: break
                        default: others.append(state)
                        }
                    }
                    return (codes, others)
                }
            }
            var all: [(codes: Set<String>, others: [PaymentCodeState])] = []
            for await result in group {
                all.append(result)
            }
            return all
        }
        XCTAssertEqual(results.count, 16)
        XCTAssertEqual(Set(results.flatMap(\.others).map { "\($0)" }), [])
        let codes = results.reduce(into: Set<String>()) { $0.formUnion($1.codes) }
        // One step: at most its 10 codes, each a real one.
        XCTAssertTrue((1...10).contains(codes.count), "\(codes.count) distinct codes in one step")
        for digits in codes {
            XCTAssertNoThrow(try parseCode(text: digits))
        }
    }
}
