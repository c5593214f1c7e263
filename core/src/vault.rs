//! Secret storage: the [`SecretStore`] trait, the OS-keystore implementation, and the wallet's
//! storage layout with crash-safe installation of credentials.
//!
//! Layout (names under a namespace `ns`, values are bytes):
//!
//! | name | value |
//! |---|---|
//! | `ns.device` | the 32-byte [`DeviceSecret`] |
//! | `ns.cred.a`, `ns.cred.b` | sealed credential bundles (`crate::bundle` format, as received), or for a bundle longer than [`CHUNK_BYTES`] a manifest |
//! | `ns.cred.a.0` … `ns.cred.a.6` (and `b`) | the chunks of a bundle whose `ns.cred.x` is a manifest |
//! | `ns.active` | one byte, `a` or `b`: which bundle is in force |
//! | `ns.state` | 24 bytes: clock offset (i64 ms), last shown step (u64), last shown counter (u8), pad |
//!
//! Bundles are stored sealed, exactly as the issuer sent them: the keystore holds ciphertext plus
//! the device key that opens it, and the format is versioned and authenticated. A new bundle is
//! written to the inactive slot, then `ns.active` is switched in one write, then the old slot is
//! deleted. A crash or failure at any point leaves the old or the new bundle in force, never
//! neither, and the slot not in force is deleted at the next start (tested with a store that
//! fails at every write and delete index).
//!
//! **Chunks.** A version-2 bundle (ADR 010) is ~87 KB by default and up to ~202 KB, more than
//! some keystores take in one entry (Linux keyutils `user` keys: 32,767 bytes). A bundle longer
//! than [`CHUNK_BYTES`] is written as chunks `ns.cred.x.0 …` first, then the manifest
//! `ns.cred.x` = `"PCK1" ‖ length u32 ‖ chunk count u8 ‖ SHA-256(bundle)` (41 bytes), all in
//! the inactive slot, before the one write that switches `ns.active`. Loading checks the
//! length and digest, so a torn or mixed set of chunks is refused as corrupt, never used.

use sha2::{Digest, Sha256};

use crate::device::DeviceSecret;

/// Largest value the vault writes to one keystore entry: below the 32,767-byte payload limit
/// of Linux keyutils `user` keys, the smallest limit of the stores we target.
pub const CHUNK_BYTES: usize = 32_000;
/// Most chunks of one bundle: `ceil(MAX_BUNDLE_LEN / CHUNK_BYTES)`.
pub const MAX_CHUNKS: usize = crate::bundle::MAX_BUNDLE_LEN.div_ceil(CHUNK_BYTES);
const MANIFEST_MAGIC: &[u8; 4] = b"PCK1";
const MANIFEST_LEN: usize = 4 + 4 + 1 + 32;

/// Why the secret store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The keystore is locked (device locked, user not authenticated). Try again when unlocked.
    #[error("the keystore is locked: unlock the device")]
    Locked,
    /// The keystore cannot be used now (no keystore, permission, quota, OS error).
    #[error("the keystore is unavailable: {0}")]
    Unavailable(String),
    /// No entry by that name.
    #[error("no such entry in the keystore")]
    NotFound,
    /// The entry exists but its contents are unusable.
    #[error("a keystore entry is corrupt: {0}")]
    Corrupt(String),
}

/// Named secret byte blobs in a platform keystore.
///
/// Implementations must make each `put` atomic (the old value or the new one, never a mix), may
/// be called from any thread, and must not call back into the wallet.
pub trait SecretStore: Send + Sync {
    /// Creates or replaces `name`.
    fn put(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Reads `name`; [`StoreError::NotFound`] if absent.
    fn get(&self, name: &str) -> Result<Vec<u8>, StoreError>;
    /// Deletes `name`; succeeds if it is already absent.
    fn delete(&self, name: &str) -> Result<(), StoreError>;
}

#[cfg(feature = "keyring")]
pub use os::KeyringStore;

#[cfg(feature = "keyring")]
mod os {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry, Error};

    use super::{SecretStore, StoreError};

    /// The platform keystore through the `keyring` ecosystem: the kernel keyutils store on
    /// Linux, the protected data-protection keychain ("when unlocked, this device only") on
    /// iOS/macOS, the credential manager on Windows. Entries live under the service `paycode`.
    pub struct KeyringStore {
        store: Arc<CredentialStore>,
        service: String,
    }

    impl std::fmt::Debug for KeyringStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("KeyringStore")
                .field("service", &self.service)
                .finish_non_exhaustive()
        }
    }

    fn map(error: Error) -> StoreError {
        match error {
            Error::NoEntry => StoreError::NotFound,
            Error::NoStorageAccess(e) => {
                let text = e.to_string();
                if text.to_lowercase().contains("lock") {
                    StoreError::Locked
                } else {
                    StoreError::Unavailable(text)
                }
            }
            Error::BadEncoding(_) | Error::BadDataFormat(..) => {
                StoreError::Corrupt("undecodable entry".into())
            }
            other => StoreError::Unavailable(other.to_string()),
        }
    }

    impl KeyringStore {
        /// Opens the platform keystore for `service` (e.g. the app id).
        pub fn new(service: &str) -> Result<Self, StoreError> {
            #[cfg(target_os = "linux")]
            let store: Arc<CredentialStore> = linux_keyutils_keyring_store::Store::new().map_err(map)?;
            #[cfg(any(target_os = "macos", target_os = "ios"))]
            let store: Arc<CredentialStore> =
                apple_native_keyring_store::protected::Store::new().map_err(map)?;
            #[cfg(windows)]
            let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new().map_err(map)?;
            #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "ios", windows)))]
            let store: Arc<CredentialStore> = {
                // Android and others: the app supplies its own SecretStore (Android Keystore).
                let _ = service;
                return Err(StoreError::Unavailable(
                    "no OS keystore in Rust on this platform: supply a SecretStore".into(),
                ));
            };
            Ok(Self {
                store,
                service: service.to_owned(),
            })
        }

        /// An entry for `name`, built on the calling thread.
        ///
        /// keyutils keyrings are per thread, and linux-keyutils-keyring-store 1.0.0 binds the
        /// first entry a thread builds to a session keyring it then replaces; building a
        /// throw-away entry first makes the real one usable (observed here in cargo test
        /// threads and under setsid). Entries are never kept across calls for the same reason.
        fn entry(&self, name: &str) -> Result<Entry, StoreError> {
            #[cfg(target_os = "linux")]
            let _ = self.store.build(&self.service, "warm-up", None);
            #[cfg(any(target_os = "macos", target_os = "ios"))]
            {
                let modifiers =
                    std::collections::HashMap::from([("access-policy", "when-unlocked-this-device-only")]);
                return self
                    .store
                    .build(&self.service, name, Some(&modifiers))
                    .map_err(map);
            }
            #[allow(unreachable_code)]
            self.store.build(&self.service, name, None).map_err(map)
        }
    }

    impl SecretStore for KeyringStore {
        fn put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
            self.entry(name)?.set_secret(value).map_err(map)
        }

        fn get(&self, name: &str) -> Result<Vec<u8>, StoreError> {
            self.entry(name)?.get_secret().map_err(map)
        }

        fn delete(&self, name: &str) -> Result<(), StoreError> {
            match self.entry(name)?.delete_credential() {
                Ok(()) | Err(Error::NoEntry) => Ok(()),
                Err(e) => Err(map(e)),
            }
        }
    }
}

/// The wallet's view of a store: names under a namespace and the install protocol.
pub(crate) struct Vault<'a> {
    pub store: &'a dyn SecretStore,
    pub ns: &'a str,
}

/// What the vault holds for a provisioned wallet.
pub(crate) struct Stored {
    pub device: DeviceSecret,
    pub bundle: zeroize::Zeroizing<Vec<u8>>,
}

/// Persisted non-secret wallet state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PersistedState {
    pub clock_offset_ms: i64,
    pub last_step: u64,
    pub last_counter: u8,
    pub has_last: bool,
}

impl PersistedState {
    fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.clock_offset_ms.to_be_bytes());
        out[8..16].copy_from_slice(&self.last_step.to_be_bytes());
        out[16] = self.last_counter;
        out[17] = u8::from(self.has_last);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 24] = bytes.try_into().ok()?;
        Some(Self {
            clock_offset_ms: i64::from_be_bytes(bytes[..8].try_into().ok()?),
            last_step: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
            last_counter: bytes[16],
            has_last: bytes[17] == 1,
        })
    }
}

impl Vault<'_> {
    fn name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.ns)
    }

    /// Loads the device secret and the bundle in force; `Ok(None)` if not provisioned.
    pub fn load(&self) -> Result<Option<Stored>, StoreError> {
        let active = match self.store.get(&self.name("active")) {
            Ok(v) => v,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (slot, inactive) = match active.as_slice() {
            b"a" => ("cred.a", "cred.b"),
            b"b" => ("cred.b", "cred.a"),
            _ => return Err(StoreError::Corrupt("active pointer".into())),
        };
        let device = zeroize::Zeroizing::new(self.store.get(&self.name("device"))?);
        let device: [u8; 32] = device
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt("device key length".into()))?;
        let bundle = self.read_bundle(slot)?;
        // The other slot is never in force here: a bundle an interrupted install wrote but did
        // not switch to, or the old one a failed delete left. Neither stays behind.
        self.delete_slot(inactive);
        Ok(Some(Stored {
            device: DeviceSecret::from_bytes(device),
            bundle,
        }))
    }

    /// Reads the bundle of slot `slot` (`cred.a` or `cred.b`), whole or from its chunks.
    fn read_bundle(&self, slot: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        let head = zeroize::Zeroizing::new(self.store.get(&self.name(slot))?);
        if !head.starts_with(MANIFEST_MAGIC) {
            return Ok(head);
        }
        let corrupt = || StoreError::Corrupt("credential chunks".into());
        if head.len() != MANIFEST_LEN {
            return Err(corrupt());
        }
        let total = u32::from_be_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
        let count = usize::from(head[8]);
        if count == 0 || count > MAX_CHUNKS || total > count * CHUNK_BYTES {
            return Err(corrupt());
        }
        let mut bundle = zeroize::Zeroizing::new(Vec::with_capacity(total));
        for i in 0..count {
            let chunk = zeroize::Zeroizing::new(self.store.get(&self.name(&format!("{slot}.{i}")))?);
            bundle.extend_from_slice(&chunk);
        }
        if bundle.len() != total || Sha256::digest(&bundle[..]).as_slice() != &head[9..] {
            return Err(corrupt());
        }
        Ok(bundle)
    }

    /// Deletes a slot's bundle and every chunk it may have; failures are left for later.
    fn delete_slot(&self, slot: &str) {
        let _ = self.store.delete(&self.name(slot));
        for i in 0..MAX_CHUNKS {
            let _ = self.store.delete(&self.name(&format!("{slot}.{i}")));
        }
    }

    /// Stores the device secret of a new provisioning.
    pub fn put_device(&self, device: &DeviceSecret) -> Result<(), StoreError> {
        self.store.put(&self.name("device"), device.expose_secret())
    }

    /// Installs `bundle` as the one in force: write the inactive slot, switch, clean up.
    pub fn install(&self, bundle: &[u8]) -> Result<(), StoreError> {
        let current = match self.store.get(&self.name("active")) {
            Ok(v) => v,
            Err(StoreError::NotFound) => Vec::new(),
            Err(e) => return Err(e),
        };
        let (target, old) = if current == b"a" {
            ("b", "cred.a")
        } else {
            ("a", "cred.b")
        };
        let slot = format!("cred.{target}");
        if bundle.len() <= CHUNK_BYTES {
            self.store.put(&self.name(&slot), bundle)?;
        } else {
            let count = bundle.len().div_ceil(CHUNK_BYTES);
            if count > MAX_CHUNKS {
                return Err(StoreError::Unavailable("credential bundle too large".into()));
            }
            for (i, chunk) in bundle.chunks(CHUNK_BYTES).enumerate() {
                self.store.put(&self.name(&format!("{slot}.{i}")), chunk)?;
            }
            let mut manifest = Vec::with_capacity(MANIFEST_LEN);
            manifest.extend_from_slice(MANIFEST_MAGIC);
            manifest.extend_from_slice(&(bundle.len() as u32).to_be_bytes());
            manifest.push(count as u8);
            manifest.extend_from_slice(&Sha256::digest(bundle));
            self.store.put(&self.name(&slot), &manifest)?;
        }
        self.store.put(&self.name("active"), target.as_bytes())?;
        // The old slot is no longer in force; if deleting it fails, the next start (`load`)
        // deletes it, or the next install overwrites it.
        self.delete_slot(old);
        Ok(())
    }

    pub fn load_state(&self) -> Result<PersistedState, StoreError> {
        match self.store.get(&self.name("state")) {
            Ok(bytes) => PersistedState::decode(&bytes).ok_or(StoreError::Corrupt("wallet state".into())),
            Err(StoreError::NotFound) => Ok(PersistedState::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save_state(&self, state: &PersistedState) -> Result<(), StoreError> {
        self.store.put(&self.name("state"), &state.encode())
    }

    /// Deletes every entry; tries all of them and reports the first failure.
    pub fn wipe(&self) -> Result<(), StoreError> {
        let mut first_error = None;
        // The pointer goes first: once it is gone the wallet is logged out even if a later
        // delete fails.
        for suffix in entry_suffixes() {
            if let Err(e) = self.store.delete(&self.name(&suffix)) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Every entry name a wallet with namespace `ns` may write (to check that logout leaves none).
pub fn entry_names(ns: &str) -> Vec<String> {
    entry_suffixes().iter().map(|s| format!("{ns}.{s}")).collect()
}

/// The names under a namespace, the pointer first.
fn entry_suffixes() -> Vec<String> {
    let mut names: Vec<String> = ["active", "cred.a", "cred.b"].map(String::from).to_vec();
    for slot in ["cred.a", "cred.b"] {
        names.extend((0..MAX_CHUNKS).map(|i| format!("{slot}.{i}")));
    }
    names.extend(["device", "state"].map(String::from));
    names
}

/// The bundle in force in `store` under namespace `ns`, reassembled from its chunks (for tests
/// and tools that inspect what a phone holds); `Ok(None)` if none is installed.
pub fn installed_bundle(store: &dyn SecretStore, ns: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let vault = Vault { store, ns };
    let active = match store.get(&vault.name("active")) {
        Ok(v) => v,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let slot = if active == b"a" { "cred.a" } else { "cred.b" };
    Ok(Some(vault.read_bundle(slot)?.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_state_round_trips() {
        let state = PersistedState {
            clock_offset_ms: -12_345,
            last_step: 29_921_760,
            last_counter: 7,
            has_last: true,
        };
        assert_eq!(PersistedState::decode(&state.encode()), Some(state));
        assert_eq!(PersistedState::decode(&[0; 23]), None);
    }
}
