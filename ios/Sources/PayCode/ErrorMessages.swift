import Foundation

// Readable errors. Every error of the facade exports its Rust `Display` text, which uniffi 0.32
// generates as a `description` property but without declaring `CustomStringConvertible`; its
// `LocalizedError.errorDescription` is `String(reflecting: self)`, which without the conformance
// prints the case and its fields ("CodeError.WrongLength(found: 5)"). Declaring the conformance
// makes `String(reflecting:)` — and so `errorDescription`, `localizedDescription` and "\(error)" —
// the Rust message, while the cases and their typed fields stay as generated.
// (The types are generated in the PayCodeBindings module of this same package: no `@retroactive`.)

extension CodeError: CustomStringConvertible {}
extension WalletError: CustomStringConvertible {}
extension StoreError: CustomStringConvertible {}
extension BackendError: CustomStringConvertible {}
