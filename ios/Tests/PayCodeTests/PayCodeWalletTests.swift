import Foundation
import XCTest

@testable import PayCode

/// The async facade (`PayCodeWallet`) over the real wallet.
final class PayCodeWalletTests: XCTestCase {
    private func facade(_ f: Fixture) -> PayCodeWallet {
        let clock = f.clock
        return PayCodeWallet(wallet: f.wallet, nowMs: { clock.nowMs() })
    }

    func testAsyncProvisioningThenTheStreamShowsACodeTheIssuerAccepts() async throws {
        let f = try Fixture()
        let wallet = facade(f)
        let states = wallet.states()
        let initial = await first(states)
        XCTAssertEqual(initial, .needsLogin)
        f.issuer.allowLogin(token: "tok")
        try await wallet.provision(loginToken: "tok")
        XCTAssertTrue(wallet.isProvisioned)
        // The wallet pushes the new state to the stream after provisioning.
        let pushed = await first(states, where: isCode)
        let shown = try code(try XCTUnwrap(pushed, "no code pushed"))
        _ = try f.issuer.redeem(code: shown.digits)
        wallet.close()
    }

    func testFailuresAreThrownTypedErrorsWhoseLocalizedDescriptionIsTheMessage() async throws {
        let f = try Fixture()
        let wallet = facade(f)
        do {
            try await wallet.provision(loginToken: "unknown")
            XCTFail("provisioned with an unknown token")
        } catch let error as WalletError {
            guard case .Rejected(401, "invalid_login", _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.localizedDescription.hasPrefix("the issuer refused (401 invalid_login): "), error.localizedDescription)
        }
        do {
            try await wallet.sync()
            XCTFail("synced without a credential")
        } catch {
            XCTAssertEqual(error as? WalletError, .NotProvisioned)
            XCTAssertEqual(error.localizedDescription, "this wallet is not provisioned: log in")
        }
        f.backend.offline = true
        f.issuer.allowLogin(token: "t")
        do {
            try await wallet.provision(loginToken: "t")
            XCTFail("provisioned offline")
        } catch WalletError.Offline {
            // the async Backend's error crossed Swift → Rust → Swift
        }
    }

    /// The stream yields the current state first, then each state in the order `handle` made them.
    func testTheStreamYieldsStatesInOrder() async throws {
        let f = try Fixture().provision()
        let wallet = facade(f)
        let stream = wallet.states()
        let collector = Task { () -> [PaymentCodeState] in
            var seen: [PaymentCodeState] = []
            for await state in stream {
                seen.append(state)
                if seen.count == 6 { break }
            }
            return seen
        }
        var expected = [wallet.current()]
        for event: WalletEvent in [.background, .foreground, .screenCaptureStarted, .screenCaptureStopped, .manualRefresh] {
            expected.append(wallet.handle(event))
        }
        let timeout = Task {
            try await Task.sleep(nanoseconds: 10_000_000_000)
            collector.cancel()
        }
        let seen = await collector.value
        timeout.cancel()
        XCTAssertEqual(seen, expected)
        XCTAssertEqual(seen[1], .hidden)
        XCTAssertEqual(seen[3], .hidden)
        XCTAssertEqual(Set(seen.compactMap { state -> String? in
            if case .code(let code) = state { return code.digits }
            return nil
        }).count, 4, "a code was re-shown")
        wallet.close()
    }

    /// With no event at all, the stream moves to the next step's code when the shown one's
    /// `refreshAtMs` passes.
    func testTheStreamRereadsTheStateAtTheRefreshTime() async throws {
        let f = try Fixture().provision()
        let firstCode = try code(f.wallet.current())
        // 300 ms before the step ends.
        f.clock.advanceMs(deltaMs: firstCode.refreshAtMs - 300 - f.clock.nowMs())
        let wallet = facade(f)
        let states = wallet.states()
        let initial = await first(states)
        let shown = try code(try XCTUnwrap(initial))
        XCTAssertEqual(shown.refreshAtMs, firstCode.refreshAtMs)
        f.clock.advanceMs(deltaMs: 300)
        let started = Date()
        let reread = await first(states)
        let next = try code(try XCTUnwrap(reread, "no re-read"))
        XCTAssertNotEqual(next.digits, shown.digits)
        XCTAssertEqual(next.refreshAtMs, firstCode.refreshAtMs + 60_000)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        wallet.close()
    }

    /// A stream ends when its consumer's task is cancelled: the facade forgets it.
    func testAStreamTerminatesWhenItsConsumerIsCancelled() async throws {
        let f = try Fixture().provision()
        let wallet = facade(f)
        let stream = wallet.states()
        XCTAssertEqual(wallet.openStreams, 1)
        let consumer = Task {
            var count = 0
            for await _ in stream {
                count += 1
            }
            return count
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        consumer.cancel()
        let count = await consumer.value
        XCTAssertGreaterThanOrEqual(count, 1)
        XCTAssertEqual(wallet.openStreams, 0)
        // Events still work, and a new stream starts with the current state.
        let state = wallet.handle(.manualRefresh)
        let again = await first(wallet.states())
        XCTAssertEqual(again, state)
        wallet.close()
    }

    /// `close()` ends every stream: their iterators return nil; streams asked for later are empty.
    func testCloseEndsEveryStream() async throws {
        let f = try Fixture().provision()
        let wallet = facade(f)
        let streams = (0..<3).map { _ in wallet.states() }
        let consumers = streams.map { stream in
            Task { () -> Int in
                var count = 0
                for await _ in stream {
                    count += 1
                }
                return count
            }
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        wallet.close()
        for consumer in consumers {
            let count = await consumer.value
            XCTAssertGreaterThanOrEqual(count, 1)
        }
        XCTAssertEqual(wallet.openStreams, 0)
        let none = await first(wallet.states())
        XCTAssertNil(none)
        // The wallet itself still works.
        _ = try code(wallet.current())
    }

    func testLogoutThroughTheFacadeWipesTheStoreAndTheStreamAsksForLogin() async throws {
        let f = try Fixture().provision()
        let wallet = facade(f)
        let states = wallet.states()
        let before = await first(states)
        _ = try code(try XCTUnwrap(before))
        let confirmed = try await wallet.logout()
        XCTAssertTrue(confirmed)
        XCTAssertEqual(f.store.names, [])
        let last = await first(states) { $0 == .needsLogin }
        XCTAssertEqual(last, .needsLogin, "the stream did not hear the logout")
        XCTAssertEqual(wallet.current(), .needsLogin)
        wallet.close()
    }
}
