// The generated API (Wallet, PaymentCodeState, CodeError…) is part of `PayCode`: apps write
// `import PayCode` only. It lives in its own target because it must compile in Swift 5 mode
// (docs/adr/009-swift-package-and-readable-errors.md).
@_exported import PayCodeBindings
