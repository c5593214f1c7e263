import Dispatch
import Foundation
import PayCode

// A provisioned wallet (test issuer, OfflineOnly: no network in the loop), each call timed alone
// with DispatchTime (monotonic ns), the kinds interleaved in blocks of 1,000 so that drift hits
// them alike. Usage: PayCodeBench [callsPerKind] (default 200000). Needs the library built with
// the `test-issuer` feature (scripts/test-swift.sh --bench does it).

final class MemoryStore: SecretStore, @unchecked Sendable {
    // @unchecked: `entries` is only touched under `lock`.
    private let lock = NSLock()
    private var entries: [String: Data] = [:]
    func put(name: String, value: Data) throws { lock.withLock { entries[name] = value } }
    func get(name: String) throws -> Data? { lock.withLock { entries[name] } }
    func delete(name: String) throws { _ = lock.withLock { entries.removeValue(forKey: name) } }
}

final class IssuerBackend: Backend {
    let issuer: TestIssuer
    init(issuer: TestIssuer) { self.issuer = issuer }
    func send(request: BackendRequest) async throws -> BackendResponse { issuer.handle(request: request) }
}

let calls = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 200_000
let clock = TestClock(unixMs: 1_795_341_600_000)
let issuer = try TestIssuer(issuerSecret: Data(repeating: 7, count: 32), prefix: 28, validityDays: 7, clock: clock)
let wallet = Wallet.withTestClock(
    config: WalletConfig(policy: .offlineOnly, platform: "bench"),
    store: MemoryStore(),
    backend: IssuerBackend(issuer: issuer),
    clock: clock
)
issuer.allowLogin(token: "bench")
try wallet.provision(loginToken: "bench")
guard case .code = wallet.current() else { fatalError("no code to show") }
let facade = PayCodeWallet(wallet: wallet)

let kinds: [(String, () -> Void)] = [
    ("noop() free function", { noop() }),
    ("wallet.noop() method", { wallet.noop() }),
    ("wallet.current()", { _ = wallet.current() }),
    ("PayCodeWallet.current()", { _ = facade.current() }),
    // A free function with a string in and a record of two strings out, no wallet: what
    // moving such a record across costs by itself.
    ("parseCode(text:)", { _ = try? parseCode(text: "281675652589992104") }),
]
// Warm-up: caches, the allocator, lazy symbol binding.
for _ in 0..<30_000 {
    for (_, call) in kinds { call() }
}

var samples = kinds.map { _ in [UInt64](repeating: 0, count: calls) }
let block = 1_000
var done = 0
while done < calls {
    let n = min(block, calls - done)
    for (k, kind) in kinds.enumerated() {
        let call = kind.1
        for i in done..<(done + n) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            call()
            samples[k][i] = DispatchTime.now().uptimeNanoseconds - t0
        }
    }
    done += n
}
// The floor of the timer itself (two DispatchTime readings), for reading the medians.
var empty = [UInt64](repeating: 0, count: calls)
for i in 0..<calls {
    let t0 = DispatchTime.now().uptimeNanoseconds
    empty[i] = DispatchTime.now().uptimeNanoseconds - t0
}

func median(_ values: [UInt64]) -> Double { Double(values.sorted()[values.count / 2]) }
func p90(_ values: [UInt64]) -> Double { Double(values.sorted()[values.count * 9 / 10]) }
func micros(_ ns: Double) -> String { String(format: "%8.3f µs", ns / 1000) }
for (k, kind) in kinds.enumerated() {
    let name = kind.0.padding(toLength: 26, withPad: " ", startingAt: 0)
    print("\(name) median \(micros(median(samples[k])))   p90 \(micros(p90(samples[k])))   (\(calls) calls)")
}
print("\("timer alone".padding(toLength: 26, withPad: " ", startingAt: 0)) median \(micros(median(empty)))")
let medians = samples.map(median)
print(String(format: "ratio current/noop-function %.2fx   current/noop-method %.2fx", medians[2] / medians[0], medians[2] / medians[1]))
facade.close()
