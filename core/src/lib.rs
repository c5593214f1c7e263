//! # paycode-core
//!
//! Offline payment codes, both sides, in pure Rust: no FFI, no async runtime, no I/O of its own.
//!
//! * [`otp`] — RFC 4226/6238 one-time passwords and the payment code's OTP.
//! * [`code`] — the 18-digit layout: parsing and the 4-4-4-6 display.
//! * [`identity`] — FF1 encryption of (slot, counter) and the identity-key hierarchy.
//! * [`credential`] — the device side: an offline credential and the codes it makes.
//! * [`verifier`] — the issuer side: from 18 digits to a device, or a typed rejection.
//! * [`replay`] — "each code once, and nothing older".
//! * [`secret`] — key types that zeroize on drop and never print.
//! * [`clock`] — time through a trait, so tests drive it.
//! * [`device`], [`bundle`] — the device key, request signatures, and the sealed credential bundle.
//! * [`entropy`] — randomness through a trait.
//! * [`render`] — QR and Code 128 modules of a code, so apps need no barcode library.
//! * [`vault`], [`wallet`], [`backend`] — the phone side: keystore, payment-code session, network.
//!
//! The protocol is specified in `docs/PROTOCOL.md`, with vectors in `docs/test-vectors.json`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod bundle;
pub mod clock;
pub mod code;
pub mod credential;
pub mod device;
pub mod entropy;
pub mod identity;
pub mod otp;
pub mod render;
pub mod replay;
pub mod secret;
pub mod vault;
pub mod verifier;
pub mod wallet;
pub mod wire;

pub use clock::{Clock, ManualClock, SystemClock};
pub use code::{ParseError, PaymentCode, Prefix};
pub use credential::{
    Credential, CredentialError, GenerateError, LimitedUseCredential, OfflineCredential, TimeParams,
};
pub use identity::{IssuerKeyring, Protocol, Slot};
pub use replay::{CodeMark, GuardError, InMemoryReplayGuard, ReplayGuard};
pub use secret::{IdentityKey, IssuerSecret, SecretBytes, Seed};
pub use vault::{SecretStore, StoreError};
pub use verifier::{
    DeviceDirectory, DeviceProtocol, DeviceRecord, DeviceStatus, DirectoryError, InMemoryDirectory,
    Rejection, Verified, Verifier, VerifierConfig, VerifyError,
};
pub use wallet::{
    CodeListener, CodeSource, FallbackPolicy, InlineRunner, ShownCode, TaskRunner, ThreadRunner, Wallet,
    WalletConfig, WalletError, WalletEvent, WalletState,
};
