import Foundation
import XCTest

@testable import PayCode

/// The pure helpers against docs/test-vectors.json, and the errors' faces, through the real library.
final class CodeHelpersTests: XCTestCase {
    func testThereAreVectors() throws {
        XCTAssertGreaterThanOrEqual(try testVectors().count, 24)
    }

    func testParseAndFormatAgreeWithEveryVector() throws {
        for vector in try testVectors() {
            let name = try string(vector, "name")
            let digits = try string(vector, "code")
            let display = try string(vector, "display")
            let parsed = try parseCode(text: digits)
            XCTAssertEqual(parsed.digits, digits, name)
            XCTAssertEqual(parsed.display, display, name)
            XCTAssertEqual(Int64(parsed.prefix), try integer(vector, "prefix"), name)
            XCTAssertEqual(Int64(parsed.identity), try integer(vector, "identity_field"), name)
            XCTAssertEqual(Int64(parsed.otp), try integer(vector, "otp"), name)
            XCTAssertEqual(try formatCode(text: digits), display, name)
            XCTAssertEqual(try parseCode(text: display), parsed, name)
            XCTAssertEqual(try parseCode(text: display.replacingOccurrences(of: " ", with: "-")), parsed, name)
        }
    }

    func testTheLibraryComputesEveryVectorsCodeFromItsInputs() throws {
        for vector in try testVectors() {
            let code = try vectorCode(
                issuerSecretHex: try string(vector, "issuer_secret"),
                epoch: UInt32(try integer(vector, "epoch")),
                prefix: UInt8(try integer(vector, "prefix")),
                stepSecs: UInt32(try integer(vector, "step_secs")),
                slot: UInt32(try integer(vector, "slot")),
                seedHex: try string(vector, "seed"),
                unixTime: try integer(vector, "unix_time"),
                counter: UInt8(try integer(vector, "counter"))
            )
            let name = try string(vector, "name")
            XCTAssertEqual(code, try string(vector, "code"), name)
        }
        // Bad inputs are a typed error with a message, not a crash.
        let bad = expect(VectorError.self) {
            try vectorCode(issuerSecretHex: "zz", epoch: 1, prefix: 28, stepSecs: 60, slot: 1, seedHex: "00", unixTime: 0, counter: 0)
        }
        XCTAssertTrue(bad?.localizedDescription.hasPrefix("invalid vector input: ") ?? false, "\(String(describing: bad))")
    }

    func testMalformedCodesThrowTypedErrorsThatReadAsTheRustMessage() {
        let short = expect(CodeError.self) { try parseCode(text: "2816 7565 2589 99210") }
        guard case .WrongLength(let found)? = short else { return XCTFail("\(String(describing: short))") }
        XCTAssertEqual(found, 17)
        let message = "a payment code has 18 digits, this has 17"
        XCTAssertEqual(short?.localizedDescription, message)
        XCTAssertEqual(short?.errorDescription, message)
        XCTAssertEqual(short.map { "\($0)" }, message)
        XCTAssertEqual(short.map { String(reflecting: $0) }, message)
        // Seen as any Error, as an app's catch block sees it.
        let anyError: any Error = CodeError.WrongLength(found: 5)
        XCTAssertEqual(anyError.localizedDescription, "a payment code has 18 digits, this has 5")

        let letter = expect(CodeError.self) { try parseCode(text: "28167565258999210a") }
        guard case .InvalidCharacter(let character, let position)? = letter else { return XCTFail("\(String(describing: letter))") }
        XCTAssertEqual(character, "a")
        XCTAssertEqual(position, 17)
        XCTAssertEqual(
            letter?.localizedDescription,
            "character \"a\" at position 17 is not an ASCII digit (only 0-9, spaces and dashes are allowed)"
        )

        // Full-width digits are digits to Unicode, not to a payment terminal.
        let wide = expect(CodeError.self) { try parseCode(text: "２81675652589992104") }
        guard case .InvalidCharacter(let wideCharacter, let widePosition)? = wide else { return XCTFail("\(String(describing: wide))") }
        XCTAssertEqual(wideCharacter, "２")
        XCTAssertEqual(widePosition, 0)

        let prefix = expect(CodeError.self) { try formatCode(text: "091675652589992104") }
        guard case .InvalidPrefix(let digits)? = prefix else { return XCTFail("\(String(describing: prefix))") }
        XCTAssertEqual(digits, 9)
        XCTAssertEqual(prefix?.localizedDescription, "prefix 09 is not a valid issuer prefix (10-99)")
    }

    /// Every error type of the facade: `localizedDescription` and `errorDescription` are the Rust
    /// `Display` text, and the typed fields are still there.
    func testEveryFacadeErrorReadsAsItsRustMessage() {
        let cases: [(any Error, String)] = [
            (WalletError.NotProvisioned, "this wallet is not provisioned: log in"),
            (WalletError.Locked, "the keystore is locked: unlock the device"),
            (WalletError.Store(reason: "disk on fire"), "disk on fire"),
            (WalletError.Offline, "no network connection"),
            (WalletError.Timeout, "the issuer did not answer in time"),
            (WalletError.Network(reason: "reset"), "network error: reset"),
            (WalletError.Rejected(status: 401, code: "invalid_login", reason: "unknown token"),
             "the issuer refused (401 invalid_login): unknown token"),
            (WalletError.BadResponse(reason: "no body"), "unexpected answer from the issuer: no body"),
            (WalletError.Bundle(reason: "bad seal"), "bad seal"),
            (WalletError.Entropy(reason: "no randomness"), "no randomness"),
            (WalletError.InvalidInput(reason: "empty token"), "invalid input: empty token"),
            (StoreError.Locked, "the keystore is locked: unlock the device and try again"),
            (StoreError.Unavailable(reason: "gone"), "the keystore is unavailable: gone"),
            (StoreError.Corrupt(reason: "bad tag"), "a stored secret is corrupt: bad tag"),
            (BackendError.Offline, "no network connection"),
            (BackendError.Timeout, "the issuer did not answer in time"),
            (BackendError.Transport(reason: "TLS handshake failed"), "network error: TLS handshake failed"),
            (CodeError.InvalidPrefix(prefix: 5), "prefix 05 is not a valid issuer prefix (10-99)"),
        ]
        for (error, message) in cases {
            XCTAssertEqual(error.localizedDescription, message)
            XCTAssertEqual((error as? any LocalizedError)?.errorDescription, message)
        }
        // The typed fields survive.
        if case .Rejected(let status, let code, _) = WalletError.Rejected(status: 403, code: "device_revoked", reason: "") {
            XCTAssertEqual(status, 403)
            XCTAssertEqual(code, "device_revoked")
        } else {
            XCTFail("not Rejected")
        }
    }
}
