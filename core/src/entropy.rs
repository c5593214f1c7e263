//! Randomness comes in through [`Entropy`], so tests can make key generation deterministic.

/// The operating system's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system random source failed: {0}")]
pub struct EntropyError(pub String);

/// A cryptographically secure random source.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(buf).map_err(|e| EntropyError(e.to_string()))
    }
}

/// 32 random bytes.
pub(crate) fn random32(entropy: &dyn Entropy) -> Result<[u8; 32], EntropyError> {
    let mut out = [0u8; 32];
    entropy.fill(&mut out)?;
    Ok(out)
}
