//! `SecretStore`: the platform keystore, implemented by the app (Android Keystore, Keychain),
//! adapted to the core's `vault::SecretStore`.

use std::sync::Arc;

use paycode_core::vault;

use crate::guard::contain;

/// Why the keystore could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum StoreError {
    /// The keystore is locked (device locked, or user authentication needed): try again after
    /// the user unlocks the device.
    #[error("the keystore is locked: unlock the device and try again")]
    Locked,
    /// The keystore failed or is missing.
    #[error("the keystore is unavailable: {reason}")]
    Unavailable {
        /// What the platform said.
        reason: String,
    },
    /// A stored value cannot be read back (e.g. its key was invalidated).
    #[error("a stored secret is corrupt: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StoreError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        StoreError::Unavailable {
            reason: format!(
                "the app's SecretStore threw an unexpected exception: {}",
                e.reason
            ),
        }
    }
}

/// Named secret blobs in the platform keystore. Values are secrets (the device key, the sealed
/// credential): encrypt them at rest, never log them, and overwrite copies when done.
///
/// Called from any thread (the caller's or a wallet worker), never while the wallet holds its
/// lock; implementations must be thread-safe and must not call into the wallet.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `name`, replacing any previous value.
    fn put(&self, name: String, value: Vec<u8>) -> Result<(), StoreError>;
    /// The value under `name`, or `None` if there is none.
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes `name`; succeeds if it was absent.
    fn delete(&self, name: String) -> Result<(), StoreError>;
}

impl From<StoreError> for vault::StoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Locked => vault::StoreError::Locked,
            StoreError::Unavailable { reason } => vault::StoreError::Unavailable(reason),
            StoreError::Corrupt { reason } => vault::StoreError::Corrupt(reason),
        }
    }
}

/// The app's store seen as the core's.
pub(crate) struct StoreAdapter(pub(crate) Arc<dyn SecretStore>);

fn panicked() -> vault::StoreError {
    vault::StoreError::Unavailable("the SecretStore implementation panicked".to_owned())
}

impl vault::SecretStore for StoreAdapter {
    fn put(&self, name: &str, value: &[u8]) -> Result<(), vault::StoreError> {
        contain(
            "SecretStore.put",
            || Ok(self.0.put(name.to_owned(), value.to_vec())?),
            || Err(panicked()),
        )
    }

    fn get(&self, name: &str) -> Result<Vec<u8>, vault::StoreError> {
        contain(
            "SecretStore.get",
            || self.0.get(name.to_owned())?.ok_or(vault::StoreError::NotFound),
            || Err(panicked()),
        )
    }

    fn delete(&self, name: &str) -> Result<(), vault::StoreError> {
        contain(
            "SecretStore.delete",
            || Ok(self.0.delete(name.to_owned())?),
            || Err(panicked()),
        )
    }
}
